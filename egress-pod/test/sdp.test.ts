import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WhepError } from '../src/whep/errors.ts';
import {
  answerFragment,
  candidateUsable,
  chooseCodecs,
  dropUnusableCandidates,
  filterAnswerCandidates,
  parseCandidate,
  parseOffer,
  parseSdpFrag,
  restartOffer,
} from '../src/whep/sdp.ts';
import { offer } from './fixtures.ts';

function throwsKind(fn: () => unknown, kind: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof WhepError && err.kind === kind && message.test(err.message));
}

describe('parseOffer', () => {
  it('reads m-sections, directions and codecs', () => {
    const o = parseOffer(offer());
    assert.deepEqual(
      o.media.map((m) => [m.kind, m.mid, m.direction, m.codecs.map((c) => c.name)]),
      [
        ['video', '0', 'recvonly', ['VP8', 'H264']],
        ['audio', '1', 'recvonly', ['opus']],
      ],
    );
  });
  const bad: [string, string, RegExp][] = [
    ['not SDP', 'hello', /must start with "v=0"/],
    ['a broken line', 'v=0\r\nthis is not sdp\r\n', /line 2 is not "<type>=<value>"/],
    ['no m-line', 'v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\n', /no m-line/],
    ['a malformed m-line', 'v=0\r\nm=video\r\n', /malformed m-line/],
    ['no ICE credentials', offer({ ice: false }), /no a=ice-ufrag/],
    ['no fingerprint', offer().replace(/a=fingerprint.*\r\n/g, ''), /no a=fingerprint/],
  ];
  for (const [name, sdp, message] of bad) it(`400 for ${name}`, () => throwsKind(() => parseOffer(sdp), 'bad-request', message));

  const audio = offer().slice(offer().indexOf('m=audio'));
  const shapes: [string, string, RegExp][] = [
    ['200 m-sections (m-section flood)', offer() + audio.repeat(198), /200 m-sections; an offer here has at most one audio and one video/],
    [
      'a second audio m-section (m-section flood)',
      offer().replace('BUNDLE 0 1', 'BUNDLE 0 1 2') + audio.replace('a=mid:1', 'a=mid:2'),
      /3 m-sections/,
    ],
    [
      'a data channel (m-section flood)',
      `${offer()}m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:2\r\n`,
      /an m=application section; an offer here has at most one audio and one video/,
    ],
    [
      'two video m-sections only (m-section flood)',
      offer().replace('m=audio 9 UDP/TLS/RTP/SAVPF 111', 'm=video 9 UDP/TLS/RTP/SAVPF 111'),
      /2 m-sections/,
    ],
    ['no BUNDLE group (m-section flood)', offer().replace('a=group:BUNDLE 0 1\r\n', ''), /does not bundle/],
    ['a BUNDLE group missing a section (m-section flood)', offer().replace('a=group:BUNDLE 0 1', 'a=group:BUNDLE 0'), /does not bundle/],
  ];
  for (const [name, sdp, message] of shapes) it(`400 for ${name}`, () => throwsKind(() => parseOffer(sdp), 'bad-request', message));
});

describe('chooseCodecs', () => {
  it('pins 42e01f when offered', () => assert.equal(chooseCodecs(parseOffer(offer())).h264ProfileLevelId, '42e01f'));
  it('takes the first playable profile otherwise', () => {
    const video = 'a=rtpmap:102 H264/90000|a=fmtp:102 packetization-mode=1;profile-level-id=640c1f';
    assert.equal(chooseCodecs(parseOffer(offer({ video }))).h264ProfileLevelId, '640c1f');
  });
  const refused: [string, Parameters<typeof offer>[0], RegExp][] = [
    ['no H.264', { video: 'a=rtpmap:97 VP9/90000' }, /no H.264 codec/],
    ['H.264 in packetization-mode 0 only', { video: 'a=rtpmap:102 H264/90000|a=fmtp:102 profile-level-id=42e01f' }, /packetization-mode=1/],
    [
      'an unplayable H.264 profile',
      { video: 'a=rtpmap:102 H264/90000|a=fmtp:102 packetization-mode=1;profile-level-id=f4001f' },
      /Baseline, Main or High/,
    ],
    ['no Opus', { audio: 'a=rtpmap:0 PCMU/8000' }, /no Opus/],
    ['a sendonly video m-line', { videoDir: 'sendonly' }, /video m-line is sendonly/],
  ];
  for (const [name, o, message] of refused)
    it(`406 for ${name}`, () => throwsKind(() => chooseCodecs(parseOffer(offer(o))), 'not-acceptable', message));
  it('406 without an audio m-line', () => {
    const videoOnly = offer().split('m=audio')[0]!;
    throwsKind(() => chooseCodecs(parseOffer(videoOnly)), 'not-acceptable', /no audio m-line/);
  });
});

