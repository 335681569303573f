/**
 * Imports redirected in one thread through Node's synchronous module hooks
 * (`module.registerHooks`, which act on the thread that registers them): a package imported or
 * required by a given package's files resolves to a module of this folder instead. thread-crypto.ts
 * and werift-source.ts say which and why.
 */
import { registerHooks } from 'node:module';

/** One redirected import: `specifier` as written by a file whose URL matches `parent`, and what stands in. */
export interface StandIn {
  readonly specifier: string;
  readonly parent: RegExp;
  readonly url: string;
}

/** Where werift's own files are. */
export const WERIFT_FILES = /\/node_modules\/werift\//;

/** This folder's module `name`, as written or compiled to dist/. */
export const here = (name: string): string => new URL(`./${name}${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).href;

/** Resolves each of `standIns` to its stand-in in this thread, from now on. */
export function redirectImports(standIns: readonly StandIn[]): void {
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const parent = context.parentURL ?? '';
      const standIn = standIns.find((s) => s.specifier === specifier && s.parent.test(parent));
      return standIn ? { url: standIn.url, shortCircuit: true } : nextResolve(specifier, context);
    },
  });
}
