import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from './helpers';

/**
 * README tells a developer what `npm test` needs: every tool `.ci/run` installs, and
 * every test file that needs root (the ones that use describeAsRoot or testAsRoot).
 * Both lists are read from the code, so README cannot fall behind it.
 */
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** Every file of tests under test/, relative to the repository: test files, and the drills one of them runs. */
function testFiles(dir = path.join(ROOT, 'test')): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const file = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'fixtures' ? [] : testFiles(file);
    return /\.(test|drill)\.ts$/.test(e.name) ? [path.relative(ROOT, file)] : [];
  });
}

test('README names every tool .ci/run installs', () => {
  const tools = [...fs.readFileSync(path.join(ROOT, '.ci', 'run'), 'utf8').matchAll(/command -v (\S+) >\/dev\/null \|\|/g)].map((m) => m[1]);
  expect(tools.length).toBeGreaterThanOrEqual(10);
  expect(tools.filter((t) => !README.includes(`\`${t}\``))).toEqual([]);
});

test('README names every test file that needs root', () => {
  const rootOnly = testFiles().filter((f) => /\b(describe|test)AsRoot\(/.test(fs.readFileSync(path.join(ROOT, f), 'utf8')));
  expect(rootOnly).toEqual(expect.arrayContaining(['test/drill/failover.drill.ts', 'test/drill/etcd-gate.drill.ts']));
  expect(rootOnly.filter((f) => !README.includes(`\`${f}\``))).toEqual([]);
});

test('the project\'s CI runs .ci/run as root, on Node 20', () => {
  const workflow = fs.readFileSync(path.join(ROOT, '.github', 'workflows', 'ci.yml'), 'utf8');
  expect(workflow).toMatch(/node-version: 20\n/);
  expect(workflow).toContain('run: sudo env "PATH=$PATH" bash .ci/run\n');
});
