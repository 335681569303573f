/**
 * The work side-by-side.ts measures: what the benchmark creates, and where and how the
 * controller's children show up (the operator's by their Process label, kube-controller-manager's
 * by their owner reference).
 */
import type { AppsV1Api, BatchV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { process as processFixture, withWebrtc } from '../../api/test/fixtures/processes.ts';

export type Obj = { metadata?: { name?: string; labels?: Record<string, string>; ownerReferences?: { name: string }[] } };

/** One kind of work: what the benchmark creates and where the controller's children appear. */
export interface Work {
  readonly controller: 'operator' | 'kube-controller-manager';
  readonly what: string;
  readonly childPaths: (ns: string) => string[];
  readonly labelSelector?: string;
  /** The parent an added child belongs to. */
  readonly ownerOf: (child: Obj) => string | undefined;
  readonly create: (ns: string, name: string) => Promise<unknown>;
}

export const operatorWork = (webrtc: boolean, custom: CustomObjectsApi): Work => ({
  controller: 'operator',
  what: webrtc ? 'Process, WebRTC on' : 'Process, WebRTC off',
  childPaths: (ns) => [
    `/api/v1/namespaces/${ns}/pods`,
    `/api/v1/namespaces/${ns}/services`,
    `/apis/networking.k8s.io/v1/namespaces/${ns}/ingresses`,
    `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`,
  ],
  labelSelector: 'app.kubernetes.io/managed-by=corecast-operator',
  ownerOf: (child) => child.metadata?.labels?.['corecast.dev/process'],
  create: (namespace, name) =>
    custom.createNamespacedCustomObject({
      group: 'corecast.dev',
      version: 'v1alpha1',
      plural: 'processes',
      namespace,
      body: { ...(webrtc ? processFixture(name, withWebrtc()) : processFixture(name)), metadata: { name, namespace } },
    }),
});

const container = { name: 'c', image: 'registry.test/x:1' };
const ownerName = (child: Obj) => child.metadata?.ownerReferences?.[0]?.name;

export const jobWork = (batch: BatchV1Api): Work => ({
  controller: 'kube-controller-manager',
  what: 'Job',
  childPaths: (ns) => [`/api/v1/namespaces/${ns}/pods`],
  ownerOf: ownerName,
  create: (namespace, name) =>
    batch.createNamespacedJob({
      namespace,
      body: { metadata: { name }, spec: { template: { spec: { restartPolicy: 'Never', containers: [container] } } } },
    }),
});

export const statefulSetWork = (apps: AppsV1Api): Work => ({
  controller: 'kube-controller-manager',
  what: 'StatefulSet, 1 replica',
  childPaths: (ns) => [`/api/v1/namespaces/${ns}/pods`, `/apis/apps/v1/namespaces/${ns}/controllerrevisions`],
  ownerOf: ownerName,
  create: (namespace, name) =>
    apps.createNamespacedStatefulSet({
      namespace,
      body: {
        metadata: { name },
        spec: {
          replicas: 1,
          serviceName: name,
          selector: { matchLabels: { app: name } },
          template: { metadata: { labels: { app: name } }, spec: { containers: [container] } },
        },
      },
    }),
});
