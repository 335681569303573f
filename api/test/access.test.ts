/**
 * FFmpeg access: each way past the rules that a reading of addresses alone leaves open, and the
 * default rules the operator ships with. Every case builds a whole command and names the field
 * and the token the refusal reports.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import {
  type AccessRules,
  buildFfmpegArgs,
  DEFAULT_ACCESS_RULES,
  getToken,
  openedTokens,
  parseGraph,
  parseProcess,
  protocolOf,
  unwrap,
  ValidationError,
} from '../src/index.ts';
import { process, withSpec, withWebrtc } from './fixtures/processes.ts';

const egress = { host: 'demo-egress.media.svc', videoPort: 5004, audioPort: 5006 };
type Endpoint = { id: string; address: string; options?: string[] };
const rtmpIn: Endpoint = { id: 'in', address: 'rtmp://ingest.example/live/a' };
const rtmpOut: Endpoint = { id: 'out', address: 'rtmp://cdn.example/out/a', options: ['-c', 'copy', '-f', 'flv'] };

/** Builds the command of a spec under `rules` (default: the operator's defaults); the refusal's errors, or [] when it passes. */
function refusals(spec: { input?: Endpoint[]; output?: Endpoint[]; options?: string[] }, rules: AccessRules = DEFAULT_ACCESS_RULES) {
  const p = parseProcess(
    process('demo', withSpec({ input: spec.input ?? [rtmpIn], output: spec.output ?? [rtmpOut], options: spec.options ?? [] })),
  );
  try {
    buildFfmpegArgs({ name: 'demo', spec: p.spec }, { access: rules });
    return [];
  } catch (err) {
    assert.ok(err instanceof ValidationError, String(err));
    return err.errors.map((e) => `${e.path}: ${e.message}`);
  }
}

const onlyRtmp: AccessRules = { input: { allow: ['^rtmp://'] }, output: { allow: ['^rtmp://'] } };
const blockFiles: AccessRules = { input: { block: ['^file:', '^/'] }, output: { block: ['^file:', '^/'] } };

