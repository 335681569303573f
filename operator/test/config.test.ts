import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DEFAULT_ACCESS_RULES, EgressConfig, ValidationError } from '@corecast/api';
import { configPathFromArgs, DEFAULT_DENIED_CIDRS, loadConfig, parseConfig, publicBaseUrl, routeKind } from '../src/config.ts';

const images = { ffmpeg: 'registry.test/ffmpeg:1', egress: 'registry.test/egress:1' };
const id = { name: 'op-0', namespace: 'corecast-system' };

describe('operator config', () => {
  test('a minimal file gets every default', () => {
    const c = parseConfig({ images }, id);
    assert.deepEqual(c.namespaces, []);
    assert.equal(c.workers, 4);
    assert.equal(c.images.pullPolicy, 'IfNotPresent');
    assert.deepEqual(c.ingress, { enabled: true, className: '', host: '', tlsSecretName: '', annotations: {} });
    assert.deepEqual(c.gateway, { enabled: false, parentRefs: [], annotations: {} });
    assert.equal(routeKind(c), 'ingress');
    assert.deepEqual(c.egress.auth, { mode: 'none' });
    assert.equal(c.egress.maxViewersPerPod, 100);
    assert.deepEqual(c.egress.resources, { requests: { cpu: '100m', memory: '96Mi' }, limits: { memory: '512Mi' } });
    assert.deepEqual(c.ffmpeg.access, {
      input: { allow: [...DEFAULT_ACCESS_RULES.input.allow], block: [] },
      output: { allow: [...DEFAULT_ACCESS_RULES.output.allow], block: [] },
    });
    assert.deepEqual(c.ffmpeg.networkPolicy, { enabled: true, deniedCidrs: [...DEFAULT_DENIED_CIDRS], egress: [] });
    assert.equal(c.leaderElection.enabled, false);
    assert.equal(c.leaderElection.leaseDurationSeconds, 15);
    assert.equal(c.leaderElection.renewDeadlineSeconds, 10);
    assert.equal(c.leaderElection.retryPeriodSeconds, 2);
    assert.equal(c.metrics.port, 8080);
    assert.equal(c.health.port, 8081);
    assert.deepEqual(c.pods, { runAsUser: 65532, runAsGroup: 65532 });
  });

  test('the egress part makes a valid egress pod configuration', () => {
    const c = parseConfig(
      {
        images,
        egress: {
          auth: { mode: 'hs256' },
          jwtSecretRef: { name: 'corecast-auth' },
          ice: {
            udpPort: 31000,
            servers: [{ urls: ['turn:turn.test:3478'], auth: { type: 'ephemeral', secretEnv: 'TURN_SECRET' } }],
          },
          secretEnv: [{ name: 'TURN_SECRET', secretName: 'turn', key: 'secret' }],
        },
      },
      id,
    );
    assert.equal(c.egress.jwtSecretRef?.key, 'secret');
    const parsed = EgressConfig.safeParse({ namespace: 'ns', streams: [{ processId: 'demo' }], auth: c.egress.auth, ice: c.egress.ice });
    assert.ok(parsed.success, JSON.stringify(parsed.error?.issues));
  });

  test('leader election takes the Lease namespace from POD_NAMESPACE', () => {
    const c = parseConfig({ images, leaderElection: { enabled: true } }, id);
    assert.equal(c.leaderElection.leaseNamespace, 'corecast-system');
    assert.equal(c.leaderElection.leaseName, 'corecast-operator');
  });

  const bad: [string, unknown, string][] = [
    ['images missing', {}, 'images: Invalid input: expected object, received undefined'],
    ['an unknown key (a typo)', { images, worker: 2 }, 'Unrecognized key: "worker"'],
    ['workers out of range', { images, workers: 0 }, 'workers: Too small: expected number to be >=1'],
    ['a bad namespace', { images, namespaces: ['Team_A'] }, 'namespaces[0]: must be a namespace name (a DNS-1123 label)'],
    [
      'a bad image',
      { images: { ...images, ffmpeg: 'has space' } },
      'images.ffmpeg: must be an image reference such as ghcr.io/corecast/ffmpeg:1.0',
    ],
    [
      'a bad access pattern',
      { images, ffmpeg: { access: { input: { block: ['('] } } } },
      'ffmpeg.access.input.block[0]: invalid regular expression',
    ],
    ['hs256 without a secret', { images, egress: { auth: { mode: 'hs256' } } }, 'egress.jwtSecretRef: required when auth.mode is hs256'],
    [
      'a TURN credential nobody provides',
      {
        images,
        egress: { ice: { servers: [{ urls: ['turn:t.test'], auth: { type: 'password', username: 'u', credentialEnv: 'TURN_PW' } }] } },
      },
      'egress.ice.servers[0].auth.credentialEnv: no egress.secretEnv entry provides TURN_PW',
    ],
    [
      'the retired ICE port range (every viewer shares ice.udpPort)',
      { images, egress: { ice: { portRange: { min: 50000, max: 50099 } } } },
      'egress.ice.portRange: is no longer used: every viewer of an egress pod shares one UDP port (udpPort, default 8189); remove it',
    ],
    [
      'the ICE port on an RTP port',
      { images, egress: { ice: { udpPort: 5006 } } },
      'egress.ice.udpPort: must differ from the RTP ports 5004 and 5006',
    ],
    [
      'the ICE-TCP port on the metrics port',
      { images, egress: { ice: { tcpPort: 8081 } } },
      'egress.ice.tcpPort: must differ from the HTTP port 8080 and the metrics port 8081',
    ],
    [
      'two media modes',
      { images, egress: { hostNetwork: true, nodePort: { enabled: true } } },
      'egress.nodePort.enabled: cannot be combined with hostNetwork',
    ],
    [
      'loopback candidates in a pod (candidate addresses)',
      { images, egress: { ice: { allowLoopbackCandidates: true } } },
      'egress.ice.allowLoopbackCandidates: is for tests and the local demo; an egress pod drops loopback candidates',
    ],
    [
      'renew deadline not below the lease',
      { images, leaderElection: { leaseDurationSeconds: 10, renewDeadlineSeconds: 10 } },
      'leaderElection.renewDeadlineSeconds: must be less than leaseDurationSeconds',
    ],
    ['a bad public URL', { images, publicBaseUrl: 'ftp://x' }, 'publicBaseUrl: must be an http(s) URL such as https://stream.example.com'],
    ['a bad ingress host', { images, ingress: { host: 'Not A Host' } }, 'ingress.host: must be a DNS host name'],
    [
      'gateway mode without a Gateway',
      { images, gateway: { enabled: true } },
      'gateway.parentRefs: needs at least one Gateway ({name, namespace}) when gateway.enabled is true',
    ],
    [
      'a Gateway without a name',
      { images, gateway: { enabled: true, parentRefs: [{ namespace: 'gateways' }] } },
      'gateway.parentRefs[0].name: Invalid input: expected string, received undefined',
    ],
    [
      'a Gateway name that is no object name',
      { images, gateway: { enabled: true, parentRefs: [{ name: 'Public GW' }] } },
      'gateway.parentRefs[0].name: must be an object name (a DNS-1123 subdomain)',
    ],
    [
      'a Gateway namespace that is no namespace name',
      { images, gateway: { enabled: true, parentRefs: [{ name: 'public', namespace: 'Gateways' }] } },
      'gateway.parentRefs[0].namespace: must be a namespace name (a DNS-1123 label)',
    ],
    [
      'a listener name that is none',
      { images, gateway: { enabled: true, parentRefs: [{ name: 'public', sectionName: 'HTTP_80' }] } },
      'gateway.parentRefs[0].sectionName: must be a listener name (a DNS-1123 subdomain)',
    ],
    [
      'a listener port out of range',
      { images, gateway: { enabled: true, parentRefs: [{ name: 'public', port: 0 }] } },
      'gateway.parentRefs[0].port: Too small: expected number to be >=1',
    ],
    [
      'a misspelt parentRef key',
      { images, gateway: { enabled: true, parentRefs: [{ name: 'public', section: 'http' }] } },
      'gateway.parentRefs[0]: Unrecognized key: "section"',
    ],
    [
      'one Gateway twice without listeners',
      {
        images,
        gateway: {
          enabled: true,
          parentRefs: [
            { name: 'public', namespace: 'gw' },
            { name: 'public', namespace: 'gw', port: 443 },
          ],
        },
      },
      'gateway.parentRefs[0].sectionName: required: parentRefs[1] names the same Gateway, so each reference must pick a listener',
    ],
    [
      'one Gateway twice, only one listener named',
      { images, gateway: { enabled: true, parentRefs: [{ name: 'public', sectionName: 'http' }, { name: 'public' }] } },
      'gateway.parentRefs[1].sectionName: required: parentRefs[0] names the same Gateway',
    ],
    [
      'one listener twice',
      {
        images,
        gateway: {
          enabled: true,
          parentRefs: [
            { name: 'public', sectionName: 'http' },
            { name: 'public', sectionName: 'http', port: 80 },
          ],
        },
      },
      'gateway.parentRefs[1].sectionName: repeats parentRefs[0] (the same Gateway and listener)',
    ],
    [
      'an unknown gateway key',
      { images, gateway: { enabled: true, parentRef: [{ name: 'public' }] } },
      'gateway: Unrecognized key: "parentRef"',
    ],
    [
      'a bad quantity',
      { images, egress: { resources: { limits: { memory: '1 GB' } } } },
      'egress.resources.limits.memory: must be a Kubernetes quantity',
    ],
  ];
  for (const [name, value, message] of bad) {
    test(`rejects ${name}, naming the field`, () => {
      assert.throws(
        () => parseConfig(value, id),
        (err: unknown) => err instanceof ValidationError && err.message.includes(message),
      );
    });
  }

  test('leader election without a namespace anywhere names the field', () => {
    assert.throws(
      () => parseConfig({ images, leaderElection: { enabled: true } }, { name: 'x', namespace: undefined }),
      /leaderElection\.leaseNamespace: required when leaderElection\.enabled \(or set POD_NAMESPACE\)/,
    );
  });

  test('loadConfig reads YAML and names the file in errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'corecast-config-'));
    const good = join(dir, 'good.yaml');
    writeFileSync(good, 'images:\n  ffmpeg: a/ffmpeg:1\n  egress: a/egress:1\nworkers: 8\n');
    assert.equal(loadConfig(good, id).workers, 8);
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'images: [unclosed\n');
    assert.throws(() => loadConfig(broken, id), new RegExp(`config file ${broken} is not valid YAML`));
    const invalid = join(dir, 'invalid.yaml');
    writeFileSync(invalid, 'images: {ffmpeg: a/f:1, egress: a/e:1}\nworkers: many\n');
    assert.throws(
      () => loadConfig(invalid, id),
      new RegExp(`config file ${invalid} is invalid: workers: Invalid input: expected number, received string`),
    );
    assert.throws(() => loadConfig(join(dir, 'missing.yaml'), id), /cannot read the config file/);
  });

  test('--config is the only argument', () => {
    assert.equal(configPathFromArgs(['--config', '/etc/c.yaml']), '/etc/c.yaml');
    assert.equal(configPathFromArgs(['--config=/etc/c.yaml']), '/etc/c.yaml');
    assert.throws(() => configPathFromArgs([]), /missing --config <path>/);
    assert.throws(() => configPathFromArgs(['--config']), /--config needs a path/);
    assert.throws(() => configPathFromArgs(['--verbose']), /unknown argument "--verbose"/);
  });

  test('gateway mode: parentRefs as given, and gateway.enabled wins over ingress.enabled', () => {
    const refs = [
      { name: 'public', namespace: 'gateways', sectionName: 'http' },
      { name: 'public', namespace: 'gateways', sectionName: 'https', port: 443 },
      { name: 'public' }, // the same name in each Process's own namespace is another Gateway
    ];
    const c = parseConfig({ images, gateway: { enabled: true, parentRefs: refs } }, id);
    assert.deepEqual(c.gateway.parentRefs, refs);
    assert.equal(routeKind(c), 'gateway');
    assert.equal(
      routeKind(parseConfig({ images, ingress: { enabled: false }, gateway: { enabled: true, parentRefs: refs } }, id)),
      'gateway',
    );
    assert.equal(routeKind(parseConfig({ images, ingress: { enabled: false } }, id)), undefined);
    // parentRefs may be given while gateway mode is off (they are checked all the same).
    assert.equal(routeKind(parseConfig({ images, gateway: { parentRefs: refs } }, id)), 'ingress');
  });

  test('status URLs come from publicBaseUrl, else the ingress host', () => {
    assert.equal(publicBaseUrl(parseConfig({ images, publicBaseUrl: 'https://play.test/' }, id)), 'https://play.test');
    assert.equal(publicBaseUrl(parseConfig({ images, ingress: { host: 'stream.test' } }, id)), 'http://stream.test');
    assert.equal(publicBaseUrl(parseConfig({ images, ingress: { host: 'stream.test', tlsSecretName: 'tls' } }, id)), 'https://stream.test');
    assert.equal(publicBaseUrl(parseConfig({ images }, id)), undefined);
    // The same with an HTTPRoute instead of an Ingress; no route at all, no URL.
    const gateway = { enabled: true, parentRefs: [{ name: 'gw' }] };
    assert.equal(publicBaseUrl(parseConfig({ images, ingress: { host: 'stream.test' }, gateway }, id)), 'http://stream.test');
    assert.equal(
      publicBaseUrl(parseConfig({ images, ingress: { enabled: false, host: 'stream.test' }, gateway }, id)),
      'http://stream.test',
    );
    assert.equal(publicBaseUrl(parseConfig({ images, ingress: { enabled: false, host: 'stream.test' } }, id)), undefined);
    assert.equal(publicBaseUrl(parseConfig({ images, publicBaseUrl: 'https://play.test', gateway }, id)), 'https://play.test');
  });
});
