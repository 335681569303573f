/**
 * The errors a WHEP request can end in, and the one place that maps them to HTTP statuses
 * (egress-pod/README.md, "WHEP behaviour"). Messages are written for the client; nothing internal leaks through them.
 */

/** Every kind of client-visible failure. */
export type WhepErrorKind =
  | 'bad-request'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'method-not-allowed'
  | 'not-acceptable'
  | 'no-source'
  | 'precondition-failed'
  | 'payload-too-large'
  | 'unsupported-media-type'
  | 'unprocessable'
  | 'precondition-required'
  | 'too-many'
  | 'stream-full'
  | 'pod-full'
  | 'draining'
  | 'bad-gateway'
  | 'no-candidates'
  | 'gather-timeout'
  | 'internal';

/** HTTP status and problem title of each kind. */
const STATUS: Record<WhepErrorKind, readonly [number, string]> = {
  'bad-request': [400, 'Bad Request'],
  unauthorized: [401, 'Unauthorized'],
  forbidden: [403, 'Forbidden'],
  'not-found': [404, 'Not Found'],
  'method-not-allowed': [405, 'Method Not Allowed'],
  'not-acceptable': [406, 'Not Acceptable'],
  'no-source': [409, 'Conflict'],
  'precondition-failed': [412, 'Precondition Failed'],
  'payload-too-large': [413, 'Content Too Large'],
  'unsupported-media-type': [415, 'Unsupported Media Type'],
  unprocessable: [422, 'Unprocessable Content'],
  'precondition-required': [428, 'Precondition Required'],
  // One credential or one client address at its session limit: its own doing, not the server's
  // (RFC 6585 §4), unlike the viewer caps below (503).
  'too-many': [429, 'Too Many Requests'],
  internal: [500, 'Internal Server Error'],
  'stream-full': [503, 'Service Unavailable'],
  'pod-full': [503, 'Service Unavailable'],
  // A replica being drained takes nobody new; its viewers are moving to the other replicas.
  draining: [503, 'Service Unavailable'],
  // The replica holding a session did not answer replica 0's forward.
  'bad-gateway': [502, 'Bad Gateway'],
  'no-candidates': [503, 'Service Unavailable'],
  'gather-timeout': [504, 'Gateway Timeout'],
};

/** A failure with a message meant for the client, and the headers that go with it. */
export class WhepError extends Error {
  /** What went wrong, as a kind that maps to a status. */
  readonly kind: WhepErrorKind;
  /** Extra response headers (Retry-After, WWW-Authenticate, Allow). */
  readonly headers: Readonly<Record<string, string>>;
  constructor(kind: WhepErrorKind, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'WhepError';
    this.kind = kind;
    this.headers = headers;
  }
}

/** The HTTP status of an error kind. */
export function statusOf(kind: WhepErrorKind): number {
  return STATUS[kind][0];
}

/** An RFC 9457 problem-details body for an error. */
export function problem(err: WhepError): { type: string; title: string; status: number; detail: string } {
  const [status, title] = STATUS[err.kind];
  return { type: 'about:blank', title, status, detail: err.message };
}
