/**
 * Generated command lines run through the real FFmpeg (Debian package): FFmpeg must accept
 * them, exit 0, and deliver RTP to the egress ports.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { buildFfmpegArgs, parseProcess } from '../src/index.ts';
import { process, withSpec, withWebrtc } from './fixtures/processes.ts';

/** Runs ffmpeg to completion; resolves with the exit code and stderr. */
function ffmpeg(argv: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', ['-hide_banner', '-y', ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/** A UDP socket on a free loopback port that counts RTP (not RTCP) packets by payload type. */
async function rtpSink(): Promise<{ port: number; counts: Map<number, number>; socket: Socket }> {
  const socket = createSocket('udp4');
  const counts = new Map<number, number>();
  socket.on('message', (msg) => {
    const pt = (msg[1] ?? 0) & 0x7f;
    const b1 = msg[1] ?? 0;
    if ((msg[0] ?? 0) >> 6 !== 2 || (b1 >= 200 && b1 <= 206)) return; // not RTP, or RTCP (RFC 5761 §4)
    counts.set(pt, (counts.get(pt) ?? 0) + 1);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return { port: socket.address().port, counts, socket };
}

describe('real FFmpeg accepts the generated command lines', { timeout: 120_000 }, () => {
  let dir = '';
  let h264File = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'corecast-ffmpeg-'));
    // An MP4 with H.264 (avcC, SPS/PPS out of band) and AAC: what copy mode meets from files and RTMP.
    h264File = join(dir, 'source.mp4');
    const made = await ffmpeg([
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=320x240:rate=25',
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:sample_rate=44100',
      '-t',
      '3',
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-bf',
      '0',
      '-g',
      '25',
      '-c:a',
      'aac',
      h264File,
    ]);
    assert.equal(made.code, 0, made.stderr);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const cases = [
    {
      name: 'the test-pattern example (transcode, video + audio)',
      manifest: async () => {
        const p = parse(await readFile(new URL('../../examples/test-pattern.yaml', import.meta.url), 'utf8'));
        p.spec.input[0].options.push('-t', '2');
        return p;
      },
      wantAudio: true,
    },
    {
      name: 'copy mode from MP4 (avcC → Annex B), AAC → Opus',
      manifest: async () =>
        process('copy', withWebrtc(), withSpec({ input: [{ id: 'file', address: h264File, options: ['-re', '-t', '2'] }] })),
      wantAudio: true,
    },
    {
      name: 'an input without audio still gives video',
      manifest: async () =>
        process(
          'mute',
          withWebrtc({ forceTranscode: true, videoPayloadType: 96, audioPayloadType: 97 }),
          withSpec({ input: [{ id: 'v', address: 'testsrc2=size=320x240:rate=25', options: ['-re', '-t', '2', '-f', 'lavfi'] }] }),
        ),
      wantAudio: false,
    },
  ];

  for (const c of cases) {
    it(c.name, async () => {
      const p = parseProcess(await c.manifest());
      const video = await rtpSink();
      const audio = await rtpSink();
      try {
        const argv = buildFfmpegArgs(
          { name: p.metadata.name, spec: p.spec },
          { egress: { host: '127.0.0.1', videoPort: video.port, audioPort: audio.port } },
        );
        const run = await ffmpeg(argv);
        assert.equal(run.code, 0, run.stderr);
        await new Promise((r) => setTimeout(r, 200)); // let the last datagrams land
        const { videoPayloadType: vpt, audioPayloadType: apt } = p.spec.webrtc;
        assert.ok((video.counts.get(vpt) ?? 0) > 20, `video packets with PT ${vpt}: ${[...video.counts]}`);
        if (c.wantAudio) assert.ok((audio.counts.get(apt) ?? 0) > 20, `audio packets with PT ${apt}: ${[...audio.counts]}`);
        else assert.equal(audio.counts.size, 0);
      } finally {
        video.socket.close();
        audio.socket.close();
      }
    });
  }

  it('WebRTC off: the plain Core command runs', async () => {
    const p = parseProcess(
      process(
        'plain',
        withSpec({
          input: [{ id: 'in', address: 'testsrc2=size=160x120:rate=10', options: ['-t', '1', '-f', 'lavfi'] }],
        }),
      ),
    );
    const run = await ffmpeg(buildFfmpegArgs({ name: 'plain', spec: p.spec }));
    assert.equal(run.code, 0, run.stderr);
  });
});
