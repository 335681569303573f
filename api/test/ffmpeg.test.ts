import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type AccessRules, buildFfmpegArgs, PROGRESS_OPTIONS, parseProcess, resolvePlaceholders, ValidationError } from '../src/index.ts';
import { process, withSpec, withWebrtc } from './fixtures/processes.ts';

const egress = { host: 'demo-egress.media.svc', videoPort: 5004, audioPort: 5006 };
const P = [...PROGRESS_OPTIONS];
const build = (...args: Parameters<typeof process>) => {
  const p = parseProcess(process(...args));
  return buildFfmpegArgs({ name: p.metadata.name, spec: p.spec }, { egress });
};

const TEE_DEFAULT =
  '[select=v:f=rtp:payload_type=102:rtpflags=send_bye:onfail=ignore]udp://demo-egress.media.svc:5004?pkt_size=1200|' +
  '[select=a:f=rtp:payload_type=111:rtpflags=send_bye:onfail=ignore]udp://demo-egress.media.svc:5006?pkt_size=1200';
const OPUS = ['-c:a', 'libopus', '-ar', '48000', '-ac', '2', '-b:a', '128k'];
// The test pattern input and null output that a Process gets when it names neither.
const TESTSRC_TO_NULL = ['-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25', '-f', 'null', '-'];
const MAP_FIRST_AV = ['-map', '0:v:0', '-map', '0:a:0?'];
const COPY_VIDEO = ['-c:v', 'copy', '-bsf:v', 'h264_mp4toannexb,dump_extra=freq=keyframe'];
const X264_VIDEO = ['-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p'];
const X264_KEYFRAMES = ['-bf', '0', '-force_key_frames', 'expr:gte(t,n_forced*1)', '-bsf:v', 'dump_extra=freq=keyframe'];

describe('buildFfmpegArgs', () => {
  const cases: { name: string; argv: string[]; want: string[] }[] = [
    {
      name: 'minimal, WebRTC off: Core order',
      argv: build('demo'),
      want: [...P, ...TESTSRC_TO_NULL],
    },
    {
      name: 'every Core field set, every placeholder',
      argv: build(
        'studio',
        withSpec({
          reference: 'news',
          options: ['-loglevel', 'info', '-metadata', 'title={processid}/{reference}'],
          input: [
            { id: 'cam1', address: 'rtmp://in/{reference}/{inputid}', options: ['-rw_timeout', '5000000', '-metadata', '{inputid}'] },
            { id: 'logo', address: 'http://assets/{processid}.png', options: ['-loop', '1'] },
          ],
          output: [
            { id: 'cdn', address: 'rtmp://out/{processid}/{outputid}', options: ['-c', 'copy', '-f', 'flv'] },
            { id: 'rec', address: 'http://store/{reference}-{outputid}.ts', options: ['-f', 'mpegts', '-method', 'PUT'] },
          ],
          reconnect: false,
          reconnectDelaySeconds: 3,
          autostart: false,
          staleTimeoutSeconds: 20,
          limits: { cpuUsage: 150, memoryMbytes: 512, waitforSeconds: 5 },
          order: 'stop',
          webrtc: { enabled: true, videoPayloadType: 96, audioPayloadType: 97, forceTranscode: false, maxViewers: 20 },
        }),
      ),
      want: [
        ...P,
        '-loglevel',
        'info',
        '-metadata',
        'title=studio/news',
        '-rw_timeout',
        '5000000',
        '-metadata',
        'cam1',
        '-i',
        'rtmp://in/news/cam1',
        '-loop',
        '1',
        '-i',
        'http://assets/studio.png',
        '-c',
        'copy',
        '-f',
        'flv',
        'rtmp://out/studio/cdn',
        '-f',
        'mpegts',
        '-method',
        'PUT',
        'http://store/news-rec.ts',
        ...MAP_FIRST_AV,
        ...COPY_VIDEO,
        ...OPUS,
        '-f',
        'tee',
        '[select=v:f=rtp:payload_type=96:rtpflags=send_bye:onfail=ignore]udp://demo-egress.media.svc:5004?pkt_size=1200|' +
          '[select=a:f=rtp:payload_type=97:rtpflags=send_bye:onfail=ignore]udp://demo-egress.media.svc:5006?pkt_size=1200',
      ],
    },
    {
      name: 'WebRTC on, copy mode',
      argv: build('demo', withWebrtc()),
      want: [...P, ...TESTSRC_TO_NULL, ...MAP_FIRST_AV, ...COPY_VIDEO, ...OPUS, '-f', 'tee', TEE_DEFAULT],
    },
    {
      name: 'WebRTC on, forceTranscode',
      argv: build('demo', withWebrtc({ forceTranscode: true })),
      want: [...P, ...TESTSRC_TO_NULL, ...MAP_FIRST_AV, ...X264_VIDEO, ...X264_KEYFRAMES, ...OPUS, '-f', 'tee', TEE_DEFAULT],
    },
  ];
  for (const c of cases) it(c.name, () => assert.deepEqual(c.argv, c.want));

  it('needs an egress target when WebRTC is on', () => {
    const p = parseProcess(process('demo', withWebrtc()));
    assert.throws(() => buildFfmpegArgs({ name: 'demo', spec: p.spec }), /needs options.egress/);
  });

  it('leaves unknown and out-of-scope placeholders alone', () => {
    assert.equal(resolvePlaceholders('{inputid}-{diskfs}-{processid}', { processid: 'p', reference: '' }), '{inputid}-{diskfs}-p');
  });
});

