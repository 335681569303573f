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
import { setTimeout as sleep } from 'node:timers/promises';
import { setHeaderOptions } from '@kubernetes/client-node';
import { applyOptions, isConflict, isNotFound, type Kube, mergePatchOptions } from '../kube/client.ts';
import { applyConflicts, CoreApiError, fromApiServer, retryAfterSeconds } from './errors.ts';
import { coreIdOf, idAnnotations, processNameFor, quote } from './ids.ts';
import { conflictPath, protectingOwners, valueAt } from './ownership.ts';
import type { ProcessObject } from './view.ts';

/** A Process as the API addresses it: its Core id (what clients see) and its name. */
export interface ProcessRef {
  readonly id: string;
  readonly name: string;
}

/** The Core id and name of a Process read from the API server. */
export function refOf(p: ProcessObject): ProcessRef {
  return { id: coreIdOf(p), name: p.metadata.name };
}

/** Call options asking a list for metadata only (no spec or status): a fraction of the bytes. */
const metadataListOptions = setHeaderOptions('Accept', 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1');

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
  list(): Promise<ProcessObject[]> {
    return this.#list(() =>
      this.#kube.getJson<{ items?: ProcessObject[] }>(`/apis/${GROUP}/${VERSION}/namespaces/${this.#namespace}/${PLURAL}`),
    );
  }

  /** Every Process of the namespace, metadata only (names and annotations: what id lookups read). */
  #listMetadata(): Promise<ProcessObject[]> {
    return this.#list(
      () =>
        this.#kube.custom.listNamespacedCustomObject(
          { group: GROUP, version: VERSION, namespace: this.#namespace, plural: PLURAL },
          metadataListOptions,
        ) as Promise<{ items?: ProcessObject[] }>,
    );
  }

  /**
   * A list read. Lists are served from the API server's cache, which answers 429 while it
   * (re)initializes (a CRD just installed or changed): waited out up to three times, as long as
   * it asks for at most two seconds; then 503.
   */
  async #list(read: () => Promise<{ items?: ProcessObject[] }>): Promise<ProcessObject[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return (await read()).items ?? [];
      } catch (err) {
        const wait = retryAfterSeconds(err);
        if (wait === undefined || wait > 2 || attempt >= 3) throw fromApiServer(err, '');
        await sleep(wait * 1000);
      }
    }
  }

  /** One Process by name; 404 (naming `id`, the Core id asked for) when there is none. */
  async get(name: string, id = name): Promise<ProcessObject> {
    try {
      return (await this.#kube.custom.getNamespacedCustomObject(this.#ref(name))) as ProcessObject;
    } catch (err) {
      throw fromApiServer(err, id);
    }
  }

  /** The Process named `name`, or undefined when there is none. */
  async #tryGet(name: string): Promise<ProcessObject | undefined> {
    try {
      return (await this.#kube.custom.getNamespacedCustomObject(this.#ref(name))) as ProcessObject;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw fromApiServer(err, name);
    }
  }

  /**
   * The Process with Core id `id` (ids.ts); 404 when there is none. One read when the Process
   * has the name the id maps to (every Process the API made); otherwise (an unknown id, or a
   * Process kubectl made under another name with the id in its annotation) the namespace's list
   * is read too. Two Processes claiming one id: the one with the mapped name wins, then the
   * first by name.
   */
  async find(id: string): Promise<ProcessObject> {
    const direct = await this.#tryGet(processNameFor(id));
    if (direct && coreIdOf(direct) === id) return direct;
    const claimed = (await this.#listMetadata())
      .filter((p) => coreIdOf(p) === id)
      .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    if (!claimed[0]) throw new CoreApiError(404, `Unknown process ID ${quote(id)}`);
    return this.get(claimed[0].metadata.name, id);
  }

  /**
   * Creates a Process; 409 when a Process has the id (whatever its name) or the name is taken
   * by another id. Server-side apply has no "only if absent", so the absence is checked first
   * (one list read: creates are rare, and a Process kubectl made with the id in its annotation
   * must be seen); between the check and the apply another writer may create the object, and
   * then the apply (without force) fails on every field it sets differently.
   */
  async create(ref: ProcessRef, spec: ProcessSpecInput): Promise<ProcessObject> {
    const { id, name } = ref;
    if (this.#creating.has(name)) throw exists(id);
    this.#creating.add(name);
    try {
      const all = await this.#listMetadata();
      if (all.some((p) => coreIdOf(p) === id)) throw exists(id);
      const holder = all.find((p) => p.metadata.name === name);
      if (holder) {
        throw new CoreApiError(409, `Process ${quote(id)} cannot be created: its name is taken`, [
          `id: maps to the Process name "${name}", which the process ${quote(coreIdOf(holder))} has; choose another id`,
        ]);
      }
      return await this.#apply(ref, spec);
    } finally {
      this.#creating.delete(name);
    }
  }

  /**
   * Replaces the API's part of an existing Process; 404 when there is none. The apply names the
   * uid read, so a Process deleted (or deleted and made again) in between is not written: an
   * apply would otherwise create it anew.
   */
  async replace(ref: ProcessRef, spec: ProcessSpecInput): Promise<ProcessObject> {
    const current = await this.get(ref.name, ref.id);
    try {
      return await this.#apply(ref, spec, current.metadata.uid);
    } catch (err) {
      // A uid mismatch: gone (404 from the read) or made anew (the 409 stands).
      if (err instanceof CoreApiError && err.status === 409) await this.get(ref.name, ref.id);
      throw err;
    }
  }

  /**
   * Applies the spec without force. When that conflicts only with fields an imperative writer
   * left at their defaults (ownership.ts), the apply is made again with force, conditional on the
   * resourceVersion whose owners were judged. A create (`uid` undefined) never forces: a
   * conflict there means someone else made the object meanwhile. A Process whose name is not
   * its id gets the id annotation in every apply (the API owns it with the spec, or shares it).
   */
  async #apply(ref: ProcessRef, spec: ProcessSpecInput, uid?: string, resourceVersion?: string, attempt = 0): Promise<ProcessObject> {
    const { id, name } = ref;
    const annotations = idAnnotations(id, name);
    const metadata = {
      name,
      namespace: this.#namespace,
      ...(annotations ? { annotations } : {}),
      ...(uid ? { uid } : {}),
      ...(resourceVersion ? { resourceVersion } : {}),
    };
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
      if (force && !fields && isConflict(err) && attempt < 3) return this.#apply(ref, spec, uid, undefined, attempt + 1);
      if (!fields || force || !uid) throw fromApiServer(err, id);
      const current = await this.get(name, id);
      if (current.metadata.uid !== uid) throw fromApiServer(err, id);
      const held = fields.flatMap((f) =>
        protectingOwners(current, conflictPath(f), API_FIELD_MANAGER).map((m) => `${f}: managed by "${m}"`),
      );
      if (held.length) throw new CoreApiError(409, `Process ${quote(id)} has fields another manager owns with other values`, held);
      return this.#apply(ref, spec, uid, current.metadata.resourceVersion, attempt);
    }
  }

  /** Deletes a Process (its children go with it); 404 when there is none. */
  async delete(ref: ProcessRef): Promise<void> {
    try {
      await this.#kube.custom.deleteNamespacedCustomObject({ ...this.#ref(ref.name), propagationPolicy: 'Background' });
    } catch (err) {
      throw fromApiServer(err, ref.id);
    }
  }

  /**
   * Sets one field with a merge patch, unless (with `guard`) another manager holds it
   * (ownership.ts; 409 naming the manager). `next` computes the value from the current object (null removes the
   * field). The patch carries the resourceVersion read, so a write in between makes it read
   * again instead of deciding on a stale object.
   */
  async setField(
    ref: ProcessRef,
    path: readonly string[],
    next: (p: ProcessObject) => unknown,
    opts: { guard: boolean } = { guard: true },
  ): Promise<ProcessObject> {
    const { id, name } = ref;
    for (let attempt = 0; ; attempt++) {
      const current = await this.get(name, id);
      const value = next(current);
      const before = valueAt(current, path);
      if (JSON.stringify(before ?? null) === JSON.stringify(value ?? null)) return current;
      const owners = opts.guard ? protectingOwners(current, path, API_FIELD_MANAGER) : [];
      if (owners.length) {
        throw new CoreApiError(409, `Process ${quote(id)}: ${path.join('.')} is managed by ${owners.join(', ')}`, [
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
        throw fromApiServer(err, id);
      }
    }
  }
}

function exists(id: string): CoreApiError {
  return new CoreApiError(409, `Process ${quote(id)} already exists`, [
    `a process with the id ${quote(id)} already exists; replace it with PUT`,
  ]);
}
