/**
 * The SDP the WHEP endpoint reads and writes, checked before werift sees it: the offer's
 * shape (RFC 8866), its codecs and directions, the candidates we are willing to use, and the
 * `application/trickle-ice-sdpfrag` bodies of PATCH (RFC 8840).
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { WhepError } from './errors.ts';

/** One codec of an m-section (from a=rtpmap and a=fmtp). */
export interface SdpCodec {
  /** RTP payload type. */
  readonly payloadType: number;
  /** Encoding name, as written. */
  readonly name: string;
  /** Clock rate in Hz. */
  readonly clockRate: number;
  /** Channels (audio), when given. */
  readonly channels?: number;
  /** fmtp parameters, keys lower-cased. */
  readonly params: Readonly<Record<string, string>>;
}

/** One m-section of an offer. */
export interface SdpMedia {
  /** `audio`, `video` or another media type. */
  readonly kind: string;
  /** a=mid, when given. */
  readonly mid?: string;
  /** The offerer's direction (RFC 8866 §6.7). */
  readonly direction: 'sendrecv' | 'recvonly' | 'sendonly' | 'inactive';
  /** Codecs in offer order. */
  readonly codecs: readonly SdpCodec[];
}

/** What the endpoint needs to know of an offer. */
export interface Offer {
  /** m-sections in order. */
  readonly media: readonly SdpMedia[];
}

const DIRECTIONS = new Set(['sendrecv', 'recvonly', 'sendonly', 'inactive']);

/** Splits an SDP body into lines, accepting CRLF or LF. */
export function sdpLines(sdp: string): string[] {
  return sdp.split(/\r?\n/).filter((l) => l.length > 0);
}

/** The m-sections an offer may have: one audio and one video, nothing else. */
const MEDIA_KINDS = new Set(['audio', 'video']);

/**
 * Refuses an offer whose m-sections are more than one audio and one video (a data channel, a
 * second video, hundreds of sections). werift builds a transceiver per m-section, and a
 * transport with its own sockets per section outside the BUNDLE group, so this check runs on
 * the text, before werift sees the offer. The status is 400 like every other offer the server
 * will not take apart: RFC 9110 §15.5.1, "the server cannot or will not process the request
 * due to something that is perceived to be a client error"; the message says what to send.
 */
function tooManySections(count: number, kind: string): WhepError {
  const what = MEDIA_KINDS.has(kind) ? `${count} m-sections` : `an m=${kind.slice(0, 20)} section`;
  return bad(`the offer has ${what}; an offer here has at most one audio and one video m-section`);
}