/** [test name, spec, rules, the field path, a part of the message naming the refused token]. */
const holes: [string, Parameters<typeof refusals>[0], AccessRules, string, string][] = [
  // Options bypass: what hides in options[] is opened too.
  [
    'refuses -i hidden in input options (options bypass)',
    { input: [{ ...rtmpIn, options: ['-i', 'http://169.254.169.254/latest/meta-data/'] }] },
    onlyRtmp,
    'spec.input[0].options[1]',
    'input input (-i in options) "http://169.254.169.254/latest/meta-data/" matches none',
  ],
  [
    'refuses -i hidden in global options (options bypass)',
    { options: ['-i', 'file:/etc/hostname'] },
    DEFAULT_ACCESS_RULES,
    'spec.options[1]',
    'input input (-i in options) "file:/etc/hostname" matches none',
  ],
  [
    'refuses -i hidden in output options (options bypass)',
    { output: [{ ...rtmpOut, options: ['-i', '/etc/passwd', '-f', 'flv'] }] },
    blockFiles,
    'spec.output[0].options[1]',
    '"/etc/passwd" opens "file:/etc/passwd", which is blocked by the rule /^file:/',
  ],
  [
    'refuses an extra output hidden in output options (bare argument bypass)',
    { output: [{ ...rtmpOut, options: ['-f', 'flv', 'file:/tmp/copy.flv', '-f', 'flv'] }] },
    onlyRtmp,
    'spec.output[0].options[2]',
    'output output (a bare argument in options is one more output) "file:/tmp/copy.flv"',
  ],
  [
    'refuses an extra output hidden in input options (bare argument bypass)',
    { input: [{ ...rtmpIn, options: ['-f', 'flv', '/tmp/x.flv'] }] },
    blockFiles,
    'spec.input[0].options[2]',
    'output output (a bare argument in options is one more output) "/tmp/x.flv" opens "file:/tmp/x.flv", which is blocked',
  ],
  [
    'refuses an output after -- even when it starts with a dash (double-dash bypass)',
    { output: [{ ...rtmpOut, options: ['-f', 'flv', '--', '-leak.flv', '-f', 'flv'] }] },
    onlyRtmp,
    'spec.output[0].options[3]',
    '"-leak.flv"',
  ],
  [
    'refuses a value flag that is really boolean (-re then a file is an output)',
    { output: [{ ...rtmpOut, options: ['-shortest', '/tmp/y.ts'] }] },
    onlyRtmp,
    'spec.output[0].options[1]',
    '"/tmp/y.ts"',
  ],
  [
    'refuses a -no<flag> followed by a file (negated boolean bypass)',
    { output: [{ ...rtmpOut, options: ['-nostdin', '/tmp/z.ts'] }] },
    onlyRtmp,
    'spec.output[0].options[1]',
    '"/tmp/z.ts"',
  ],
  [
    'refuses an output address eaten by a trailing option (-progress swallows the address)',
    {
      output: [
        { id: 'out', address: 'file:/tmp/progress.txt', options: ['-f', 'flv', '-progress'] },
        { ...rtmpOut, id: 'o2' },
      ],
    },
    onlyRtmp,
    'spec.output[0].address',
    'output file of -progress "file:/tmp/progress.txt"',
  ],
  // Options that name files or URLs.
  ...(
    [
      ['-progress', '/tmp/progress', 'output'],
      ['-vstats_file', '/tmp/vstats', 'output'],
      ['-sdp_file', 'file:/tmp/sdp', 'output'],
      ['-dump_attachment:t', '/tmp/attachment', 'output'],
      ['-passlogfile', '/tmp/pass', 'input'],
      ['-attach', '/etc/passwd', 'input'],
      ['-filter_script:v', '/etc/graph.txt', 'input'],
      ['-filter_complex_script', '/etc/graph.txt', 'input'],
      ['-fpre', '/etc/preset.ffpreset', 'input'],
      ['-init_hw_device', 'vaapi=va:/dev/dri/renderD128', 'input'],
      ['-hls_segment_filename', '/tmp/seg%03d.ts', 'output'],
      ['-hls_key_info_file', '/etc/key.info', 'input'],
      ['-segment_list', '/tmp/list.m3u8', 'output'],
      ['-ca_file', '/etc/ssl/private/ca.pem', 'input'],
      ['-stats_enc_pre', '/tmp/enc.log', 'output'],
      ['-omx_libname', '/tmp/evil.so', 'input'],
    ] as const
  ).map(([option, value, direction]): [string, Parameters<typeof refusals>[0], AccessRules, string, string] => [
    `refuses ${option} naming a file or URL (file option bypass)`,
    { output: [{ ...rtmpOut, options: ['-c', 'copy', option, value, '-f', 'flv'] }] },
    DEFAULT_ACCESS_RULES,
    'spec.output[0].options[3]',
    `${direction} file of ${option} "${value}"`,
  ]),
  [
    'refuses stats= in -x264-params (encoder parameter bypass)',
    { output: [{ ...rtmpOut, options: ['-c:v', 'libx264', '-x264-params', 'keyint=60:stats=/tmp/s.log', '-f', 'flv'] }] },
    DEFAULT_ACCESS_RULES,
    'spec.output[0].options[3]',
    'file of stats in -x264-params "/tmp/s.log"',
  ],
  // Wrapping protocols.
  ...(
    [
      ['async:file:/etc/hostname', 'file:/etc/hostname'],
      ['cache:file:/etc/hostname', 'file:/etc/hostname'],
      ['async:cache:/etc/hostname', 'file:/etc/hostname'],
      ['subfile,,start,0,end,0,,:/etc/hostname', 'file:/etc/hostname'],
      ['subfile:/etc/hostname', 'file:/etc/hostname'],
      ['subfile,|start|0|end|0||:/etc/hostname', 'file:/etc/hostname'],
      ['concat:rtmp://ingest.example/a|/etc/hostname', 'file:/etc/hostname'],
      ['crypto:file:/etc/hostname', 'file:/etc/hostname'],
      ['crypto+file:/etc/hostname', 'file:/etc/hostname'],
      ['async:file:/srv/../etc/hostname', 'file:/srv/../etc/hostname'],
    ] as const
  ).map(([address, inner]): [string, Parameters<typeof refusals>[0], AccessRules, string, string] => [
    `refuses ${address.split(/[:,+]/)[0]}: wrapping a local file past a block list (wrapper bypass: ${address})`,
    { input: [{ id: 'in', address }] },
    blockFiles,
    'spec.input[0].address',
    `opens "${inner}", which is blocked by the rule /^file:/`,
  ]),
  [
    'refuses a wrapped file past an allow list of rtmp (wrapper bypass under allow)',
    { input: [{ id: 'in', address: 'cache:/etc/hostname' }] },
    { input: { allow: ['^(cache:)?rtmp://', '^cache:'] } },
    'spec.input[0].address',
    'opens "/etc/hostname", which matches none of the allowed patterns',
  ],
  [
    'refuses concatf: whose list decides what is opened (list bypass)',
    { input: [{ id: 'in', address: 'concatf:http://lists.example/list.txt' }] },
    DEFAULT_ACCESS_RULES,
    'spec.input[0].address',
    'input address "concatf:http://lists.example/list.txt" matches none',
  ],
  [
    'refuses a -f concat input list (list bypass)',
    { input: [{ id: 'in', address: 'http://lists.example/list.ffconcat', options: ['-f', 'concat', '-safe', '0'] }] },
    DEFAULT_ACCESS_RULES,
    'spec.input[0].address',
    'concat list (-f concat or -safe) "concat-list:http://lists.example/list.ffconcat" matches none',
  ],
  [
    'refuses -safe 0 on an input whose concat list FFmpeg would find by probing (probed list bypass)',
    { input: [{ id: 'in', address: 'http://lists.example/playlist', options: ['-safe', '0'] }] },
    DEFAULT_ACCESS_RULES,
    'spec.input[0].address',
    '"concat-list:http://lists.example/playlist" matches none',
  ],
  [
    'refuses file in -protocol_whitelist, which lets a network playlist name local files (protocol list bypass)',
    { input: [{ ...rtmpIn, address: 'https://cdn.example/live.m3u8', options: ['-protocol_whitelist', 'https,tls,tcp,file'] }] },
    DEFAULT_ACCESS_RULES,
    'spec.input[0].options[1]',
    'input protocol in -protocol_whitelist "file://" matches none',
  ],
  [
    'refuses a data: URL, whose content (a playlist) may name local files (data bypass)',
    { input: [{ id: 'in', address: 'data:application/vnd.apple.mpegurl;base64,I0VYVE0zVQ==' }] },
    DEFAULT_ACCESS_RULES,
    'spec.input[0].address',
    'input address "data:application/vnd.apple.mpegurl;base64,I0VYVE0zVQ==" matches none',
  ],
  [
    'refuses a file slave of the tee muxer (tee bypass)',
    { output: [{ id: 'out', address: '[f=flv]rtmp://cdn.example/a|[f=mpegts]/tmp/copy.ts', options: ['-f', 'tee', '-map', '0'] }] },
    DEFAULT_ACCESS_RULES,
    'spec.output[0].address',
    'a slave of the tee muxer "/tmp/copy.ts"',
  ],
  [
    'refuses a file slave of the tee protocol (tee bypass)',
    { output: [{ id: 'out', address: 'tee:rtmp://cdn.example/a|/tmp/copy.flv', options: ['-f', 'flv'] }] },
    DEFAULT_ACCESS_RULES,
    'spec.output[0].address',
    'opens "/tmp/copy.flv", which matches none',
  ],
  // Filters that read or write files.
  ...(
    [
      ['-vf', 'movie=/etc/hostname[logo];[in][logo]overlay', 'filename of the movie filter of -vf "/etc/hostname"'],
      [
        '-af',
        "amovie=filename='async\\:file\\:/etc/hostname'",
        'filename of the amovie filter of -af "async:file:/etc/hostname" opens "file:/etc/hostname"',
      ],
      ['-vf', 'subtitles=/etc/hostname', 'filename of the subtitles filter of -vf "/etc/hostname"'],
      ['-vf', 'ass=f=/etc/subs.ass', 'f of the ass filter of -vf "/etc/subs.ass"'],
      ['-vf', "sendcmd=c='0 drawtext reinit textfile=/etc/hostname',drawtext=text=x", '"filter:sendcmd"'],
      ['-vf', 'lut3d=/etc/grade.cube', 'file of the lut3d filter of -vf "/etc/grade.cube"'],
      ['-vf', 'drawtext=textfile=/etc/hostname', 'textfile of the drawtext filter of -vf "/etc/hostname"'],
      ['-vf', 'drawtext=fontfile=/etc/font.ttf:text=hi', 'fontfile of the drawtext filter of -vf "/etc/font.ttf"'],
      ['-vf', 'drawtext=/etc/font.ttf:hi', 'fontfile of the drawtext filter of -vf "/etc/font.ttf"'],
      [
        '-filter_complex',
        "[0:v]null[a];[a]psnr=stats_file='/tmp/psnr.log'",
        'output stats_file of the psnr filter of -filter_complex "/tmp/psnr.log"',
      ],
      ['-vf', "movie\\=x,mo'vie'=/etc/hostname", 'filename of the movie filter of -vf "/etc/hostname"'],
      ['-vf', 'scale=320:240 , movie@logo = /etc/hostname', 'filename of the movie filter of -vf "/etc/hostname"'],
      ['-vf', "movie='/etc/host\\:name'", 'filename of the movie filter of -vf "/etc/host:name"'],
      ['-lavfi', 'zmq,null', '"filter:zmq"'],
      ['-vf', 'curves=psfile=/etc/curves.acv', 'psfile of the curves filter of -vf "/etc/curves.acv"'],
      ['-vf', 'nnedi=/tmp/weights.bin', 'weights of the nnedi filter of -vf "/tmp/weights.bin"'],
      ['-vf', 'paletteuse=debug_kdtree=/tmp/tree.dot', 'output debug_kdtree of the paletteuse filter of -vf "/tmp/tree.dot"'],
    ] as const
  ).map(([option, graph, part]): [string, Parameters<typeof refusals>[0], AccessRules, string, string] => [
    `refuses a file-reading filter in ${option}: ${graph} (filter bypass)`,
    { output: [{ ...rtmpOut, options: [option, graph, '-f', 'flv'] }] },
    DEFAULT_ACCESS_RULES,
    'spec.output[0].options[1]',
    part,
  ]),
  [
    'refuses movie= inside a lavfi input address (lavfi address bypass)',
    { input: [{ id: 'in', address: 'movie=/etc/hostname', options: ['-f', 'lavfi'] }] },
    DEFAULT_ACCESS_RULES,
    'spec.input[0].address',
    'filename of the movie filter of the lavfi graph "/etc/hostname"',
  ],
  [
    'refuses movie= nested in a lavfi movie (nested graph bypass)',
    { input: [{ id: 'in', address: "movie=f=lavfi:filename='movie=/etc/hostname'", options: ['-f', 'lavfi'] }] },
    DEFAULT_ACCESS_RULES,
    'spec.input[0].address',
    '"/etc/hostname"',
  ],
  [
    'refuses movie= in the lavfi device option -graph, used instead of the address (graph option bypass)',
    { input: [{ id: 'in', address: 'unused', options: ['-f', 'lavfi', '-graph', 'movie=/etc/hostname'] }] },
    DEFAULT_ACCESS_RULES,
    'spec.input[0].options[3]',
    'filename of the movie filter of -graph "/etc/hostname"',
  ],
  [
    'refuses a local file as an input by default (default refuses files)',
    { input: [{ id: 'in', address: 'media/clip.mp4' }] },
    DEFAULT_ACCESS_RULES,
    'spec.input[0].address',
    'input address "media/clip.mp4" matches none',
  ],
  [
    'refuses a device as an input by default (default refuses devices)',
    { input: [{ id: 'in', address: '/dev/video0', options: ['-f', 'v4l2'] }] },
    DEFAULT_ACCESS_RULES,
    'spec.input[0].address',
    '"/dev/video0"',
  ],
  [
    'refuses a lavfi graph without -f lavfi (it is a file name then)',
    { input: [{ id: 'in', address: 'testsrc2=size=320x240' }] },
    DEFAULT_ACCESS_RULES,
    'spec.input[0].address',
    'input address "testsrc2=size=320x240" matches none',
  ],
];

