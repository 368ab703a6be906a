import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { analyzeSpec, synthesizeCluster } from '../../src/compile';
import { main } from '../../src/cli';
import { flagsFor } from '../../src/k3s/flags';
import { YAML } from '../../src/yaml';
import { GOOD, tempDir } from '../helpers';

/** Fixed seed: a failure names its case and reproduces. Override with FUZZ_SEED. */
const SEED = Number(process.env.FUZZ_SEED ?? 20261123);
/** Cases per run: 1,240 in `npm test`; FUZZ_RUNS=4 or more for a deeper search. */
const RUNS = Number(process.env.FUZZ_RUNS ?? 1);

const bases = ['ha.yaml', 'enterprise.yaml', 'lab.yaml'].map((f) => YAML.parse(fs.readFileSync(path.join(GOOD, f), 'utf8')));
const baseTexts = ['ha.yaml', 'enterprise.yaml', 'lab.yaml'].map((f) => fs.readFileSync(path.join(GOOD, f), 'utf8'));

/** Every path to a value in a JSON-like tree. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

const nested = (depth: number): unknown => (depth === 0 ? 'x' : [nested(depth - 1)]);

/** Values that break assumptions: wrong types, extremes, unicode, depth, length. */
const hostileValue = fc.oneof(
  fc.anything({ maxDepth: 3 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(1e308, -1, 0, 2 ** 53 + 1, -2147483649, 65536, 0.5, Infinity, -Infinity, NaN),
  fc.constantFrom('', ' ', '../../etc', '/etc/passwd', '..', 'a'.repeat(5000), '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', 'ⓐⓑⓒ', '\u0000', 'a\nb', '*', '&', '!!binary', '10.0.0.0/8', '::1', 'ff::/8'),
  fc.constant(nested(120)),
  fc.integer({ min: 0, max: 4 }).map((n) => Array.from({ length: n * 400 }, (_, i) => ({ name: `n${i}`, role: 'agent', address: `10.9.${i >> 8}.${i & 255}` }))),
);

/** Keys that break naive code: prototype names, pointer syntax, empties, unicode. */
const hostileKey = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', '', ' ', 'a/b', '~0', '~1', '../x', '𝔘', 'spec', 'nodes', '0'), fc.string({ maxLength: 8 }));

type Mutation = { kind: 'delete' | 'duplicate' | 'replace' | 'rename'; at: number; value?: unknown; key?: string };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant<'delete'>('delete'), at: fc.nat() }),
  fc.record({ kind: fc.constant<'duplicate'>('duplicate'), at: fc.nat() }),
  fc.record({ kind: fc.constant<'replace'>('replace'), at: fc.nat(), value: hostileValue }),
  fc.record({ kind: fc.constant<'rename'>('rename'), at: fc.nat(), key: hostileKey }),
);

function apply(base: unknown, mutations: Mutation[]): unknown {
  const doc = structuredClone(base) as Record<string, unknown>;
  for (const m of mutations) {
    const all = paths(doc).filter((p) => p.length > 0);
    if (all.length === 0) break;
    const p = all[m.at % all.length];
    const parent = p.slice(0, -1).reduce<any>((o, k) => o[k], doc);
    const key = p[p.length - 1];
    if (m.kind === 'delete') {
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else delete parent[key];
    } else if (m.kind === 'duplicate') {
      if (Array.isArray(parent)) parent.splice(Number(key), 0, structuredClone(parent[key]));
      else parent[`${String(key)}Copy`] = structuredClone(parent[key]);
    } else if (m.kind === 'rename' && !Array.isArray(parent)) {
      Object.defineProperty(parent, m.key as string, { value: parent[key], enumerable: true, configurable: true, writable: true });
      if (m.key !== key) delete parent[key];
    } else {
      // A copy: later mutations edit the document, never fast-check's own values.
      parent[key] = structuredClone(m.value);
    }
  }
  return doc;
}

