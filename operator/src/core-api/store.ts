/**
 * The API's reads and writes of Process resources in one namespace.
 *
 * Configs are written by server-side apply under the API's own field manager: the API owns
 * exactly the fields its clients sent, and a field left out of a replace is given up (it falls
 * back to another manager's value or the default). A field another manager holds (ownership.ts:
 * anything a server-side applier applied, anything an imperative writer set away from its
 * default) is never overwritten: the client gets 409 naming it. Commands and metadata are merge
 * patches of one field each, guarded by the same rule.
 */
import { API_VERSION, GROUP, KIND, PLURAL, type ProcessSpecInput, VERSION } from '@corecast/api';
import { applyOptions, isConflict, isNotFound, type Kube, mergePatchOptions } from '../kube/client.ts';
import { applyConflicts, CoreApiError, fromApiServer } from './errors.ts';
import { conflictPath, protectingOwners, valueAt } from './ownership.ts';
import type { ProcessObject } from './view.ts';

/** Field manager of the API's writes. */
export const API_FIELD_MANAGER = 'corecast-core-api';

/** Builds a merge patch setting `path` to `value` (null removes it). */
function patchAt(path: readonly string[], value: unknown): Record<string, unknown> {
  return path.reduceRight<Record<string, unknown>>((inner, key, i) => (i === path.length - 1 ? { [key]: value } : { [key]: inner }), {});
}

/** Process resources of one namespace, as the API sees them. */
export class ProcessStore {
  readonly #kube: Kube;
  readonly #namespace: string;
  /** Creates in flight per id: two API requests for one id never race each other here. */
  readonly #creating = new Set<string>();

  constructor(kube: Kube, namespace: string) {
    this.#kube = kube;
    this.#namespace = namespace;
  }

  #ref(name: string) {
    return { group: GROUP, version: VERSION, namespace: this.#namespace, plural: PLURAL, name };
  }

  /** Every Process of the namespace. */
  async list(): Promise<ProcessObject[]> {
    const list = await this.#kube.getJson<{ items?: ProcessObject[] }>(`/apis/${GROUP}/${VERSION}/namespaces/${this.#namespace}/${PLURAL}`);
    return list.items ?? [];
  }

  /** One Process; 404 when there is none. */
  async get(name: string): Promise<ProcessObject> {
    try {
      return (await this.#kube.custom.getNamespacedCustomObject(this.#ref(name))) as ProcessObject;
    } catch (err) {
      throw fromApiServer(err, name);
    }
  }

  /**
   * Creates a Process; 409 when the id is taken. Server-side apply has no "only if absent", so
   * the absence is checked first; between the check and the apply another writer may create
   * the object, and then the apply (without force) fails on every field it sets differently.
   */
  async create(name: string, spec: ProcessSpecInput): Promise<ProcessObject> {
    if (this.#creating.has(name)) throw exists(name);
    this.#creating.add(name);
    try {
      try {
        await this.#kube.custom.getNamespacedCustomObject(this.#ref(name));
        throw exists(name);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      return await this.#apply(name, spec);
    } finally {
      this.#creating.delete(name);
    }
  }

  /**
   * Replaces the API's part of an existing Process; 404 when there is none. The apply names the
   * uid read, so a Process deleted (or deleted and made again) in between is not written: an
   * apply would otherwise create it anew.
   */
  async replace(name: string, spec: ProcessSpecInput): Promise<ProcessObject> {
    const current = await this.get(name);
    try {
      return await this.#apply(name, spec, current.metadata.uid);
    } catch (err) {
      // A uid mismatch: gone (404 from the read) or made anew (the 409 stands).
      if (err instanceof CoreApiError && err.status === 409) await this.get(name);
      throw err;
    }
  }

  /**
   * Applies the spec without force. When that conflicts only with fields an imperative writer
   * left at their defaults (ownership.ts), the apply is made again with force, conditional on the
   * resourceVersion whose owners were judged. A create (`uid` undefined) never forces: a
   * conflict there means someone else made the object meanwhile.
   */
  async #apply(name: string, spec: ProcessSpecInput, uid?: string, resourceVersion?: string, attempt = 0): Promise<ProcessObject> {
    const metadata = { name, namespace: this.#namespace, ...(uid ? { uid } : {}), ...(resourceVersion ? { resourceVersion } : {}) };
    const body = { apiVersion: API_VERSION, kind: KIND, metadata, spec };
    const force = resourceVersion !== undefined;
    try {
      return (await this.#kube.custom.patchNamespacedCustomObject(
        { ...this.#ref(name), body, fieldManager: API_FIELD_MANAGER, force },
        applyOptions,
      )) as ProcessObject;
    } catch (err) {
      const fields = applyConflicts(err);
      // A forced apply meets a newer version when something else wrote in between (the
      // operator's status writes change the version too): start over, judging the owners again.
      if (force && !fields && isConflict(err) && attempt < 3) return this.#apply(name, spec, uid, undefined, attempt + 1);
      if (!fields || force || !uid) throw fromApiServer(err, name);
      const current = await this.get(name);
      if (current.metadata.uid !== uid) throw fromApiServer(err, name);
      const held = fields.flatMap((f) =>
        protectingOwners(current, conflictPath(f), API_FIELD_MANAGER).map((m) => `${f}: managed by "${m}"`),
      );
      if (held.length) throw new CoreApiError(409, `Process "${name}" has fields another manager owns with other values`, held);
      return this.#apply(name, spec, uid, current.metadata.resourceVersion, attempt);
    }
  }

  /** Deletes a Process (its children go with it); 404 when there is none. */
  async delete(name: string): Promise<void> {
    try {
      await this.#kube.custom.deleteNamespacedCustomObject({ ...this.#ref(name), propagationPolicy: 'Background' });
    } catch (err) {
      throw fromApiServer(err, name);
    }
  }

  /**
   * Sets one field with a merge patch, unless (with `guard`) another manager holds it
   * (ownership.ts; 409 naming the manager). `next` computes the value from the current object (null removes the
   * field). The patch carries the resourceVersion read, so a write in between makes it read
   * again instead of deciding on a stale object.
   */
  async setField(
    name: string,
    path: readonly string[],
    next: (p: ProcessObject) => unknown,
    opts: { guard: boolean } = { guard: true },
  ): Promise<ProcessObject> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.get(name);
      const value = next(current);
      const before = valueAt(current, path);
      if (JSON.stringify(before ?? null) === JSON.stringify(value ?? null)) return current;
      const owners = opts.guard ? protectingOwners(current, path, API_FIELD_MANAGER) : [];
      if (owners.length) {
        throw new CoreApiError(409, `Process "${name}": ${path.join('.')} is managed by ${owners.join(', ')}`, [
          `${path.join('.')} is set to ${JSON.stringify(before)} by ${owners.join(', ')}; change it there, or hand the field over to ${API_FIELD_MANAGER}`,
        ]);
      }
      const body = patchAt(path, value);
      const meta = (body.metadata ?? {}) as Record<string, unknown>;
      body.metadata = { ...meta, resourceVersion: current.metadata.resourceVersion };
      try {
        return (await this.#kube.custom.patchNamespacedCustomObject(
          { ...this.#ref(name), body, fieldManager: API_FIELD_MANAGER },
          mergePatchOptions,
        )) as ProcessObject;
      } catch (err) {
        if (isConflict(err) && attempt < 3) continue;
        throw fromApiServer(err, name);
      }
    }
  }
}

function exists(name: string): CoreApiError {
  return new CoreApiError(409, `Process "${name}" already exists`, [`a process with the id "${name}" already exists; replace it with PUT`]);
}