describe('FFmpeg access: every hole', () => {
  for (const [name, spec, rules, path, part] of holes) {
    it(name, () => {
      const errors = refusals(spec, rules);
      const hit = errors.find((e) => e.startsWith(`${path}: `));
      assert.ok(hit, `no refusal at ${path}; got ${JSON.stringify(errors)}`);
      assert.ok(hit.includes(part), `${hit}\n  does not contain\n${part}`);
    });
  }

  it('lists every refused token, not only the first', () => {
    const errors = refusals({
      input: [{ ...rtmpIn, options: ['-i', '/etc/a'] }],
      output: [{ ...rtmpOut, options: ['-f', 'flv', '/tmp/b'] }],
    });
    assert.equal(errors.length, 2, JSON.stringify(errors));
  });
});

describe('FFmpeg access: what the defaults let through', () => {
  const passes: [string, Parameters<typeof refusals>[0]][] = [
    ['rtmp in, rtmp out', {}],
    [
      'srt, rtsp, http(s), udp, rtp, tcp, hls+https',
      {
        input: [
          'srt://a:9000',
          'rtsp://cam/1',
          'http://a/b.m3u8',
          'https://a/b.mp4',
          'udp://239.0.0.1:1234',
          'rtp://1.2.3.4:5000',
          'tcp://a:1',
          'hls+https://a/b.m3u8',
        ].map((address, i) => ({ id: `i${i}`, address })),
      },
    ],
    [
      'a lavfi test source with drawtext (no files) and a null output',
      {
        input: [{ id: 'in', address: "testsrc2=size=640x360,drawtext=text='%{localtime}':x=10:y=10", options: ['-re', '-f', 'lavfi'] }],
        output: [{ id: 'out', address: '-', options: ['-map', '0:v:0', '-vf', 'scale=320:240,format=yuv420p', '-f', 'null'] }],
      },
    ],
    [
      'output to /dev/null and pipe:1',
      {
        output: [
          { id: 'a', address: '/dev/null', options: ['-f', 'null'] },
          { id: 'b', address: 'pipe:1', options: ['-f', 'mpegts'] },
        ],
      },
    ],
    [
      'hls over http with relative segment names next to the playlist',
      {
        output: [
          {
            id: 'hls',
            address: 'http://origin/live/a.m3u8',
            options: ['-f', 'hls', '-method', 'PUT', '-hls_fmp4_init_filename', 'init.mp4', '-master_pl_name', 'main.m3u8'],
          },
        ],
      },
    ],
    [
      'a network protocol whitelist',
      { input: [{ ...rtmpIn, address: 'https://cdn.example/a.m3u8', options: ['-protocol_whitelist', 'https,tls,tcp,http'] }] },
    ],
    [
      'flags and options with values in any order',
      {
        input: [{ ...rtmpIn, options: ['-re', '-thread_queue_size', '512', '-rw_timeout', '5000000', '-noautorotate'] }],
        options: ['-hide_banner', '-loglevel', 'warning', '-y', '-nostats'],
      },
    ],
  ];
  for (const [name, spec] of passes) {
    it(name, () => assert.deepEqual(refusals(spec), []));
  }

  it('every example in examples/ passes the defaults', () => {
    const dir = new URL('../../examples/', import.meta.url);
    for (const file of ['test-pattern.yaml', 'rtmp-restream.yaml', 'file-to-hls.yaml']) {
      const p = parseProcess(parseYaml(readFileSync(new URL(file, dir), 'utf8')));
      assert.doesNotThrow(() => buildFfmpegArgs({ name: p.metadata.name, spec: p.spec }, { egress, access: DEFAULT_ACCESS_RULES }), file);
    }
  });

  it('the WebRTC legs Corecast adds are never judged', () => {
    const p = parseProcess(process('demo', withWebrtc({ forceTranscode: true })));
    assert.ok(buildFfmpegArgs({ name: 'demo', spec: p.spec }, { egress, access: { output: { allow: ['^-$'] } } }).length > 0);
  });

  it('an address that is an option swallows the WebRTC legs: what they turn into is judged', () => {
    const p = parseProcess(process('demo', withWebrtc(), withSpec({ output: [{ id: 'o', address: '-i', options: ['-f', 'null'] }] })));
    assert.throws(() => buildFfmpegArgs({ name: 'demo', spec: p.spec }, { egress, access: DEFAULT_ACCESS_RULES }), ValidationError);
  });

  it('empty allow lists allow everything (Core semantics)', () => {
    assert.deepEqual(
      refusals({ input: [{ id: 'in', address: 'async:file:/etc/hostname' }] }, { input: { allow: [] }, output: { allow: [] } }),
      [],
    );
  });

  it('an allow rule lets a file-reading filter through when the operator says so', () => {
    const rules: AccessRules = {
      input: { allow: [...DEFAULT_ACCESS_RULES.input.allow, '^file:/media/'] },
      output: DEFAULT_ACCESS_RULES.output,
    };
    assert.deepEqual(
      refusals({ output: [{ ...rtmpOut, options: ['-vf', 'movie=/media/logo.png[l];[in][l]overlay', '-f', 'flv'] }] }, rules),
      [],
    );
    assert.equal(refusals({ output: [{ ...rtmpOut, options: ['-vf', 'movie=/media/../etc/hostname', '-f', 'flv'] }] }, rules).length, 1);
  });
});