/** Parses and checks an offer's structure; throws a 400 WhepError naming what is wrong. */
export function parseOffer(sdp: string): Offer {
  const lines = sdpLines(sdp);
  if (lines[0] !== 'v=0') throw bad('the body is not an SDP offer: it must start with "v=0" (RFC 8866 §5)');
  // Counted first, on the raw lines: a flood of m-sections is refused before anything else is parsed.
  const mLines = lines.filter((l) => l.startsWith('m='));
  const kinds = mLines.map((l) => /^m=(\S*)/.exec(l)![1]!);
  const foreign = kinds.find((k) => !MEDIA_KINDS.has(k));
  if (foreign !== undefined) throw tooManySections(mLines.length, foreign);
  if (mLines.length > 2 || new Set(kinds).size !== kinds.length) throw tooManySections(mLines.length, 'audio');
  lines.forEach((line, i) => {
    if (!/^[a-z]=/.test(line)) throw bad(`SDP line ${i + 1} is not "<type>=<value>" (RFC 8866 §5)`);
  });
  const media: { kind: string; mid?: string; direction?: string; pts: number[]; codecs: Map<number, SdpCodec> }[] = [];
  let bundle: string[] | undefined;
  let sessionDirection = 'sendrecv';
  let hasUfrag = false;
  let hasPwd = false;
  let hasFingerprint = false;
  for (const line of lines) {
    if (line.startsWith('m=')) {
      const m = /^m=(\S+) (\d+)(?:\/\d+)? (\S+)((?: \S+)*)$/.exec(line);
      if (!m) throw bad(`malformed m-line "${line.slice(0, 80)}"`);
      media.push({ kind: m[1]!, pts: m[4]!.trim().split(' ').filter(Boolean).map(Number), codecs: new Map() });
      continue;
    }
    if (!line.startsWith('a=')) continue;
    const [attr, value = ''] = splitAttribute(line.slice(2));
    const current = media.at(-1);
    if (!current && attr === 'group' && value.startsWith('BUNDLE')) bundle = value.split(' ').slice(1).filter(Boolean);
    else if (attr === 'ice-ufrag') hasUfrag = true;
    else if (attr === 'ice-pwd') hasPwd = true;
    else if (attr === 'fingerprint') hasFingerprint = true;
    else if (DIRECTIONS.has(attr)) {
      if (current) current.direction = attr;
      else sessionDirection = attr;
    } else if (current && attr === 'mid') current.mid = value;
    else if (current && attr === 'rtpmap') addRtpmap(current.codecs, value);
    else if (current && attr === 'fmtp') addFmtp(current.codecs, value);
  }
  if (media.length === 0) throw bad('the offer has no m-line');
  if (!hasUfrag || !hasPwd) throw bad('the offer has no a=ice-ufrag / a=ice-pwd (RFC 8839 §5.4)');
  if (!hasFingerprint) throw bad('the offer has no a=fingerprint (RFC 8122 §5)');
  // One transport for both m-sections: WHEP viewers bundle (RFC 9143, max-bundle as in RFC 9725).
  if (media.length > 1 && !media.every((m) => m.mid !== undefined && bundle?.includes(m.mid))) {
    throw bad('the offer does not bundle its m-sections: a=group:BUNDLE must list the a=mid of each (RFC 9143)');
  }
  return {
    media: media.map((m) => ({
      kind: m.kind,
      ...(m.mid === undefined ? {} : { mid: m.mid }),
      direction: (m.direction ?? sessionDirection) as SdpMedia['direction'],
      codecs: m.pts.map((pt) => m.codecs.get(pt)).filter((c): c is SdpCodec => c !== undefined),
    })),
  };
}

function splitAttribute(text: string): [string, string?] {
  const colon = text.indexOf(':');
  return colon < 0 ? [text] : [text.slice(0, colon), text.slice(colon + 1)];
}

function addRtpmap(codecs: Map<number, SdpCodec>, value: string): void {
  const m = /^(\d+) ([^/\s]+)\/(\d+)(?:\/(\d+))?/.exec(value);
  if (!m) return;
  const pt = Number(m[1]);
  const previous = codecs.get(pt);
  codecs.set(pt, {
    payloadType: pt,
    name: m[2]!,
    clockRate: Number(m[3]),
    ...(m[4] ? { channels: Number(m[4]) } : {}),
    params: previous?.params ?? {},
  });
}

function addFmtp(codecs: Map<number, SdpCodec>, value: string): void {
  const m = /^(\d+) (.*)$/.exec(value);
  if (!m) return;
  const pt = Number(m[1]);
  const params: Record<string, string> = {};
  for (const part of m[2]!.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) params[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1).trim();
  }
  const previous = codecs.get(pt);
  codecs.set(pt, previous ? { ...previous, params } : { payloadType: pt, name: '', clockRate: 0, params });
}

/** H.264 profiles (profile_idc) whose decoders play our streams: Baseline, Main, High. */
const PLAYABLE_PROFILES = new Set(['42', '4d', '64']);

/** The profile-level-id werift is pinned to when the offer has it (werift note 3 in egress-pod/README.md). */
export const PREFERRED_PROFILE = '42e01f';

/** What an acceptable offer gets: the H.264 profile-level-id to pin in the answer. */
export interface OfferChoice {
  /** profile-level-id of the chosen H.264 codec, or undefined when the offer gives none. */
  readonly h264ProfileLevelId: string | undefined;
}

/**
 * Checks that the offer can receive our media: a receiving video m-line with H.264 in
 * packetization-mode 1 (FU-A, which the source uses) and a receiving audio m-line with Opus.
 * Throws a 406 WhepError otherwise.
 */
