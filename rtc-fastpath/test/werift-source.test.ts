/**
 * leanWeriftSource (src/werift-source.ts) escapes werift's characters above U+00FF and replaces
 * its localeCompare calls. The escapes are only safe while each such character sits in a
 * comment: these tests parse the ES module bundles of the werift installed here and fail when one
 * appears in code (a string, a template, a regular expression or a name), where the escape would
 * have to be checked for what it means. And they fail when werift calls localeCompare anywhere
 * but the two places replaced.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { escapeWide, LOCALE_COMPARES, oneByteSource, weriftSource } from '../src/werift-source.ts';

/** The files a thread's `import('werift')` and `import('werift/nonstandard')` load. */
const BUNDLES = ['werift', 'werift/nonstandard'].map((specifier) => fileURLToPath(import.meta.resolve(specifier)));

/** Offsets of the characters above U+00FF in `text` that are not inside a comment. */
function wideOutsideComments(text: string, fileName: string): number[] {
  const file = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const tokens: [number, number][] = [];
  const walk = (node: ts.Node) => {
    if (node.kind >= ts.SyntaxKind.FirstJSDocNode && node.kind <= ts.SyntaxKind.LastJSDocNode) return;
    const children = node.getChildren(file);
    if (children.length === 0) tokens.push([node.getStart(file), node.getEnd()]);
    else children.forEach(walk);
  };
  walk(file);
  const wide: number[] = [];
  for (const m of text.matchAll(/[\u0100-\uffff]/g)) wide.push(m.index);
  return wide.filter((at) => tokens.some(([start, end]) => at >= start && at < end));
}

describe("werift's sources, one byte per character", () => {
  it('finds a wide character in code, and none in a comment (the check itself)', () => {
    const text = '// コメント\nconst a = 1; /* 注 */\nconst s = "日本";\n';
    const inCode = wideOutsideComments(text, 'probe.mjs');
    assert.deepEqual(
      inCode.map((at) => text[at]),
      ['日', '本'],
    );
  });

  for (const path of BUNDLES) {
    it(`${path.replace(/.*node_modules\//, '')}: every character above U+00FF is in a comment`, () => {
      const text = readFileSync(path, 'utf8');
      assert.deepEqual(wideOutsideComments(text, path), []);
    });
  }

  it('escapes every wide character as \\uXXXX, and nothing else changes', () => {
    const text = readFileSync(BUNDLES[0]!, 'utf8');
    const escaped = escapeWide(text);
    assert.equal(/[\u0100-\uffff]/.test(escaped), false);
    assert.ok(escaped.length > text.length, 'the bundle has wide characters to escape (else this hook saves nothing)');
    const wide = text.match(/[\u0100-\uffff]/g)?.length ?? 0;
    assert.equal(escaped.length, text.length + 5 * wide, 'each wide character became six ASCII characters');
    // Without the escapes (the bundle's own and the new ones) and the wide characters, both read the same.
    const bare = (t: string) => t.replace(/[\u0100-\uffff]/g, '').replace(/\\u[0-9a-f]{4}/gi, '');
    assert.ok(bare(escaped) === bare(text), 'nothing but the wide characters changed');
    // The hook's byte-level rewrite gives the same text, without decoding the file first.
    assert.ok(oneByteSource(readFileSync(BUNDLES[0]!)) === escaped, 'oneByteSource of the bundle is escapeWide of it');
  });

  it('oneByteSource: one, two, three and four UTF-8 bytes per character, as escapeWide writes them', () => {
    const text = 'a é ÿ Ā — 日本 😀 \\u3042 z';
    const out = oneByteSource(Buffer.from(text, 'utf8'));
    assert.equal(out, escapeWide(text));
    assert.equal(out, 'a é ÿ \\u0100 \\u2014 \\u65e5\\u672c \\ud83d\\ude00 \\u3042 z');
    // Nothing above U+00FF: nothing to do (V8 keeps Latin-1 one byte per character as it is).
    assert.equal(oneByteSource(Buffer.from('plain é ÿ', 'utf8')), undefined);
  });

  it("replaces werift's localeCompare calls, and only those are in its bundles", () => {
    const texts = BUNDLES.map((path) => readFileSync(path, 'utf8'));
    const count = (text: string, what: string) => text.split(what).length - 1;
    for (const [from] of LOCALE_COMPARES) {
      assert.ok(
        texts.some((t) => t.includes(from)),
        `werift no longer calls ${from}: LOCALE_COMPARES in src/werift-source.ts needs a look`,
      );
    }
    for (const text of texts) {
      assert.equal(
        count(text, 'localeCompare'),
        LOCALE_COMPARES.reduce((n, [from]) => n + count(text, from), 0),
        'a localeCompare call that LOCALE_COMPARES does not name',
      );
    }
    for (const path of BUNDLES) {
      const lean = weriftSource(readFileSync(path));
      assert.ok(lean !== undefined && !lean.includes('localeCompare') && !/[\u0100-\uffff]/.test(lean), path);
    }
  });

  it('the comparisons put in their place order ASCII names as code units do', () => {
    const names = ['eth1', 'lo', 'eth0', 'Wlan0', 'br-1', 'eth0'];
    const byUnits = [...names].sort();
    for (const [, to] of LOCALE_COMPARES) {
      const [a, b] = to.includes('a.nic') ? ['a', 'b'] : ['left', 'right'];
      const compare = new Function(a, b, `return ${to};`) as (x: unknown, y: unknown) => number;
      const wrap = (n: string) => (a === 'a' ? { nic: n } : n);
      const sorted = names.map(wrap).sort((x, y) => compare(x, y));
      assert.deepEqual(
        sorted.map((x) => (typeof x === 'string' ? x : x.nic)),
        byUnits,
      );
    }
  });
});
