/**
 * The error every parser of Corecast raises for bad input, naming each bad field. Plain: no
 * schema library, so a long-running process can report (or rebuild) one without loading zod.
 */

/** One problem with an input, located by its field path (e.g. `spec.input[1].id`). */
export interface FieldError {
  /** Dotted path with [index] for list items; empty for the object itself. */
  readonly path: string;
  /** What is wrong. */
  readonly message: string;
}

/** Raised when a Process (or any zod-validated input) is invalid; `message` lists every field. */
export class ValidationError extends Error {
  /** What was parsed (e.g. `Process`, `CORECAST_EGRESS_CONFIG`): the start of `message`. */
  readonly what: string;
  /** Every problem found. */
  readonly errors: readonly FieldError[];
  constructor(what: string, errors: readonly FieldError[]) {
    super(`${what} is invalid: ${errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ')}`);
    this.name = 'ValidationError';
    this.what = what;
    this.errors = errors;
  }
}
