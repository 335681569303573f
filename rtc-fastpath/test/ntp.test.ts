import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ntpFromUnixMs, ntpNow } from '../src/ntp.ts';

describe('NTP timestamps (RFC 3550 §4)', () => {
  it('counts seconds from 1900 in the high word and the fraction of a second in the low word', () => {
    assert.equal(ntpFromUnixMs(0), 2_208_988_800n << 32n);
    assert.equal(ntpFromUnixMs(1500), (2_208_988_801n << 32n) | 0x80000000n);
    assert.equal(ntpFromUnixMs(250) & 0xffffffffn, 0x40000000n);
  });

  it('reads the wall clock', () => {
    const seconds = Number(ntpNow() >> 32n) - 2_208_988_800;
    assert.ok(Math.abs(seconds - Date.now() / 1000) < 2);
  });
});