describe('candidates', () => {
  const policy = { ipv6: false, tcp: false, allowLoopback: false, maxCandidates: 20 };
  const usable = (line: string, p = policy) => {
    const c = parseCandidate(line);
    return c !== undefined && candidateUsable(c, p);
  };
  it('keeps UDP candidates with IPv4 literals', () => assert.equal(usable('1 1 udp 2122260223 192.0.2.9 50000 typ host'), true));
  const dropped: [string, string][] = [
    ['an mDNS name (would send mDNS from the pod)', '1 1 udp 2122260223 4c7f-1a.local 50000 typ host'],
    ['a host name (would send DNS)', '1 1 udp 2122260223 turn.example.org 50000 typ relay'],
    ['an RTCP component', '1 2 udp 2122260223 192.0.2.9 50001 typ host'],
    ['TCP when ICE-TCP is off', '1 1 tcp 1518280447 192.0.2.9 9 typ host tcptype active'],
    ['IPv6 when IPv6 is off', '1 1 udp 2122260223 2001:db8::1 50000 typ host'],
    ['a multicast address', '1 1 udp 2122260223 239.1.1.1 50000 typ host'],
    ['a loopback address (candidate addresses)', '1 1 udp 2122260223 127.0.0.1 50000 typ host'],
    ['another loopback address (candidate addresses)', '1 1 udp 2122260223 127.8.9.10 50000 typ host'],
    ['a link-local address (candidate addresses)', '1 1 udp 2122260223 169.254.169.254 80 typ host'],
    ['the unspecified address (candidate addresses)', '1 1 udp 2122260223 0.0.0.0 50000 typ host'],
    ['an address in 0.0.0.0/8 (candidate addresses)', '1 1 udp 2122260223 0.1.2.3 50000 typ host'],
    ['the broadcast address', '1 1 udp 2122260223 255.255.255.255 50000 typ host'],
    ['port 0', '1 1 udp 2122260223 192.0.2.9 0 typ host'],
    ['garbage', 'nonsense'],
  ];
  for (const [name, line] of dropped) it(`drops ${name}`, () => assert.equal(usable(line), false));
  it('keeps IPv6 and TCP when turned on', () => {
    assert.equal(usable('1 1 udp 2122260223 2001:db8::1 50000 typ host', { ...policy, ipv6: true }), true);
    assert.equal(usable('1 1 tcp 1518280447 192.0.2.9 9 typ host tcptype active', { ...policy, tcp: true }), true);
  });
  it('drops loopback, link-local, unspecified and multicast IPv6 addresses, also IPv4-mapped ones (candidate addresses)', () => {
    const v6 = { ...policy, ipv6: true };
    for (const address of ['::1', '::', 'fe80::1', 'FEBF::abcd', 'ff02::1', '::ffff:127.0.0.1', '::ffff:169.254.169.254']) {
      assert.equal(usable(`1 1 udp 2122260223 ${address} 50000 typ host`, v6), false, address);
    }
    assert.equal(usable('1 1 udp 2122260223 2001:db8::1 50000 typ host', v6), true);
  });
  it('keeps loopback only when allowed (tests), never link-local or unspecified (candidate addresses)', () => {
    const tests = { ...policy, ipv6: true, allowLoopback: true };
    assert.equal(usable('1 1 udp 2122260223 127.0.0.1 50000 typ host', tests), true);
    assert.equal(usable('1 1 udp 2122260223 ::1 50000 typ host', tests), true);
    assert.equal(usable('1 1 udp 2122260223 169.254.1.1 50000 typ host', tests), false);
    assert.equal(usable('1 1 udp 2122260223 fe80::1 50000 typ host', tests), false);
    assert.equal(usable('1 1 udp 2122260223 0.0.0.0 50000 typ host', tests), false);
  });
  it('keeps at most maxCandidates usable candidates of an offer, in order (candidate flood)', () => {
    const lines = Array.from({ length: 30 }, (_, i) => `a=candidate:${i} 1 udp 1 192.0.2.${i + 1} 5 typ host`);
    const { sdp, used } = dropUnusableCandidates(offer({ candidates: ['a=candidate:x 1 udp 1 127.0.0.1 5 typ host', ...lines] }), {
      ...policy,
      maxCandidates: 20,
    });
    assert.equal(used, 20);
    assert.deepEqual(sdp.match(/a=candidate.*/g), lines.slice(0, 20));
  });
  it('removes dropped candidates from an SDP and filters an answer', () => {
    const sdp = offer({ candidates: ['a=candidate:1 1 udp 1 x.local 5 typ host', 'a=candidate:2 1 udp 1 192.0.2.9 5 typ host'] });
    assert.deepEqual(dropUnusableCandidates(sdp, policy).sdp.match(/a=candidate.*/g), ['a=candidate:2 1 udp 1 192.0.2.9 5 typ host']);
    assert.equal(filterAnswerCandidates(sdp, (c) => c.address === '127.0.0.1').includes('a=candidate'), false);
  });
});