describe('FFmpeg access: the readers', () => {
  it('getToken reads quotes and escapes as libavutil does', () => {
    assert.deepEqual(getToken("  a\\:b'c:d' e  :rest", 0, ':'), ['a:bc:d e', 15]);
  });
  it('parseGraph finds every filter through labels, chains and instances', () => {
    assert.deepEqual(
      parseGraph("[0:v] scale=1:2 [a]; [a][1] overlay@x=0:0, movie='a,b' [o]").map((f) => f.name),
      ['scale', 'overlay', 'movie'],
    );
  });
  it('protocolOf picks the protocol as avio does', () => {
    assert.equal(protocolOf('/etc/x'), 'file');
    assert.equal(protocolOf('subfile,,start,1,,:/x'), 'subfile');
    assert.equal(protocolOf('foo,bar:/x'), 'file');
    assert.equal(protocolOf('crypto+http://a'), 'crypto+http');
  });
  it('unwrap sees through nested wrappers', () => {
    assert.deepEqual(
      unwrap('async:cache:concat:rtmp://a/b|subfile,,start,0,end,0,,:/x').leaves.map((l) => l.value),
      ['rtmp://a/b', '/x'],
    );
  });
  it('openedTokens reads trusted items as Corecast meant them', () => {
    assert.deepEqual(
      openedTokens([
        { arg: '-progress', trusted: 'option' },
        { arg: 'pipe:1', trusted: 'value' },
      ]),
      [],
    );
  });
});