export function chooseCodecs(offer: Offer): OfferChoice {
  const video = offer.media.find((m) => m.kind === 'video');
  const audio = offer.media.find((m) => m.kind === 'audio');
  if (!video) throw notAcceptable('the offer has no video m-line; this stream is H.264 video with Opus audio');
  if (!audio) throw notAcceptable('the offer has no audio m-line; this stream is H.264 video with Opus audio');
  for (const m of [video, audio]) {
    if (m.direction === 'sendonly' || m.direction === 'inactive') {
      throw notAcceptable(`the offer's ${m.kind} m-line is ${m.direction}; a WHEP viewer offers recvonly or sendrecv`);
    }
  }
  const h264 = video.codecs.filter(
    (c) =>
      c.name.toLowerCase() === 'h264' &&
      c.clockRate === 90000 &&
      c.params['packetization-mode'] === '1' &&
      (c.params['profile-level-id'] === undefined || PLAYABLE_PROFILES.has(c.params['profile-level-id'].slice(0, 2).toLowerCase())),
  );
  if (h264.length === 0) {
    throw notAcceptable('the offer has no H.264 codec with packetization-mode=1 and a Baseline, Main or High profile');
  }
  const opus = audio.codecs.some((c) => c.name.toLowerCase() === 'opus' && c.clockRate === 48000);
  if (!opus) throw notAcceptable('the offer has no Opus (opus/48000/2) audio codec');
  const preferred = h264.find((c) => c.params['profile-level-id']?.toLowerCase() === PREFERRED_PROFILE);
  return { h264ProfileLevelId: (preferred ?? h264[0]!).params['profile-level-id']?.toLowerCase() };
}

/** Which remote candidates the pod will use. */
export interface CandidatePolicy {
  /** Accept IPv6 candidates. */
  readonly ipv6: boolean;
  /** Accept TCP candidates (ICE-TCP, RFC 6544). */
  readonly tcp: boolean;
  /** Accept loopback candidates (tests and the local demo; never in a pod). */
  readonly allowLoopback: boolean;
  /** Most remote candidates one ICE session uses (offer and trickle together). */
  readonly maxCandidates: number;
}

/** The fields of an a=candidate value that matter here (RFC 8839 §5.1). */
export interface Candidate {
  /** Component id (1 = RTP; with rtcp-mux the only one). */
  readonly component: number;
  /** `udp` or `tcp`, lower-cased. */
  readonly transport: string;
  /** Connection address. */
  readonly address: string;
  /** Port. */
  readonly port: number;
  /** host, srflx, prflx or relay. */
  readonly type: string;
}

/** Parses the value of an a=candidate attribute (without "a=candidate:"); undefined if malformed. */
export function parseCandidate(value: string): Candidate | undefined {
  const f = value.trim().split(/\s+/);
  if (f.length < 8 || f[6] !== 'typ') return undefined;
  const port = Number(f[5]);
  const component = Number(f[1]);
  if (!Number.isInteger(port) || port < 1 || port > 65535 || !Number.isInteger(component)) return undefined;
  return { component, transport: f[2]!.toLowerCase(), address: f[4]!, port, type: f[7]! };
}

/**
 * Whether a remote candidate is one we use. Dropped, silently (egress-pod/README.md, "WHEP behaviour"): mDNS `.local` names and
 * other host names (resolving them would send mDNS or DNS queries from the pod), unusable
 * addresses, RTCP components (rtcp-mux is required) and transports or families that are off.
 */
export function candidateUsable(c: Candidate, policy: CandidatePolicy): boolean {
  if (c.component !== 1) return false;
  if (!['host', 'srflx', 'prflx', 'relay'].includes(c.type)) return false;
  if (c.transport !== 'udp' && !(c.transport === 'tcp' && policy.tcp)) return false;
  const family = isIPv4(c.address) ? 'ipv4' : isIPv6(c.address) ? 'ipv6' : undefined;
  if (family === undefined || (family === 'ipv6' && !policy.ipv6)) return false;
  if (NEVER.check(c.address, family)) return false;
  return policy.allowLoopback || !LOOPBACK.check(c.address, family);
}

