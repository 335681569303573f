/**
 * Kubernetes objects as the operator holds them: plain JSON, the way the API server sends them.
 *
 * client-node's model classes type timestamps as `Date`, but watch events carry them as strings
 * and the operator's caches keep JSON (lists are normalised to JSON too, see informer.ts), so
 * every type here is the client-node model with `Date` turned into `string`.
 */
import type {
  V1Ingress,
  V1NetworkPolicy,
  V1NetworkPolicyIngressRule,
  V1NetworkPolicyPeer,
  V1NetworkPolicySpec,
  V1ObjectMeta,
  V1Pod,
  V1Service,
} from '@kubernetes/client-node';

/** A client-node model as JSON: `Date` (and V1MicroTime) fields are RFC 3339 strings. */
export type Jsonify<T> = T extends Date
  ? string
  : T extends readonly (infer U)[]
    ? Jsonify<U>[]
    : T extends object
      ? { [K in keyof T]: Jsonify<T[K]> }
      : T;

/** Object metadata as JSON. */
export type ObjectMeta = Jsonify<V1ObjectMeta>;

/** Any namespaced object with metadata. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

/** A Pod as JSON. */
export type Pod = Jsonify<V1Pod>;
/** A Service as JSON. */
export type Service = Jsonify<V1Service>;
/** An Ingress as JSON. */
export type Ingress = Jsonify<V1Ingress>;
/** A NetworkPolicy ingress rule as JSON (the model class names `from` `_from`; the wire name is `from`). */
export type NetworkPolicyIngressRule = Omit<Jsonify<V1NetworkPolicyIngressRule>, '_from'> & {
  from?: Jsonify<V1NetworkPolicyPeer>[];
};
/** A NetworkPolicy as JSON. */
export type NetworkPolicy = Omit<Jsonify<V1NetworkPolicy>, 'spec'> & {
  spec?: Omit<Jsonify<V1NetworkPolicySpec>, 'ingress'> & { ingress?: NetworkPolicyIngressRule[] };
};

/** A Gateway API ParentReference: the Gateway (or one of its listeners) a route attaches to. */
export interface ParentReference {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  sectionName?: string;
  port?: number;
}

/** A Gateway API HTTPRoute (gateway.networking.k8s.io/v1) as JSON: the fields the operator writes and reads. */
export interface HTTPRoute extends KubeObject {
  spec?: {
    parentRefs?: ParentReference[];
    hostnames?: string[];
    rules?: {
      matches?: { path?: { type?: 'Exact' | 'PathPrefix' | 'RegularExpression'; value?: string } }[];
      backendRefs?: { group?: string; kind?: string; name: string; namespace?: string; port?: number; weight?: number }[];
    }[];
  };
  status?: {
    parents?: {
      parentRef: ParentReference;
      controllerName: string;
      conditions?: { type: string; status: string; reason?: string; message?: string }[];
    }[];
  };
}

/** A read-only view: what a cache hands out (clone before changing anything). */
export type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

/** `namespace/name`, the only thing the work queue carries. */
export function objectKey(obj: { metadata?: { namespace?: string; name?: string } }): string {
  const m = obj.metadata ?? {};
  return m.namespace ? `${m.namespace}/${m.name ?? ''}` : (m.name ?? '');
}

/** Splits `namespace/name`. */
export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: '', name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
