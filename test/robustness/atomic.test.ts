import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { clusterSpec } from '../../bench/generate';
import { readTree, recoverInterruptedWrite } from '../../src/compile';
import { CLI, GOOD, runCli, tempDir } from '../helpers';

const SEED = Number(process.env.FUZZ_SEED ?? 20261123);

const equalTrees = (a: Map<string, string>, b: Map<string, string>) => a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);

describe('atomic output under SIGKILL', () => {
  // A large synth (7 servers, 150 agents: ~330 files) whose new tree differs from the old in every node file.
  const dir = tempDir('atomic-');
  const spec = path.join(dir, 'clusters', 'big.yaml');
  fs.mkdirSync(path.dirname(spec));
  const oldSpec = clusterSpec('big', 7, 150);
  const newSpec = oldSpec.replace('/etc/rancher/k3s/token', '/etc/rancher/k3s/join-token');
  fs.writeFileSync(spec, newSpec);
  expect(runCli(['synth'], { cwd: dir }).status).toBe(0);
  const newTree = readTree(path.join(dir, 'dist'));
  fs.writeFileSync(spec, oldSpec);
  expect(runCli(['synth'], { cwd: dir }).status).toBe(0);
  const oldTree = readTree(path.join(dir, 'dist'));
  const pristine = path.join(dir, 'pristine-old');
  fs.cpSync(path.join(dir, 'dist'), pristine, { recursive: true });
  fs.writeFileSync(spec, newSpec);

  /** Kill moments, in ms after start: seeded, spread over a run's whole life. */
  const delays = fc.sample(fc.integer({ min: 0, max: 1500 }), { seed: SEED, numRuns: 16 });

  test.each(delays.map((d, i) => [i, d]))('kill #%i after %i ms: dist/ is the old tree or the new one', async (_i, delay) => {
    const dist = path.join(dir, 'dist');
    fs.rmSync(dist, { recursive: true, force: true });
    fs.cpSync(pristine, dist, { recursive: true });
    const child = spawn(process.execPath, [CLI, 'synth'], { cwd: dir, stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, delay));
    child.kill('SIGKILL');
    await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r)));

    const leftovers = fs.readdirSync(dir).filter((e) => e.startsWith('.dist.'));
    if (fs.existsSync(dist)) {
      // Killed before or after the swap: one of the two trees, whole.
      const now = readTree(dist);
      expect(equalTrees(now, oldTree) || equalTrees(now, newTree)).toBe(true);
    } else {
      // Killed between the two renames: the old tree waits, whole, beside dist/.
      const previous = leftovers.find((e) => e.startsWith('.dist.previous-'));
      expect(previous).toBeDefined();
      expect(equalTrees(readTree(path.join(dir, previous as string)), oldTree)).toBe(true);
    }
    // The next run (any synth, --check included) tidies up first.
    recoverInterruptedWrite(dist);
    const recovered = readTree(dist);
    expect(equalTrees(recovered, oldTree) || equalTrees(recovered, newTree)).toBe(true);
    expect(fs.readdirSync(dir).filter((e) => e.startsWith('.dist.'))).toEqual([]);
  }, 30000);
});

describe('paths cannot escape the out dir', () => {
  function project(): string {
    const dir = tempDir('paths-');
    fs.mkdirSync(path.join(dir, 'clusters'));
    fs.copyFileSync(path.join(GOOD, 'ha.yaml'), path.join(dir, 'clusters', 'example.yaml'));
    return dir;
  }

  test.each([
    ['a cluster name with ../', (t: string) => t.replace('name: example', 'name: ../escape'), '/metadata/name'],
    ['an absolute node name', (t: string) => t.replace('name: worker-1', 'name: /etc/cron.d/x'), '/spec/nodes/3/name'],
    ['a node name with ..', (t: string) => t.replace('name: worker-1', 'name: ..'), '/spec/nodes/3/name'],
    ['a backup target name with /', (t: string) => t.replace('name: nas', 'name: a/../../b'), '/spec/backup/targets/0/name'],
  ])('fails: %s is rejected before anything is written', (_what, edit, pointer) => {
    const dir = project();
    const file = path.join(dir, 'clusters', 'example.yaml');
    fs.writeFileSync(file, edit(fs.readFileSync(file, 'utf8')));
    const r = runCli(['synth'], { cwd: dir });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(` ${pointer} error BAD_FORMAT`);
    expect(fs.readdirSync(dir).sort()).toEqual(['clusters']);
  });

  test('a symlink already in dist/ is replaced, never followed', () => {
    const dir = project();
    expect(runCli(['synth'], { cwd: dir }).status).toBe(0);
    const outside = path.join(tempDir('outside-'), 'victim.yaml');
    fs.writeFileSync(outside, 'untouched\n');
    const config = path.join(dir, 'dist', 'example', 'nodes', 'master-1', 'config.yaml');
    fs.rmSync(config);
    fs.symlinkSync(outside, config);
    const check = runCli(['synth', '--check'], { cwd: dir });
    expect(check.status).toBe(1);
    expect(check.stderr).toContain('changed  dist/example/nodes/master-1/config.yaml');
    expect(runCli(['synth'], { cwd: dir }).status).toBe(0);
    expect(fs.lstatSync(config).isSymbolicLink()).toBe(false);
    expect(fs.readFileSync(outside, 'utf8')).toBe('untouched\n');
  });

  test('a dist/ that is itself a symlink is replaced by a real folder; its target is untouched', () => {
    const dir = project();
    const elsewhere = tempDir('elsewhere-');
    fs.writeFileSync(path.join(elsewhere, 'keep.txt'), 'keep');
    fs.symlinkSync(elsewhere, path.join(dir, 'dist'));
    expect(runCli(['synth'], { cwd: dir }).status).toBe(0);
    expect(fs.lstatSync(path.join(dir, 'dist')).isDirectory()).toBe(true);
    expect(fs.readdirSync(elsewhere)).toEqual(['keep.txt']);
  });

  test.each([['.'], ['..'], ['/'], ['clusters']])('fails: --out %s is refused (it would replace the project)', (out) => {
    const dir = project();
    const r = runCli(['synth', '--out', out], { cwd: dir });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/the out dir is replaced whole/);
    expect(fs.readdirSync(dir).sort()).toEqual(['clusters']);
  });
});
