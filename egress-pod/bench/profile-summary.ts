/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. `npm run bench:egress -- --cpu-prof DIR`):
 * self time by function and by package, and the inclusive time of a few fan-out stages.
 *
 *   node egress-pod/bench/profile-summary.ts DIR/CPU.*.cpuprofile [--top 30]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
  hitCount?: number;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '30' }, callers: { type: 'string' } },
});
const file = positionals[0];
if (!file) {
  console.error('usage: profile-summary.ts FILE.cpuprofile [--top N]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

// Self time per node from the sample timeline (µs).
const self = new Map<number, number>();
profile.samples.forEach((id, i) => {
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
});
const totalUs = [...self.values()].reduce((a, b) => a + b, 0);

const where = (n: Node) => {
  const url = n.callFrame.url.replace(/^file:\/\//, '');
  const m = /node_modules\/([^/]+)\/(.*)$/.exec(url);
  const short = m ? `${m[1]}/${m[2]!.split('/').slice(-2).join('/')}` : url.split('/').slice(-2).join('/');
  return `${n.callFrame.functionName || '(anonymous)'} ${short}:${n.callFrame.lineNumber + 1}`;
};
const pkg = (n: Node) => {
  const url = n.callFrame.url;
  if (!url) return n.callFrame.functionName.startsWith('(') ? n.callFrame.functionName : '(native)';
  if (url.startsWith('node:')) return url.split('/')[0]!.replace(/^node:internal.*/, 'node:internal');
  const m = /node_modules\/([^/]+)/.exec(url);
  return m ? m[1]! : url.includes('/egress-pod/') ? 'egress-pod' : url.split('/').slice(-2).join('/');
};

const sum = (key: (n: Node) => string) => {
  const out = new Map<string, number>();
  for (const [id, us] of self) {
    const k = key(byId.get(id)!);
    out.set(k, (out.get(k) ?? 0) + us);
  }
  return [...out].sort((a, b) => b[1] - a[1]);
};
const pct = (us: number) => `${((100 * us) / totalUs).toFixed(1).padStart(5)} %`;

console.log(`total ${(totalUs / 1e6).toFixed(1)} s sampled`);
console.log('\n-- self time by package');
for (const [k, us] of sum(pkg).slice(0, 15)) console.log(`${pct(us)}  ${k}`);
console.log('\n-- self time by function');
for (const [k, us] of sum(where).slice(0, Number(values.top))) console.log(`${pct(us)}  ${k}`);

// Inclusive time of named frames (counted once per sample even when recursive).
const stages = ['dispatchRtp', 'encryptRtp', 'sendRtp', 'send', 'doSend', 'clone', 'serialize', 'createCipheriv', 'createHmac'];
const inclusive = new Map<string, number>();
for (const [id, us] of self) {
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const name = byId.get(cur)!.callFrame.functionName;
    if (stages.includes(name) && !seen.has(name)) {
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + us);
    }
  }
}
console.log('\n-- inclusive time of stages');
for (const name of stages) if (inclusive.has(name)) console.log(`${pct(inclusive.get(name)!)}  ${name}`);

// Who calls a function (--callers NAME): self time of NAME attributed to its callers' frames.
if (values.callers) {
  const byCaller = new Map<string, number>();
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    if (node.callFrame.functionName !== values.callers) continue;
    const chain: string[] = [];
    for (let cur = parent.get(id); cur !== undefined && chain.length < 4; cur = parent.get(cur)) chain.push(where(byId.get(cur)!));
    const key = chain.join(' < ');
    byCaller.set(key, (byCaller.get(key) ?? 0) + us);
  }
  console.log(`\n-- callers of ${values.callers}`);
  for (const [k, us] of [...byCaller].sort((a, b) => b[1] - a[1]).slice(0, 10)) console.log(`${pct(us)}  ${k}`);
}
