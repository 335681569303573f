/**
 * The API's errors: one type carrying Core's `api.Error` fields, and the one place where the
 * Kubernetes API server's answers (Status objects) become them. Clients see only messages meant
 * for them; anything else is logged and answered 500.
 */
import { ApiException } from '@kubernetes/client-node';
import { type ZodError, z } from 'zod';
import { quote } from './ids.ts';
import type { ErrorOut } from './schemas.ts';

/** An answer other than 2xx, in Core's error shape. */
export class CoreApiError extends Error {
  readonly status: number;
  readonly details: readonly string[];
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, message: string, details: readonly string[] = [], headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.details = details;
    this.headers = headers;
  }

  /** The body Core sends with an error. */
  body(): ErrorOut {
    return { code: this.status, message: this.message, details: [...this.details] };
  }
}

/** 400 naming each bad field (`field: why`). */
export function badRequest(message: string, fields: readonly { field: string; message: string }[]): CoreApiError {
  return new CoreApiError(
    400,
    message,
    fields.map((f) => (f.field ? `${f.field}: ${f.message}` : f.message)),
  );
}

/** Zod issues as `{field, message}`, the path written as `input[0].address`. */
export function zodFields(error: ZodError, rename: (path: string) => string = (p) => p): { field: string; message: string }[] {
  return error.issues.map((issue) => ({ field: rename(formatPath(issue.path)), message: issue.message }));
}

/** `['input', 0, 'id']` → `input[0].id`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

/** The parts of a Kubernetes Status the mapping reads. */
const Status = z
  .object({
    message: z.string().optional(),
    reason: z.string().optional(),
    details: z
      .object({
        retryAfterSeconds: z.number().optional(),
        causes: z
          .array(z.object({ reason: z.string().optional(), field: z.string().optional(), message: z.string().optional() }).loose())
          .optional(),
      })
      .loose()
      .optional(),
  })
  .loose();

/** The status code and Status body of a failed API server call, if it is one. */
export function apiFailure(err: unknown): { code: number; status: z.output<typeof Status> } | undefined {
  if (!(err instanceof ApiException)) return undefined;
  let body: unknown = err.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      body = {};
    }
  }
  const parsed = Status.safeParse(body);
  return { code: err.code, status: parsed.success ? parsed.data : {} };
}

/** The fields of a server-side apply refused because other managers own them (409 FieldManagerConflict). */
export function applyConflicts(err: unknown): string[] | undefined {
  const f = apiFailure(err);
  if (f?.code !== 409) return undefined;
  const fields = (f.status.details?.causes ?? []).filter((c) => c.reason === 'FieldManagerConflict' && c.field).map((c) => c.field!);
  return fields.length ? fields : undefined;
}

/**
 * A refused write as Core's error: 422 (the CRD's schema or CEL rules) → 400 with each cause;
 * 409 (an apply conflict: a field another manager owns with another value, or a stale
 * version) → 409 naming the fields. Anything else is returned as is, for the caller to throw.
 */
export function fromApiServer(err: unknown, id: string): unknown {
  const f = apiFailure(err);
  if (!f) return err;
  const causes = (f.status.details?.causes ?? []).map((c) => [c.field, c.message].filter(Boolean).join(': '));
  if (f.code === 422 || f.code === 400) {
    return new CoreApiError(400, `Invalid process config for ${quote(id)}`, causes.length ? causes : [f.status.message ?? 'refused']);
  }
  if (f.code === 409) {
    const owned = f.status.reason === 'Conflict' && causes.length > 0;
    return new CoreApiError(
      409,
      owned
        ? `Process ${quote(id)} has fields another manager owns with other values`
        : `Process ${quote(id)} changed meanwhile, try again`,
      owned ? causes : [f.status.message ?? ''],
    );
  }
  if (f.code === 404) return new CoreApiError(404, `Unknown process ID ${quote(id)}`);
  if (f.code === 429) {
    // The API server is overloaded or its storage for the resource is (re)initializing (a
    // CRD just installed or changed): the client is asked to come back, as the server asks.
    const wait = retryAfterSeconds(err) ?? 1;
    return new CoreApiError(503, 'The Kubernetes API server asks to try again later', [f.status.message ?? ''], {
      'Retry-After': String(wait),
    });
  }
  return err;
}

/** The seconds a 429 from the API server asks to wait (its Status, else its header); undefined for any other failure. */
export function retryAfterSeconds(err: unknown): number | undefined {
  const f = apiFailure(err);
  if (f?.code !== 429) return undefined;
  const header = Number((err as ApiException<unknown>).headers?.['retry-after']);
  const seconds = f.status.details?.retryAfterSeconds ?? (Number.isFinite(header) ? header : 1);
  return Math.min(Math.max(seconds, 0), 60);
}
