import * as fs from 'node:fs';
import * as path from 'node:path';
import { referencePages } from '../src/docs/reference';
import { DIAGNOSTIC_CODES } from '../src/cluster-file/codes';
import { ROOT } from './helpers';

/**
 * The reference pages in docs/ are rendered from the source: like `synth --check` for
 * dist/, a page that differs from what the code renders fails, and `npm run docs`
 * writes it anew.
 */
test.each([...referencePages()].map(([file, text]) => [file, text] as const))('%s is what the code renders (npm run docs)', (file, text) => {
  expect(fs.readFileSync(path.join(ROOT, file), 'utf8')).toBe(text);
});

/** Every file under src/, as text. */
function sources(dir = path.join(ROOT, 'src')): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const file = path.join(dir, e.name);
    if (e.isDirectory()) return sources(file);
    return e.name.endsWith('.ts') && !e.name.endsWith('.generated.js') ? [fs.readFileSync(file, 'utf8')] : [];
  });
}

test('every code the compiler emits has its rule in the reference, and every code there is emitted', () => {
  const text = sources().join('\n');
  const emitted = new Set([...text.matchAll(/code: '([A-Z0-9_]+)'/g)].map((m) => m[1]));
  const listed = new Set(DIAGNOSTIC_CODES.flatMap((g) => g.codes));
  expect([...emitted].filter((c) => !listed.has(c))).toEqual([]);
  // JSON Schema's codes come from a table of ajv keywords rather than `code:` literals.
  const inSource = (c: string) => text.includes(`'${c}'`) || c === 'YAML_*';
  expect([...listed].filter((c) => !inSource(c))).toEqual([]);
});
