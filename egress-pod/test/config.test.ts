import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EGRESS_CONFIG_ENV, EgressConfig, egressStreamFor, parseProcess } from '@corecast/api';
import { checkEmbedToken, signEmbedToken } from '../src/auth/embed.ts';
import { ephemeralTurnCredential, loadConfig, resolveConfig } from '../src/config.ts';
import { iceServerLinks } from '../src/whep/http.ts';

const stream = { streams: [{ processId: 'demo' }] };
const env = (config: unknown, more: Record<string, string> = {}) => ({ [EGRESS_CONFIG_ENV]: JSON.stringify(config), ...more });

describe('egress configuration', () => {
  it('fills in every default from a minimal document', () => {
    const { config, advertised } = loadConfig(env(stream));
    assert.deepEqual(config.streams[0], {
      processId: 'demo',
      video: { port: 5004, payloadType: 102 },
      audio: { port: 5006, payloadType: 111 },
      maxViewers: 8,
      sourceAddresses: [],
    });
    assert.equal(config.maxViewers, 200);
    assert.deepEqual(config.auth, { mode: 'none' });
    assert.equal(config.embed.enabled, false);
    assert.equal(config.ice.lite, false);
    assert.deepEqual(config.ice.servers, []);
    assert.deepEqual(advertised, []);
  });

  // Every distinct bad input, with the message a person reads (field path first).
  const bad: [string, unknown, Record<string, string>, string][] = [
    ['no streams', {}, {}, 'streams: Invalid input: expected array, received undefined'],
    ['an empty stream list', { streams: [] }, {}, 'streams: Too small: expected array to have >=1 items'],
    [
      'a process id that is no Process name',
      { streams: [{ processId: 'Demo' }] },
      {},
      'streams[0].processId: must be a Process name (a DNS-1035 label)',
    ],
    [
      'a port out of range',
      { streams: [{ processId: 'demo', video: { port: 70000 } }] },
      {},
      'streams[0].video.port: Too big: expected number to be <=65535',
    ],
    [
      'one port for both legs',
      { streams: [{ processId: 'demo', video: { port: 5000 }, audio: { port: 5000 } }] },
      {},
      'streams[0].audio.port: port 5000 is already used by streams[0].video',
    ],
    [
      'a duplicate process',
      { streams: [{ processId: 'demo' }, { processId: 'demo', video: { port: 1 }, audio: { port: 2 } }] },
      {},
      'streams[1].processId: duplicate processId',
    ],
    [
      'a static payload type',
      { streams: [{ processId: 'demo', audio: { payloadType: 5 } }] },
      {},
      'streams[0].audio.payloadType: Too small: expected number to be >=96',
    ],
    [
      'a bad source address',
      { streams: [{ processId: 'demo', sourceAddresses: ['nope'] }] },
      {},
      'streams[0].sourceAddresses[0]: must be an IP address or a CIDR block',
    ],
    [
      'an unknown auth mode',
      { ...stream, auth: { mode: 'rs256' } },
      {},
      "auth.mode: Invalid discriminator value. Expected 'none' | 'hs256' | 'jwks'",
    ],
    [
      'a JWKS URL that is not http(s)',
      { ...stream, namespace: 'ns', auth: { mode: 'jwks', jwksUrl: 'ftp://x' } },
      {},
      'auth.jwksUrl: Invalid URL',
    ],
    [
      'a JWKS URL over plain http (hole: a JWKS URL over plain http was accepted)',
      { ...stream, namespace: 'ns', auth: { mode: 'jwks', jwksUrl: 'http://keys.example/jwks.json' } },
      {},
      'auth.jwksUrl: must be https (keys fetched over http can be replaced on the way)',
    ],
    [
      'a JWKS URL over plain http on loopback unless allowLoopbackHttp is set',
      { ...stream, namespace: 'ns', auth: { mode: 'jwks', jwksUrl: 'http://127.0.0.1:9/jwks.json' } },
      {},
      'auth.jwksUrl: must be https (keys fetched over http can be replaced on the way)',
    ],
    [
      'allowLoopbackHttp with a JWKS URL that is not on loopback',
      { ...stream, namespace: 'ns', auth: { mode: 'jwks', jwksUrl: 'http://10.0.0.1/jwks.json', allowLoopbackHttp: true } },
      {},
      'auth.jwksUrl: must be https (allowLoopbackHttp allows http only to 127.0.0.0/8, ::1 or localhost)',
    ],
    [
      'an authenticating egress that does not know its namespace (hole: tokens did not name the namespace)',
      { ...stream, auth: { mode: 'hs256' } },
      { CORECAST_JWT_SECRET: 'x'.repeat(32) },
      'namespace: is required when auth.mode is not none or embed is enabled',
    ],
    [
      'embed URLs on an egress that does not know its namespace',
      { ...stream, embed: { enabled: true } },
      { CORECAST_EMBED_SECRET: 'x'.repeat(32) },
      'namespace: is required when auth.mode is not none or embed is enabled',
    ],
    [
      'a token lifetime cap below a minute',
      { ...stream, namespace: 'ns', auth: { mode: 'hs256', maxTokenLifetimeSeconds: 10 } },
      { CORECAST_JWT_SECRET: 'x'.repeat(32) },
      'auth.maxTokenLifetimeSeconds: Too small: expected number to be >=60',
    ],
    [
      'a short HS256 secret (hole: no minimum HS256 secret length)',
      { ...stream, namespace: 'ns', auth: { mode: 'hs256' } },
      { CORECAST_JWT_SECRET: 'x'.repeat(31) },
      'auth.mode: the secret in CORECAST_JWT_SECRET is 31 bytes; at least 32 are needed (e.g. openssl rand -base64 48)',
    ],
    [
      'a short embed secret',
      { ...stream, namespace: 'ns', embed: { enabled: true } },
      { CORECAST_EMBED_SECRET: 'short' },
      'embed.enabled: the secret in CORECAST_EMBED_SECRET is 5 bytes; at least 32 are needed (e.g. openssl rand -base64 48)',
    ],
    [
      'a media port past 65535',
      { ...stream, ice: { udpPort: 70000 } },
      {},
      'ice.udpPort: Too big: expected number to be <=65535',
    ],
    [
      'the media port on an RTP leg',
      { streams: [{ processId: 'demo', video: { port: 5004 }, audio: { port: 5006 } }], ice: { udpPort: 5004 } },
      {},
      'ice.udpPort: port 5004 is already used by streams[0].video',
    ],
    [
      'the ICE-TCP port on the HTTP port',
      { ...stream, ice: { tcpPort: 8080 } },
      {},
      'ice.tcpPort: must differ from http.port and metrics.port (8080)',
    ],
    [
      'an ICE-TCP port of 0',
      { ...stream, ice: { tcpPort: 0 } },
      {},
      'ice.tcpPort: Too small: expected number to be >=1',
    ],
    [
      'a one-port range',
      { ...stream, ice: { portRange: { min: 50000, max: 50000 } } },
      {},
      'ice.portRange: min must be below max (werift needs a range of at least two ports)',
    ],
    [
      'a bad advertised address',
      { ...stream, ice: { advertise: { addresses: ['1.2.3'] } } },
      {},
      'ice.advertise.addresses[0]: must be an IPv4 or IPv6 address',
    ],
    [
      'advertise.only with nothing to advertise',
      { ...stream, ice: { advertise: { only: true } } },
      {},
      'ice.advertise.only: needs at least one address or addressEnv',
    ],
    [
      'TURN without auth',
      { ...stream, ice: { servers: [{ urls: ['turn:t.example.org'] }] } },
      {},
      'ice.servers[0].auth: TURN servers need auth (password or ephemeral)',
    ],
    [
      'an ICE server URL of another scheme',
      { ...stream, ice: { servers: [{ urls: ['http://x'] }] } },
      {},
      'ice.servers[0].urls[0]: must be a stun:, stuns:, turn: or turns: URL',
    ],
    ['relayOnly without TURN', { ...stream, ice: { relayOnly: true } }, {}, 'ice.relayOnly: needs a TURN server in servers'],
    [
      'ICE-lite with ICE-TCP',
      { ...stream, ice: { lite: true, tcp: true } },
      {},
      'ice.lite: ICE-lite gathers host UDP candidates only; turn off relayOnly and tcp',
    ],
    ['a CORS origin that is no URL', { ...stream, cors: { allowOrigin: ['nope'] } }, {}, 'cors.allowOrigin[0]: Invalid URL'],
    [
      'HS256 without its secret',
      { ...stream, namespace: 'ns', auth: { mode: 'hs256' } },
      {},
      'auth.mode: needs the secret in environment variable CORECAST_JWT_SECRET, which is empty or not set',
    ],
    [
      'embed URLs without their secret',
      { ...stream, namespace: 'ns', embed: { enabled: true } },
      {},
      'embed.enabled: needs the secret in environment variable CORECAST_EMBED_SECRET, which is empty or not set',
    ],
    [
      'an address variable without an address',
      { ...stream, ice: { advertise: { addressEnv: ['NODE_IP'] } } },
      { NODE_IP: 'x' },
      'ice.advertise.addressEnv[0]: environment variable NODE_IP must hold an IP address, got "x"',
    ],
    [
      'a TURN password variable that is not set',
      {
        ...stream,
        ice: { servers: [{ urls: ['turn:t.example.org'], auth: { type: 'password', username: 'u', credentialEnv: 'TURN_PW' } }] },
      },
      {},
      'ice.servers[0].auth: needs environment variable TURN_PW, which is empty or not set',
    ],
  ];
  for (const [name, config, extra, message] of bad) {
    it(`refuses ${name}`, () =>
      assert.throws(() => loadConfig(env(config, extra)), { message: `${EGRESS_CONFIG_ENV} is invalid: ${message}` }));
  }
  it('accepts a JWKS URL over http on loopback only with allowLoopbackHttp (tests, a local key server)', () => {
    for (const host of ['127.0.0.1', '[::1]', 'localhost']) {
      const auth = { mode: 'jwks', jwksUrl: `http://${host}:8443/jwks.json`, allowLoopbackHttp: true };
      assert.equal(loadConfig(env({ ...stream, namespace: 'ns', auth })).config.auth.mode, 'jwks');
    }
    const https = { mode: 'jwks', jwksUrl: 'https://keys.example/jwks.json' };
    assert.deepEqual(loadConfig(env({ ...stream, namespace: 'ns', auth: https })).config.auth, {
      ...https,
      allowLoopbackHttp: false,
      algorithms: ['RS256', 'ES256'],
      processesClaim: 'corecast.dev/processes',
      clockToleranceSeconds: 5,
      maxTokenLifetimeSeconds: 86400,
    });
  });
  it('refuses a missing variable and text that is not JSON', () => {
    assert.throws(() => loadConfig({}), { message: `${EGRESS_CONFIG_ENV} is invalid: is not set; it must hold the JSON configuration` });
    assert.throws(() => loadConfig({ [EGRESS_CONFIG_ENV]: '{' }), /is invalid: is not JSON: /);
  });

  it('reads secrets and advertised addresses from the environment', () => {
    const r = loadConfig(
      env(
        {
          ...stream,
          namespace: 'ns',
          auth: { mode: 'hs256' },
          ice: { advertise: { addresses: ['203.0.113.7'], addressEnv: ['NODE_IP'] } },
        },
        { CORECAST_JWT_SECRET: 's3cret'.repeat(6), NODE_IP: '198.51.100.4' },
      ),
    );
    assert.equal(r.jwtSecret?.toString(), 's3cret'.repeat(6));
    assert.deepEqual(r.advertised, ['203.0.113.7', '198.51.100.4']);
  });

  it('mints ephemeral TURN credentials the way coturn checks them, and password ones as given', () => {
    const r = resolveConfig(
      {
        ...stream,
        ice: {
          servers: [
            { urls: ['stun:stun.example.org'] },
            { urls: ['turn:a.example.org?transport=udp'], auth: { type: 'password', username: 'u', credentialEnv: 'PW' } },
            { urls: ['turns:b.example.org'], auth: { type: 'ephemeral', secretEnv: 'SECRET', ttlSeconds: 3600 } },
          ],
        },
      },
      { PW: 'p"w', SECRET: 'north' },
    );
    const servers = r.iceServers(1000);
    assert.deepEqual(servers[1], { urls: ['turn:a.example.org?transport=udp'], username: 'u', credential: 'p"w' });
    // base64(HMAC-SHA1("north", "4600:corecast")), computed independently with openssl.
    assert.deepEqual(servers[2], { urls: ['turns:b.example.org'], ...ephemeralTurnCredential('north', 'corecast', 4600) });
    assert.equal(servers[2]!.username, '4600:corecast');
    assert.equal(servers[2]!.credential, 'V6g6CpnONqAYLBjAR9FdH+nZv10=');
    assert.deepEqual(iceServerLinks(servers), [
      '<stun:stun.example.org>; rel="ice-server"',
      '<turn:a.example.org?transport=udp>; rel="ice-server"; username="u"; credential="p\\"w"; credential-type="password"',
      `<turns:b.example.org>; rel="ice-server"; username="4600:corecast"; credential="${servers[2]!.credential}"; credential-type="password"`,
    ]);
  });

  it('derives a stream entry from a Process', () => {
    const p = parseProcess({
      apiVersion: 'corecast.dev/v1alpha1',
      kind: 'Process',
      metadata: { name: 'cam' },
      spec: {
        input: [{ id: 'i', address: 'x' }],
        output: [{ id: 'o', address: 'y' }],
        webrtc: { enabled: true, maxViewers: 3, videoPayloadType: 100 },
      },
    });
    const entry = EgressConfig.parse({ streams: [egressStreamFor({ name: p.metadata.name, spec: p.spec })] }).streams[0];
    assert.deepEqual(entry, {
      processId: 'cam',
      video: { port: 5004, payloadType: 100 },
      audio: { port: 5006, payloadType: 111 },
      maxViewers: 3,
      sourceAddresses: [],
    });
  });
});

