/**
 * Cross-field rules a plain schema cannot say. Each rule is written once and used twice:
 * as a CEL expression in the CRD (`x-kubernetes-validations`, enforced by the API server at
 * apply) and as a TypeScript check in the zod schema (enforced by the operator and the local
 * demo). Both give the same message, so a user sees one wording wherever the check fires.
 */

/** A rule about one object, in both CEL and TypeScript. */
export interface CrossFieldRule<T> {
  /** CEL expression over `self` (the object the rule is attached to). */
  readonly cel: string;
  /** The same condition in TypeScript. */
  readonly check: (self: T) => boolean;
  /** What the user reads when the rule fails. */
  readonly message: string;
  /** Where the error points, relative to the object (CEL `fieldPath`), if not at the object. */
  readonly field?: string;
}

/** The CRD form of a list of rules. */
export function toValidations<T>(rules: readonly CrossFieldRule<T>[]): object[] {
  return rules.map((r) => ({
    rule: r.cel,
    message: r.message,
    ...(r.field ? { fieldPath: `.${r.field}` } : {}),
  }));
}

/** Rule: the `id` of every item of a list is unique. */
export function uniqueIds(listName: string): CrossFieldRule<ReadonlyArray<{ id: string }>> {
  return {
    cel: 'self.all(x, self.exists_one(y, y.id == x.id))',
    check: (items) => new Set(items.map((i) => i.id)).size === items.length,
    message: `${listName} ids must be unique`,
  };
}
