/** Test fixtures: SDP built from small parts. */

/** A Chrome-like recvonly offer; parts can be replaced. */
export function offer(o: { video?: string; audio?: string; videoDir?: string; candidates?: string[]; ice?: boolean } = {}): string {
  const ice = o.ice === false ? [] : ['a=ice-ufrag:abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx'];
  return [
    'v=0',
    'o=- 1 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0 1',
    'm=video 9 UDP/TLS/RTP/SAVPF 96 102',
    'c=IN IP4 0.0.0.0',
    ...ice,
    'a=fingerprint:sha-256 AA:BB',
    'a=setup:actpass',
    'a=mid:0',
    `a=${o.videoDir ?? 'recvonly'}`,
    'a=rtcp-mux',
    'a=rtpmap:96 VP8/90000',
    ...(o.video ?? 'a=rtpmap:102 H264/90000|a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f').split('|'),
    ...(o.candidates ?? []),
    'm=audio 9 UDP/TLS/RTP/SAVPF 111',
    'c=IN IP4 0.0.0.0',
    ...ice,
    'a=fingerprint:sha-256 AA:BB',
    'a=setup:actpass',
    'a=mid:1',
    'a=recvonly',
    'a=rtcp-mux',
    ...(o.audio ?? 'a=rtpmap:111 opus/48000/2').split('|'),
    '',
  ].join('\r\n');
}