/**
 * Addresses a remote candidate may never have. Checks to them would reach the pod's own
 * network stack or its link, not a viewer: unspecified (0.0.0.0/8, ::), link-local
 * (169.254.0.0/16, fe80::/10, where cloud metadata services live), multicast and broadcast.
 * IPv4-mapped IPv6 addresses are checked as their IPv4 address.
 */
const NEVER = new BlockList();
NEVER.addSubnet('0.0.0.0', 8, 'ipv4');
NEVER.addSubnet('169.254.0.0', 16, 'ipv4');
NEVER.addSubnet('224.0.0.0', 4, 'ipv4');
NEVER.addAddress('255.255.255.255', 'ipv4');
NEVER.addAddress('::', 'ipv6');
NEVER.addSubnet('fe80::', 10, 'ipv6');
NEVER.addSubnet('ff00::', 8, 'ipv6');

/** Loopback (127.0.0.0/8, ::1): the pod's own services; allowed only for tests and the local demo. */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/**
 * Removes the candidates we do not use from an SDP (offer or restart offer), and keeps at most
 * `policy.maxCandidates` of the rest, in order: the remote candidates of a new ICE session.
 */
export function dropUnusableCandidates(sdp: string, policy: CandidatePolicy): { sdp: string; used: number } {
  let used = 0;
  const out = rewriteCandidates(sdp, (value) => {
    const c = parseCandidate(value);
    if (c === undefined || !candidateUsable(c, policy) || used >= policy.maxCandidates) return false;
    used++;
    return true;
  });
  return { sdp: out, used };
}

/** Keeps only the answer candidates `keep` accepts (advertise.only, loopback-only tests). */
export function filterAnswerCandidates(sdp: string, keep: (c: Candidate) => boolean): string {
  return rewriteCandidates(sdp, (value) => {
    const c = parseCandidate(value);
    return c !== undefined && keep(c);
  });
}

function rewriteCandidates(sdp: string, keep: (value: string) => boolean): string {
  const out = sdpLines(sdp).filter((l) => !l.startsWith('a=candidate:') || keep(l.slice('a=candidate:'.length)));
  return `${out.join('\r\n')}\r\n`;
}

/** Number of a=candidate lines of the first m-section (with BUNDLE, the only transport). */
export function countCandidates(sdp: string): number {
  const lines = sdpLines(sdp);
  const first = lines.findIndex((l) => l.startsWith('m='));
  const next = lines.findIndex((l, i) => i > first && l.startsWith('m='));
  return lines.slice(first, next < 0 ? undefined : next).filter((l) => l.startsWith('a=candidate:')).length;
}

/** A parsed `application/trickle-ice-sdpfrag` body (RFC 8840 §9). */
export interface SdpFrag {
  /** a=ice-ufrag, when given (a new one means an ICE restart, RFC 8840 §4.4). */
  readonly ufrag?: string;
  /** a=ice-pwd, when given. */
  readonly pwd?: string;
  /** Candidate values (without "a=candidate:"), each with the mid of its m-section. */
  readonly candidates: readonly { readonly value: string; readonly mid?: string }[];
  /** a=end-of-candidates was present. */
  readonly endOfCandidates: boolean;
}

/** ICE ufrag/pwd alphabet and lengths (RFC 8839 §5.4: ice-char, 4–256 and 22–256). */
const ICE_CHARS = /^[A-Za-z0-9+/]+$/;

