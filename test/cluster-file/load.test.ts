import * as fs from 'node:fs';
import * as path from 'node:path';
import { analyzeSpec } from '../../src/compile';
import { clusterSchema } from '../../src/cluster-file/schema';
import { documentedSchema } from '../../src/cluster-file/schema-docs';
import { GOOD, ROOT } from '../helpers';

const ha = fs.readFileSync(path.join(GOOD, 'ha.yaml'), 'utf8');

describe('loading a cluster file', () => {
  test('every example loads without error', () => {
    for (const f of fs.readdirSync(GOOD)) {
      const r = analyzeSpec(f, fs.readFileSync(path.join(GOOD, f), 'utf8'));
      expect(r.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
      expect(r.cluster).toBeDefined();
    }
  });

  test('an unknown field is placed at its key, with line and column', () => {
    const text = ha.replace('  bootstrapped: false', '  bootstrapped: false\n  bootstraped: true');
    const r = analyzeSpec('x.yaml', text);
    const line = text.split('\n').findIndex((l) => l.includes('bootstraped')) + 1;
    expect(r.diagnostics).toEqual([expect.objectContaining({ code: 'UNKNOWN_FIELD', pointer: '/spec/bootstraped', line, col: 3 })]);
    expect(r.diagnostics[0].message).toContain('allowed here: k3s, bootstrapped');
  });

  test.each([
    ['bootstraped', 'bootstrapped'], ['secretEncryption', 'secretsEncryption'], ['Nodes', 'nodes'], ['upgardes', 'upgrades'],
  ])('an unknown field says which known field it is closest to: %s -> %s', (typo, meant) => {
    const r = analyzeSpec('x.yaml', ha.replace('  bootstrapped: false', `  bootstrapped: false\n  ${typo}: {}`).replace(meant === 'bootstrapped' ? /^ {2}bootstrapped: false\n/m : /^$/, ''));
    expect(r.diagnostics.find((d) => d.code === 'UNKNOWN_FIELD')?.message).toContain(`unknown field "${typo}" (did you mean "${meant}"?)`);
  });

  test('a field close to none says nothing it cannot back', () => {
    const r = analyzeSpec('x.yaml', ha.replace('  bootstrapped: false', '  bootstrapped: false\n  colour: blue'));
    expect(r.diagnostics[0].message).toMatch(/^unknown field "colour"; allowed here: /);
  });

  test('every problem of a file is reported at once, schema errors before semantics', () => {
    const text = ha
      .replace('version: v1.36.3+k3s1', 'version: 1.36')
      .replace('virtualRouterId: 51', 'virtualRouterId: "51"')
      .replace('branch: main', 'branch: main\n    path: x');
    const codes = analyzeSpec('x.yaml', text).diagnostics.map((d) => d.code).sort();
    // YAML reads 1.36 as a number: a type error, reported with the other two.
    expect(codes).toEqual(['UNKNOWN_FIELD', 'WRONG_TYPE', 'WRONG_TYPE']);
    const semantic = ha.replace('version: v1.36.3+k3s1', 'version: latest').replace('address: 10.0.0.22', 'address: 10.0.0.21').replace('port: 8443', 'port: 10250');
    expect(analyzeSpec('x.yaml', semantic).diagnostics.map((d) => d.code).sort()).toEqual(['DUPLICATE_ADDRESS', 'K3S_VERSION', 'LB_PORT_CONFLICT']);
  });

  test('one server compiles, with a "no HA" warning', () => {
    const r = analyzeSpec('lab.yaml', fs.readFileSync(path.join(GOOD, 'lab.yaml'), 'utf8'));
    expect(r.cluster).toBeDefined();
    expect(r.diagnostics).toEqual([expect.objectContaining({ code: 'SINGLE_SERVER', severity: 'warning', pointer: '/spec/nodes' })]);
    expect(r.diagnostics[0].message).toContain('no HA');
  });

  test('a YAML alias bomb is refused, not expanded', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 12; i++) bomb.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
    const r = analyzeSpec('bomb.yaml', bomb.join('\n'));
    expect(r.diagnostics.map((d) => d.code)).toEqual(['YAML_ALIAS_LIMIT']);
  });

  test('more than one YAML document is refused', () => {
    const r = analyzeSpec('x.yaml', `${ha}\n---\n${ha}`);
    expect(r.diagnostics[0].code).toBe('YAML_MULTIPLE_DOCS');
  });

  test('the published schema is the one the compiler enforces, with the editor help added', () => {
    const published = JSON.parse(fs.readFileSync(path.join(ROOT, 'schema', 'cluster.schema.json'), 'utf8'));
    expect(published).toEqual(JSON.parse(JSON.stringify(documentedSchema(clusterSchema))));
  });
});
