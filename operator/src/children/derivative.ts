/**
 * "Does the live object already say everything the desired one says?" — apimachinery's
 * `equality.Semantic.DeepDerivative`, with list items matched by key.
 *
 * The API server fills in defaults (imagePullPolicy, clusterIP, probe timeouts…) and other
 * controllers may add list items (an injected sidecar, a volume), so a live object is a
 * superset of what was applied. A reconcile applies only when this finds a difference: an
 * unchanged cluster then sees no writes at all, and a field edited by hand is noticed and put back.
 */

/** Keys that identify list items, tried in order (as the API's list-map keys do). */
const ITEM_KEYS = ['uid', 'name', 'type', 'mountPath'] as const;

function itemKey(item: unknown): string | undefined {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return undefined;
  const obj = item as Record<string, unknown>;
  for (const k of ITEM_KEYS) {
    if (typeof obj[k] === 'string') return `${k}=${obj[k]}`;
  }
  return undefined;
}

const isEmpty = (v: unknown) =>
  v === undefined || v === null || (Array.isArray(v) ? v.length === 0 : typeof v === 'object' && Object.keys(v).length === 0);

/**
 * The path of the first field set in `desired` that `live` lacks or holds differently, or
 * undefined when `live` says everything `desired` says. Keyed lists (items with a uid, name,
 * type or mountPath, each key once) match items by key and ignore extra live items; other lists
 * must match item by item. An empty desired value ({} or []) is satisfied by an absent field.
 */
export function derivativeDiff(desired: unknown, live: unknown, path = ''): string | undefined {
  if (desired === undefined) return undefined;
  if (desired === null || typeof desired !== 'object') return desired === live ? undefined : path || '.';
  if (isEmpty(desired) && (live === undefined || live === null)) return undefined;
  if (Array.isArray(desired)) {
    if (!Array.isArray(live)) return path || '.';
    const keys = desired.map(itemKey);
    // Keys that repeat (an HTTPRoute's parentRefs naming one Gateway per listener) identify
    // nothing: such lists are compared item by item.
    if (keys.every((k) => k !== undefined) && new Set(keys).size === keys.length) {
      const byKey = new Map(live.map((item) => [itemKey(item), item] as const));
      for (let i = 0; i < desired.length; i++) {
        const found = derivativeDiff(desired[i], byKey.get(keys[i]), `${path}[${keys[i]}]`);
        if (found) return found;
      }
      return undefined;
    }
    if (desired.length !== live.length) return `${path}.length`;
    for (let i = 0; i < desired.length; i++) {
      const found = derivativeDiff(desired[i], live[i], `${path}[${i}]`);
      if (found) return found;
    }
    return undefined;
  }
  if (live === null || typeof live !== 'object' || Array.isArray(live)) return path || '.';
  const liveObj = live as Record<string, unknown>;
  for (const [k, v] of Object.entries(desired as Record<string, unknown>)) {
    const found = derivativeDiff(v, liveObj[k], path ? `${path}.${k}` : k);
    if (found) return found;
  }
  return undefined;
}

/** True when `live` says everything `desired` says (see derivativeDiff). */
export function isDerivative(desired: unknown, live: unknown): boolean {
  return derivativeDiff(desired, live) === undefined;
}

/**
 * derivativeDiff for a whole object, ignoring apiVersion and kind: list responses (and so the
 * informer caches) carry them only on the list, not on each item.
 */
export function objectDiff(
  desired: { metadata?: unknown; spec?: unknown },
  live: { metadata?: unknown; spec?: unknown },
): string | undefined {
  return derivativeDiff({ metadata: desired.metadata, spec: desired.spec }, { metadata: live.metadata, spec: live.spec });
}
