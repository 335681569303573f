/**
 * The operator's API client: client-node's generated APIs (object-parameter calls, errors as
 * ApiException {code, body}) over one connection pool, with every request counted.
 *
 * client-node 2.0.1 builds a new undici Agent for every request (KubeConfig.createDispatcher is
 * not cached), i.e. a new TLS connection each time; under load that means thousands of
 * handshakes and sockets. The HTTP library below keeps the first dispatcher and reuses it
 * (its TLS options come from the kubeconfig and don't change; the token is still set per
 * request by the kubeconfig's authenticators, so rotated tokens are picked up).
 */
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  createConfiguration,
  EventsV1Api,
  HttpMethod,
  IsomorphicFetchHttpLibrary,
  type KubeConfig,
  NetworkingV1Api,
  PatchStrategy,
  type PromiseHttpLibrary,
  type RequestContext,
  type ResponseContext,
  ServerConfiguration,
  setHeaderOptions,
  wrapHttpLibrary,
} from '@kubernetes/client-node';

/** One finished request, for metrics and tests. */
export interface RequestRecord {
  /** HTTP method: GET, POST, PUT, PATCH, DELETE. */
  readonly method: string;
  /** URL path (no query). */
  readonly path: string;
  /** Query string, e.g. `fieldManager=…&force=true`. */
  readonly query: string;
  /** Response status, 0 when no response came. */
  readonly status: number;
}

/** Hooks around every request the generated APIs make. */
export interface RequestHooks {
  /** Before the request is sent (tests use it to make a request meet a changed object). */
  before?(ctx: RequestContext): Promise<void> | void;
  /** After the response (or failure). */
  after?(record: RequestRecord): void;
}

class PooledHttpLibrary implements PromiseHttpLibrary {
  readonly #inner = new IsomorphicFetchHttpLibrary();
  readonly #hooks: RequestHooks[];
  #dispatcher: ReturnType<RequestContext['getDispatcher']>;

  constructor(hooks: RequestHooks[]) {
    this.#hooks = hooks;
  }

  async send(ctx: RequestContext): Promise<ResponseContext> {
    const fresh = ctx.getDispatcher();
    if (fresh) {
      this.#dispatcher ??= fresh;
      ctx.setDispatcher(this.#dispatcher);
    }
    for (const h of this.#hooks) await h.before?.(ctx);
    const url = new URL(ctx.getUrl());
    const record = (status: number): RequestRecord => ({
      method: String(ctx.getHttpMethod()),
      path: url.pathname,
      query: url.search.slice(1),
      status,
    });
    try {
      const rsp = await this.#inner.send(ctx).toPromise();
      for (const h of this.#hooks) h.after?.(record(rsp.httpStatusCode));
      return rsp;
    } catch (err) {
      for (const h of this.#hooks) h.after?.(record(0));
      throw err;
    }
  }
}

/** The API groups the operator talks to, sharing one pool. */
export interface Kube {
  readonly kubeConfig: KubeConfig;
  /** GET a path and parse the JSON as it comes (no model classes; used for lists). */
  getJson<T>(path: string, query?: Record<string, string>): Promise<T>;
  /** POST a body and parse the JSON answer (a question such as a SelfSubjectAccessReview). */
  postJson<T>(path: string, body: unknown): Promise<T>;
  /**
   * A request whose response body is not needed (server-side applies, deletes): no model
   * classes on either side. A reconcile's writes return whole objects the operator never reads
   * (its caches learn them from the watch), and turning each into client-node's model classes
   * was most of the garbage a busy operator made.
   */
  send(
    method: 'PATCH' | 'DELETE' | 'POST',
    path: string,
    opts: { query?: Record<string, string>; body: unknown; contentType?: string },
  ): Promise<void>;
  readonly core: CoreV1Api;
  readonly networking: NetworkingV1Api;
  readonly custom: CustomObjectsApi;
  readonly events: EventsV1Api;
  readonly coordination: CoordinationV1Api;
}

/** Builds the clients for a kubeconfig; `hooks` see every request. */
export function makeKube(kubeConfig: KubeConfig, hooks: RequestHooks[] = []): Kube {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const httpApi = wrapHttpLibrary(new PooledHttpLibrary(hooks));
  const baseServer = new ServerConfiguration(cluster.server, {});
  const configuration = createConfiguration({ baseServer, authMethods: { default: kubeConfig }, httpApi });
  /** Sends a request; resolves with the response text, throws ApiException for a non-2xx status. */
  const request = async (
    method: HttpMethod,
    path: string,
    query: Record<string, string>,
    body?: { text: string; contentType: string },
  ): Promise<string> => {
    const ctx = baseServer.makeRequestContext(path, method);
    ctx.setHeaderParam('Accept', 'application/json');
    for (const [k, v] of Object.entries(query)) ctx.setQueryParam(k, v);
    if (body) {
      ctx.setHeaderParam('Content-Type', body.contentType);
      ctx.setBody(body.text);
    }
    await kubeConfig.applySecurityAuthentication(ctx);
    const rsp = await httpApi.send(ctx).toPromise();
    const text = await rsp.body.text();
    if (rsp.httpStatusCode < 200 || rsp.httpStatusCode > 299) {
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // Not JSON (a proxy's error page): keep the text.
      }
      throw new ApiException(rsp.httpStatusCode, `${method} ${path}: HTTP ${rsp.httpStatusCode}`, parsed, rsp.headers);
    }
    return text;
  };
  return {
    kubeConfig,
    async getJson<T>(path: string, query: Record<string, string> = {}): Promise<T> {
      return JSON.parse(await request(HttpMethod.GET, path, query)) as T;
    },
    async postJson<T>(path: string, body: unknown): Promise<T> {
      return JSON.parse(await request(HttpMethod.POST, path, {}, { text: JSON.stringify(body), contentType: 'application/json' })) as T;
    },
    async send(method, path, opts) {
      await request(HttpMethod[method], path, opts.query ?? {}, {
        text: JSON.stringify(opts.body),
        contentType: opts.contentType ?? 'application/json',
      });
    },
    core: new CoreV1Api(configuration),
    networking: new NetworkingV1Api(configuration),
    custom: new CustomObjectsApi(configuration),
    events: new EventsV1Api(configuration),
    coordination: new CoordinationV1Api(configuration),
  };
}

/** Call options that send a patch as a server-side apply. */
export const applyOptions = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);

/** Call options that send a patch as a JSON merge patch. */
export const mergePatchOptions = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** The HTTP status of an API error (0 when it is not one). */
export function statusCode(err: unknown): number {
  if (err instanceof ApiException) return err.code;
  const code = (err as { code?: unknown; statusCode?: unknown } | null)?.statusCode;
  return typeof code === 'number' ? code : 0;
}

/** The API server's message for an ApiException (its Status.message), else the error's own. */
export function apiMessage(err: unknown): string {
  if (err instanceof ApiException) {
    let body: unknown = err.body;
    if (typeof err.body === 'string') {
      const text: string = err.body;
      try {
        body = JSON.parse(text);
      } catch {
        return `${err.code}: ${text.slice(0, 500)}`;
      }
    }
    const message = (body as { message?: unknown } | null)?.message;
    return typeof message === 'string' ? `${err.code}: ${message}` : `${err.code}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** True for 404 Not Found. */
export const isNotFound = (err: unknown): boolean => statusCode(err) === 404;
/** True for 409 Conflict (a stale resourceVersion, an apply conflict, an existing name). */
export const isConflict = (err: unknown): boolean => statusCode(err) === 409;
