import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EgressIce } from '@corecast/api';
import { advertisedOnly, advertisePorts, peerConfig } from '../src/whep/peer.ts';

describe('werift configuration', () => {
  it('maps the ICE settings to werift options', () => {
    const ice = EgressIce.parse({
      portRange: { min: 50000, max: 50100 },
      advertise: { addresses: ['203.0.113.7'], only: true },
      tcp: true,
      gatherTimeoutSeconds: 2,
    });
    const settings = { ice, advertised: ['203.0.113.7'], iceServers: [{ urls: ['turn:t.example.org'], username: 'u', credential: 'p' }] };
    const c = peerConfig(settings, '640c1f', () => {});
    assert.deepEqual(c.icePortRange, [50000, 50100]);
    assert.deepEqual(c.iceAdditionalHostAddresses, ['203.0.113.7']);
    assert.equal(c.iceUseTcp, true);
    assert.equal(c.iceUseIpv6, false);
    assert.equal(c.iceLite, false);
    assert.equal(c.iceTransportPolicy, 'all');
    assert.equal(c.iceStunGatherTimeout, 1.2);
    assert.deepEqual(c.iceServers, [{ urls: ['turn:t.example.org'], username: 'u', credential: 'p' }]);
    assert.match(c.codecs!.video![0]!.parameters!, /profile-level-id=640c1f/);
    const keep = advertisedOnly(settings)!;
    assert.equal(keep({ type: 'host', address: '203.0.113.7' }), true);
    assert.equal(keep({ type: 'host', address: '10.0.0.5' }), false);
    assert.equal(keep({ type: 'relay', address: '192.0.2.50' }), true);
  });
});

describe('advertised ports', () => {
  const answer = [
    'a=candidate:1 1 udp 2130706431 10.0.0.7 8189 typ host',
    'a=candidate:2 1 tcp 1671430143 10.0.0.7 8189 typ host tcptype passive',
    'a=candidate:3 1 udp 1694498815 203.0.113.9 40000 typ srflx raddr 10.0.0.7 rport 8189',
    '',
  ].join('\r\n');

  it('writes the advertised UDP and TCP ports into host candidates only', () => {
    const out = advertisePorts(answer, { advertisedPort: 31000, advertisedTcpPort: 31001 });
    assert.match(out, /^a=candidate:1 1 udp 2130706431 10\.0\.0\.7 31000 typ host$/m);
    assert.match(out, /^a=candidate:2 1 tcp 1671430143 10\.0\.0\.7 31001 typ host tcptype passive$/m);
    assert.match(out, /^a=candidate:3 1 udp 1694498815 203\.0\.113\.9 40000 typ srflx/m);
  });

  it('leaves the answer as it is without advertised ports, and TCP alone when only UDP is mapped', () => {
    assert.equal(advertisePorts(answer, {}), answer);
    const out = advertisePorts(answer, { advertisedPort: 31000 });
    assert.match(out, /10\.0\.0\.7 8189 typ host tcptype passive/);
    assert.match(out, /10\.0\.0\.7 31000 typ host\r\n/);
  });
});
