/**
 * Run by config-thread.test.ts in a process of its own: records every module this (main) thread
 * resolves, then starts the egress as the pod does (src/main.ts, or dist/main.js when given
 * `--compiled`), stops it once it has started, and prints the exit code and the modules as one
 * JSON line when the process exits (a refused configuration exits from inside main.ts).
 * Module hooks registered here see only this thread: the configuration check's own thread
 * loads the schemas, as it should.
 */
import { writeSync } from 'node:fs';
import { registerHooks } from 'node:module';

const modules: string[] = [];
registerHooks({
  resolve(specifier, context, nextResolve) {
    const resolved = nextResolve(specifier, context);
    modules.push(resolved.url);
    return resolved;
  },
});
process.on('exit', (code) => writeSync(1, `${JSON.stringify({ code, modules })}\n`));

await import(process.argv.includes('--compiled') ? '../dist/main.js' : '../src/main.ts');
// main.ts has started the egress (its top-level await is over): stop it as Kubernetes would.
process.kill(process.pid, 'SIGTERM');