/** Parses a trickle-ICE fragment; throws a 400 WhepError when it is not one. */
export function parseSdpFrag(body: string): SdpFrag {
  const lines = sdpLines(body);
  if (lines.length === 0) throw bad('the PATCH body is empty; send an SDP fragment (RFC 8840)');
  let ufrag: string | undefined;
  let pwd: string | undefined;
  let mid: string | undefined;
  let endOfCandidates = false;
  const candidates: { value: string; mid?: string }[] = [];
  for (const [i, line] of lines.entries()) {
    if (!/^[a-z]=/.test(line)) throw bad(`fragment line ${i + 1} is not "<type>=<value>" (RFC 8840 §9)`);
    if (line.startsWith('m=')) mid = undefined;
    else if (line.startsWith('a=mid:')) mid = line.slice(6);
    else if (line.startsWith('a=ice-ufrag:')) ufrag = line.slice(12);
    else if (line.startsWith('a=ice-pwd:')) pwd = line.slice(10);
    else if (line === 'a=end-of-candidates') endOfCandidates = true;
    else if (line.startsWith('a=candidate:')) candidates.push({ value: line.slice(12), ...(mid === undefined ? {} : { mid }) });
  }
  if ((ufrag === undefined) !== (pwd === undefined)) throw bad('the fragment needs both a=ice-ufrag and a=ice-pwd, or neither');
  if (ufrag !== undefined && (!ICE_CHARS.test(ufrag) || ufrag.length < 4 || ufrag.length > 256)) {
    throw bad('a=ice-ufrag must be 4–256 ice-chars (RFC 8839 §5.4)');
  }
  if (pwd !== undefined && (!ICE_CHARS.test(pwd) || pwd.length < 22 || pwd.length > 256)) {
    throw bad('a=ice-pwd must be 22–256 ice-chars (RFC 8839 §5.4)');
  }
  if (ufrag === undefined && candidates.length === 0 && !endOfCandidates) {
    throw bad('the fragment has no candidates, no end-of-candidates and no ICE credentials');
  }
  return { ...(ufrag === undefined ? {} : { ufrag }), ...(pwd === undefined ? {} : { pwd }), candidates, endOfCandidates };
}

/** The ICE credentials of an SDP (first occurrence). */
export function iceCredentials(sdp: string): { ufrag: string; pwd: string } {
  const ufrag = /^a=ice-ufrag:(\S+)/m.exec(sdp)?.[1] ?? '';
  const pwd = /^a=ice-pwd:(\S+)/m.exec(sdp)?.[1] ?? '';
  return { ufrag, pwd };
}

/**
 * The offer of an ICE restart, built from the previous remote offer: new credentials, the
 * fragment's candidates in the first (bundled) m-section, nothing else changed (RFC 8840 §4.4).
 */
export function restartOffer(previous: string, frag: SdpFrag): string {
  const out: string[] = [];
  let mSections = 0;
  for (const line of sdpLines(previous)) {
    if (line.startsWith('a=candidate:') || line === 'a=end-of-candidates') continue;
    if (line.startsWith('a=ice-ufrag:')) out.push(`a=ice-ufrag:${frag.ufrag}`);
    else if (line.startsWith('a=ice-pwd:')) out.push(`a=ice-pwd:${frag.pwd}`);
    else out.push(line);
    if (line.startsWith('m=') && ++mSections === 1) {
      out.push(...frag.candidates.map((c) => `a=candidate:${c.value}`));
      if (frag.endOfCandidates) out.push('a=end-of-candidates');
    }
  }
  return `${out.join('\r\n')}\r\n`;
}

/** The answer fragment of an ICE restart (RFC 9725 §4.3.2): credentials and candidates. */
export function answerFragment(answer: string): string {
  const lines = sdpLines(answer);
  const { ufrag, pwd } = iceCredentials(answer);
  const out = [`a=ice-ufrag:${ufrag}`, `a=ice-pwd:${pwd}`];
  const group = lines.find((l) => l.startsWith('a=group:BUNDLE'));
  if (group) out.push(group);
  const first = lines.findIndex((l) => l.startsWith('m='));
  const next = lines.findIndex((l, i) => i > first && l.startsWith('m='));
  const section = lines.slice(first, next < 0 ? undefined : next);
  out.push(section[0]!);
  const mid = section.find((l) => l.startsWith('a=mid:'));
  if (mid) out.push(mid);
  out.push(...section.filter((l) => l.startsWith('a=candidate:')), 'a=end-of-candidates');
  return `${out.join('\r\n')}\r\n`;
}

function bad(message: string): WhepError {
  return new WhepError('bad-request', message);
}

function notAcceptable(message: string): WhepError {
  return new WhepError('not-acceptable', message);
}