/** What every run must satisfy: located errors, or a tree that passes the structural checks. */
function checkRun(source: string, text: string): 'ok' | 'invalid' {
  const started = Date.now();
  const result = analyzeSpec(source, text);
  const errors = result.diagnostics.filter((d) => d.severity === 'error');
  for (const d of result.diagnostics) {
    expect(d.code).toMatch(/^[A-Z0-9_]+$/);
    expect(d.line).toBeGreaterThanOrEqual(1);
    expect(d.col).toBeGreaterThanOrEqual(1);
    expect(d.pointer === '' || d.pointer.startsWith('/')).toBe(true);
    expect(d.message.length).toBeGreaterThan(0);
  }
  if (!result.cluster) {
    expect(errors.length).toBeGreaterThan(0);
    return 'invalid';
  }
  const c = result.cluster;
  const tree = synthesizeCluster(c);
  for (const [rel, content] of tree) {
    expect(rel.split('/').every((part) => part !== '..' && part !== '' && !part.includes('\\'))).toBe(true);
    const lines = content.split('\n');
    // After `#cloud-config` or a script's `#!` line, which must come first.
    expect(lines[0] === '#cloud-config' || lines[0].startsWith('#!') ? lines[1] : lines[0]).toContain(`generated by k3s-gitops from ${source}; do not edit`);
    if (rel.endsWith('.yaml')) {
      for (const doc of YAML.parseAllDocuments(content)) expect(doc.errors).toEqual([]);
    }
  }
  for (const node of c.nodes) {
    const config = YAML.parse(tree.get(`${c.name}/nodes/${node.name}/config.yaml`) as string);
    for (const key of Object.keys(config)) expect(flagsFor(node.role).has(key)).toBe(true);
    expect(config.token).toBeUndefined();
  }
  expect(Date.now() - started).toBeLessThan(10000);
  return 'ok';
}

describe('property: no cluster file crashes the compiler', () => {
  const seen = { ok: 0, invalid: 0 };
  afterAll(() => console.log(`fuzz (seed ${SEED}): ${seen.ok} compiled, ${seen.invalid} rejected with located errors`));

  test('structured mutations of valid files', () => {
    fc.assert(
      fc.property(fc.nat({ max: bases.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (b, mutations) => {
        const text = YAML.stringify(apply(bases[b], mutations), { aliasDuplicateObjects: false });
        seen[checkRun('clusters/fuzz.yaml', text)]++;
      }),
      { seed: SEED, numRuns: 600 * RUNS },
    );
  });

  test('text mutations: bytes inserted, deleted, truncated', () => {
    const edit = fc.record({ at: fc.nat(), len: fc.nat({ max: 30 }), insert: fc.string({ unit: 'binary', maxLength: 12 }) });
    fc.assert(
      fc.property(fc.nat({ max: baseTexts.length - 1 }), fc.array(edit, { minLength: 1, maxLength: 3 }), (b, edits) => {
        let text = baseTexts[b];
        for (const e of edits) {
          const at = e.at % (text.length + 1);
          text = text.slice(0, at) + e.insert + text.slice(at + e.len);
        }
        seen[checkRun('clusters/fuzz.yaml', text)]++;
      }),
      { seed: SEED + 1, numRuns: 600 * RUNS },
    );
  });

  test('the CLI writes nothing on failure and everything on success', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 0, maxLength: 2 }), (mutations) => {
        const dir = tempDir('fuzz-cli-');
        fs.mkdirSync(path.join(dir, 'clusters'));
        fs.writeFileSync(path.join(dir, 'clusters', 'fuzz.yaml'), YAML.stringify(apply(bases[0], mutations)));
        const err: string[] = [];
        const status = main(['synth'], { cwd: dir, stdin: () => '', out: () => undefined, err: (t) => err.push(t) });
        expect([0, 1]).toContain(status);
        expect(err.join('\n')).not.toMatch(/\n\s+at .+:\d+:\d+/);
        if (status === 1) expect(fs.existsSync(path.join(dir, 'dist'))).toBe(false);
        else expect(fs.readdirSync(path.join(dir, 'dist'))).toEqual([expect.any(String)]);
        fs.rmSync(dir, { recursive: true, force: true });
      }),
      { seed: SEED + 2, numRuns: 40 * RUNS },
    );
  });
});