describe('trickle ICE fragments', () => {
  it('parses credentials, candidates with their mid and end-of-candidates', () => {
    const f = parseSdpFrag(
      'a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\na=candidate:1 1 udp 1 192.0.2.9 5 typ host\r\na=end-of-candidates\r\n',
    );
    assert.deepEqual(f, {
      ufrag: 'EsAw',
      pwd: 'P2uYro0UCOQ4zxjKXaWCBui1',
      candidates: [{ value: '1 1 udp 1 192.0.2.9 5 typ host', mid: '0' }],
      endOfCandidates: true,
    });
  });
  const bad: [string, string, RegExp][] = [
    ['an empty body', '', /empty/],
    ['a ufrag without pwd', 'a=ice-ufrag:EsAw\r\n', /both a=ice-ufrag and a=ice-pwd/],
    ['a too short pwd', 'a=ice-ufrag:EsAw\r\na=ice-pwd:short\r\n', /22–256 ice-chars/],
    ['a ufrag with bad characters', 'a=ice-ufrag:E s\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\n', /4–256 ice-chars/],
    ['nothing useful', 'a=foo:bar\r\n', /no candidates/],
    ['not SDP', 'hello world', /line 1/],
  ];
  for (const [name, body, message] of bad) it(`400 for ${name}`, () => throwsKind(() => parseSdpFrag(body), 'bad-request', message));

  it('builds a restart offer with new credentials and the fragment candidates in the first m-section', () => {
    const next = restartOffer(offer({ candidates: ['a=candidate:9 1 udp 1 192.0.2.1 1 typ host'] }), {
      ufrag: 'NEWU',
      pwd: 'NEWPWDNEWPWDNEWPWDNEWP',
      candidates: [{ value: '2 1 udp 1 192.0.2.2 2 typ host' }],
      endOfCandidates: true,
    });
    assert.deepEqual(next.match(/a=ice-ufrag:.*/g), ['a=ice-ufrag:NEWU', 'a=ice-ufrag:NEWU']);
    assert.deepEqual(next.match(/a=candidate.*/g), ['a=candidate:2 1 udp 1 192.0.2.2 2 typ host']);
  });
  it('answers a restart with credentials, the first m-line, its mid and candidates', () => {
    const frag = answerFragment(offer({ candidates: ['a=candidate:2 1 udp 1 127.0.0.1 2 typ host'] }));
    assert.equal(
      frag,
      'a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=group:BUNDLE 0 1\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 102\r\na=mid:0\r\na=candidate:2 1 udp 1 127.0.0.1 2 typ host\r\na=end-of-candidates\r\n',
    );
  });
});