describe('ffmpeg access rules', () => {
  const p = parseProcess(
    process(
      'demo',
      withSpec({
        input: [
          { id: 'a', address: 'rtmp://ok/live' },
          { id: 'b', address: 'file:///etc/passwd' },
        ],
        output: [{ id: 'o', address: 'rtmp://cdn/{processid}' }],
      }),
    ),
  );
  const ref = { name: 'demo', spec: p.spec };
  const cases: { name: string; access: AccessRules; message: string | null }[] = [
    {
      name: 'an input on the block list',
      access: { input: { block: ['^file:'] } },
      message: 'Process is invalid: spec.input[1].address: input address "file:///etc/passwd" is blocked by the rule /^file:/',
    },
    {
      name: 'an input outside the allow list',
      access: { input: { allow: ['^rtmp://', '^srt://'] } },
      message:
        'Process is invalid: spec.input[1].address: input address "file:///etc/passwd" matches none of the allowed patterns /^rtmp:\\/\\//, /^srt:\\/\\//'.replaceAll(
          '\\/',
          '/',
        ),
    },
    {
      name: 'an output on the block list (after placeholders)',
      access: { output: { block: ['cdn/demo$'] } },
      message: 'Process is invalid: spec.output[0].address: output address "rtmp://cdn/demo" is blocked by the rule /cdn/demo$/',
    },
    {
      name: 'an output outside the allow list',
      access: { output: { allow: ['^srt://'] } },
      message:
        'Process is invalid: spec.output[0].address: output address "rtmp://cdn/demo" matches none of the allowed patterns /^srt:///',
    },
    { name: 'allowed addresses pass', access: { input: { allow: ['^(rtmp|file):'] }, output: { allow: ['^rtmp:'] } }, message: null },
  ];
  for (const c of cases) {
    it(`refuses ${c.name}`.replace('refuses allowed', 'allowed'), () => {
      if (c.message === null) {
        assert.ok(buildFfmpegArgs(ref, { access: c.access }).includes('file:///etc/passwd'));
        return;
      }
      assert.throws(
        () => buildFfmpegArgs(ref, { access: c.access }),
        (e: unknown) => {
          assert.ok(e instanceof ValidationError);
          assert.equal(e.message, c.message);
          return true;
        },
      );
    });
  }
});
