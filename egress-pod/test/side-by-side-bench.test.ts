/**
 * The pure parts of the side-by-side benchmark (bench/side-by-side.ts): the keyframe test its
 * viewers time the first frame with, Janus's NAT settings read back from the written
 * configuration, and the table built from the printed figures.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { janusConfigText, janusNatSettings } from '../bench/janus.ts';
import { sideBySideTable } from '../bench/side-by-side-table.ts';
import { startsKeyframe } from '../bench/whep-viewer.ts';

test('startsKeyframe: IDR and SPS start a keyframe as a single NAL unit, an FU-A start or a STAP-A; nothing else does', () => {
  const nal = (type: number) => Buffer.from([0x60 | type, 0x88, 0x84]);
  assert.equal(startsKeyframe(nal(5)), true, 'IDR slice');
  assert.equal(startsKeyframe(nal(7)), true, 'SPS');
  assert.equal(startsKeyframe(nal(1)), false, 'non-IDR slice');
  assert.equal(startsKeyframe(nal(8)), false, 'PPS alone');
  // FU-A (type 28): the FU header's start bit and the fragmented NAL unit's type.
  assert.equal(startsKeyframe(Buffer.from([0x7c, 0x85, 0x00])), true, 'first fragment of an IDR slice');
  assert.equal(startsKeyframe(Buffer.from([0x7c, 0x05, 0x00])), false, 'a later fragment of an IDR slice');
  assert.equal(startsKeyframe(Buffer.from([0x7c, 0x81, 0x00])), false, 'first fragment of a P slice');
  // STAP-A (type 24): a 16-bit size, then the first aggregated NAL unit's header.
  assert.equal(startsKeyframe(Buffer.from([0x78, 0x00, 0x0a, 0x67, 0x42])), true, 'STAP-A opening with an SPS');
  assert.equal(startsKeyframe(Buffer.from([0x78, 0x00, 0x0a, 0x06, 0x05])), false, 'STAP-A opening with an SEI');
  assert.equal(startsKeyframe(Buffer.from([0x65])), false, 'too short to tell');
});

test('janusNatSettings: the written configuration names no outside address; one that does is caught', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'corecast-janus-config-'));
  try {
    // The configuration startJanus writes, without starting Janus.
    const file = join(dir, 'janus.jcfg');
    await writeFile(file, janusConfigText(dir));
    const ours = await janusNatSettings(file);
    assert.deepEqual(ours.outside, []);
    assert.match(ours.nat, /ice_enforce_list = "bench0"/);
    await writeFile(
      file,
      (await readFile(file, 'utf8')).replace('nat: {', 'nat: {\n  stun_server = "stun.example.org"\n  nat_1_1_mapping = "1.2.3.4"'),
    );
    assert.deepEqual((await janusNatSettings(file)).outside, ['stun_server', 'nat_1_1_mapping']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('sideBySideTable: one column per server, viewers held and the drops summed from the figures', () => {
  const line = (name: string, value: number) => JSON.stringify({ name, value, unit: 'x' });
  const lines = [
    line('a.rss_idle', 100),
    line('a.step.50.viewers_connected', 50),
    line('a.step.50.cpu', 0.5),
    line('a.step.50.cpu_per_viewer', 10),
    line('a.step.50.held', 1),
    line('a.step.50.loss_ratio', 0),
    line('a.step.50.load_client_drops', 0),
    line('a.step.50.rss_per_viewer', 0.5),
    line('a.step.100.viewers_connected', 100),
    line('a.step.100.cpu', 1.2),
    line('a.step.100.cpu_per_viewer', 12),
    line('a.step.100.held', 0),
    line('a.step.100.loss_ratio', 0.02),
    line('a.step.100.load_client_drops', 7),
    line('a.viewers_held', 50),
    line('a.machine.load_average_1m', 1.5),
    line('a.machine.load_average_1m', 2.5),
    line('a.browser.ttff_p50', 88.4),
    line('a.browser.ttff_p95', 131.6),
    line('a.browser.ttff_first_session', 240),
    line('a.netns.no_route_packets', 0),
    line('a.step.50.event_loop_p99', 12.34),
    line('a.step.100.event_loop_p99', 31),
    line('a.netns.no_route_browser', 1),
    'not a figure',
  ];
  const table = sideBySideTable(
    lines,
    [
      { name: 'a', title: 'Server A' },
      { name: 'b', title: 'Server B' },
    ],
    [50, 100],
    ['a note'],
  );
  const rows = table.split('\n');
  assert.equal(rows[0], '| Figure | Server A | Server B |');
  const row = (start: string) => rows.find((r) => r.startsWith(`| ${start}`)) ?? assert.fail(`no row ${start}`);
  assert.equal(
    row('Server CPU per viewer-second, 50 viewers'),
    '| Server CPU per viewer-second, 50 viewers | 10.0 ms (0.50 cores) | not run |',
  );
  assert.match(row('Server CPU per viewer-second, 100 viewers'), /12\.0 ms \(1\.20 cores\) \(loss 2\.00 %\)/);
  assert.match(row('Viewers held'), /\| 50 \| — \|$/);
  assert.match(row('Load client drops'), /\| 7 \/ 0 \/ 0 \|/);
  assert.match(row('RSS idle'), /100 MiB \/ 0\.50 MiB \(at 50\)/);
  assert.match(row('Machine load'), /1\.50 → 2\.50/);
  assert.match(row('Event-loop delay p99'), /\| 12\.3 \/ 31\.0 ms \| — \|$/);
  assert.match(row('Tries towards an outside address'), /\| 0 \/ 1 \| — \/ — \|$/);
  assert.match(row('Time to first frame in Chromium'), /\| 88 \/ 132 ms \(240 ms\) \| — \/ — ms \(— ms\) \|$/);
  assert.equal(rows.at(-1), '- a note');
});