describe('embed tokens', () => {
  const secret = Buffer.from('embed-secret');
  const token = signEmbedToken(secret, 'ns-a', 'demo', 2000);
  it('accepts a token for its process before it expires', () =>
    assert.equal(checkEmbedToken(secret, token, 'ns-a', 'demo', 1000, 86400), undefined));
  const refused: [string, string, string, string, number, number, string][] = [
    ['another process', token, 'ns-a', 'other', 1000, 86400, 'embed token signature does not match this process'],
    [
      'the same process name in another namespace (hole: embed signatures did not name the namespace)',
      token,
      'ns-b',
      'demo',
      1000,
      86400,
      'embed token signature does not match this process',
    ],
    ['an expired token', token, 'ns-a', 'demo', 2000, 86400, 'embed token expired'],
    ['a token living longer than allowed', token, 'ns-a', 'demo', 1000, 500, 'embed token lives longer than the allowed 500 s'],
    ['a changed expiry', token.replace(/^2000/, '2001'), 'ns-a', 'demo', 1000, 86400, 'embed token signature does not match this process'],
    ['garbage', 'abc', 'ns-a', 'demo', 1000, 86400, 'malformed embed token'],
  ];
  for (const [name, t, ns, id, now, ttl, why] of refused)
    it(`refuses ${name}`, () => assert.equal(checkEmbedToken(secret, t, ns, id, now, ttl), why));
});
