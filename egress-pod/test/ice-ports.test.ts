import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { describe, test } from 'node:test';
import { EgressIce } from '@corecast/api';
import { gatheredAddresses, portCapacity } from '../src/ice-ports.ts';

const v4 = (address: string, internal = false): NetworkInterfaceInfo => ({
  address,
  netmask: '255.255.255.0',
  family: 'IPv4',
  mac: '00:00:00:00:00:00',
  internal,
  cidr: null,
});
const v6 = (address: string): NetworkInterfaceInfo => ({
  address,
  netmask: 'ffff:ffff:ffff:ffff::',
  family: 'IPv6',
  mac: '00:00:00:00:00:00',
  internal: false,
  cidr: null,
  scopeid: 0,
});

/** A node on the host network: its address, a CNI bridge, pod veths, a VPN tunnel, loopback. */
const node = {
  lo: [v4('127.0.0.1', true)],
  eth0: [v4('10.0.0.5'), v6('2001:db8::5'), v6('fe80::1')],
  cni0: [v4('10.244.0.1')],
  veth1234: [v4('169.254.1.1')],
  tun0: [v4('10.8.0.1')],
  eth1: [v4('169.254.10.10')],
};
/** A pod on the pod network. */
const pod = { lo: [v4('127.0.0.1', true)], eth0: [v4('10.244.1.7')] };
const ice = (over: Record<string, unknown>) => EgressIce.parse({ portRange: { min: 50000, max: 50099 }, ...over });

describe('ICE ports per viewer (werift binds one per address)', () => {
  test('the addresses werift gathers: no loopback, link-local, veth or tunnel; IPv6 only when asked', () => {
    assert.deepEqual(gatheredAddresses(false, node), ['10.0.0.5', '10.244.0.1']);
    assert.deepEqual(gatheredAddresses(true, node), ['10.0.0.5', '2001:db8::5', '10.244.0.1']);
  });

  test('host networking advertising the node IP: one per node address (the advertised one is among them)', () => {
    const c = portCapacity(ice({ advertise: { addressEnv: ['NODE_IP'], only: true } }), ['10.0.0.5'], node);
    assert.deepEqual(c, { ports: 100, perViewer: 2, addresses: ['10.0.0.5', '10.244.0.1'], viewers: 50 });
  });

  test('a pod behind a load balancer (or kind with 127.0.0.1): its own address plus the advertised one', () => {
    assert.equal(portCapacity(ice({}), ['203.0.113.7'], pod)?.perViewer, 2);
    assert.equal(portCapacity(ice({}), ['203.0.113.7', '203.0.113.8', '203.0.113.9'], pod)?.viewers, 25);
    assert.equal(portCapacity(ice({ portRange: { min: 50000, max: 50009 } }), ['127.0.0.1'], pod)?.viewers, 5);
  });

  test('a TURN server takes one more (not with ICE-lite); relay-only media takes only that one', () => {
    const servers = [
      { urls: ['turn:turn.example.com:3478'], auth: { type: 'ephemeral', secretEnv: 'S' } },
      { urls: ['stun:stun.example.com:3478'] },
    ];
    assert.equal(portCapacity(ice({ servers }), [], pod)?.perViewer, 2);
    assert.equal(portCapacity(ice({ servers, lite: true }), [], pod)?.perViewer, 1);
    assert.equal(portCapacity(ice({ servers, relayOnly: true }), [], pod)?.perViewer, 1);
    assert.equal(portCapacity(ice({ servers: [{ urls: ['stun:stun.example.com:3478'] }] }), [], pod)?.perViewer, 1);
  });

  test('no range, no cap; a range too small for one viewer, zero', () => {
    assert.equal(portCapacity(EgressIce.parse({}), [], node), undefined);
    assert.equal(portCapacity(ice({ portRange: { min: 50000, max: 50001 } }), ['203.0.113.7'], node)?.viewers, 0);
  });
});
