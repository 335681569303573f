/** Parsing at the edge: turn untrusted objects into typed Processes, or errors naming field paths. */
import type { z } from 'zod';
import { type FieldError, ValidationError } from './field-error.ts';
import { Process } from './process.ts';

export { type FieldError, ValidationError } from './field-error.ts';

/** Formats a zod path the way Kubernetes names fields: `spec.input[1].id`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

/** Turns zod issues into field errors. */
export function fieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((i) => ({ path: fieldPath(i.path), message: i.message }));
}

/** Parses with a zod schema, throwing a ValidationError that names every bad field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new ValidationError(what, fieldErrors(result.error));
  return result.data;
}

/** Parses a Process object (from a manifest or the API server), filling in defaults. */
export function parseProcess(value: unknown): Process {
  return parseOrThrow(Process, value, 'Process');
}
