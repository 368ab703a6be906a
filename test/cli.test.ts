import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BAD, CLI, GOOD, ROOT, runCli, tempDir } from './helpers';

/** A throwaway project: clusters/ with the given specs, nothing else. */
function project(specs: string[]): string {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'clusters'));
  for (const s of specs) fs.copyFileSync(s, path.join(dir, 'clusters', path.basename(s)));
  return dir;
}

const listTree = (dir: string): string[] => fs.readdirSync(dir, { recursive: true, withFileTypes: false }).map(String).sort();

describe('the CLI', () => {
  test('synth compiles every clusters/*.yaml into dist/ and exits 0', () => {
    const dir = project([path.join(GOOD, 'ha.yaml'), path.join(GOOD, 'lab.yaml')]);
    const r = runCli(['synth'], { cwd: dir });
    expect(r.status).toBe(0);
    expect(fs.readdirSync(path.join(dir, 'dist')).sort()).toEqual(['example', 'lab']);
    expect(r.stderr).toContain('SINGLE_SERVER'); // warnings print but do not fail
  });

  test('two synths of the same input are byte-identical', () => {
    const a = project([path.join(GOOD, 'enterprise.yaml'), path.join(GOOD, 'ha.yaml')]);
    const b = project([path.join(GOOD, 'enterprise.yaml'), path.join(GOOD, 'ha.yaml')]);
    expect(runCli(['synth'], { cwd: a }).status).toBe(0);
    expect(runCli(['synth'], { cwd: b, env: { TZ: 'Pacific/Kiritimati', LANG: 'tr_TR.UTF-8' } }).status).toBe(0);
    const files = listTree(path.join(a, 'dist'));
    expect(listTree(path.join(b, 'dist'))).toEqual(files);
    for (const f of files) {
      const fa = path.join(a, 'dist', f);
      if (fs.statSync(fa).isFile()) expect(fs.readFileSync(path.join(b, 'dist', f), 'utf8')).toBe(fs.readFileSync(fa, 'utf8'));
    }
  });

  test('synth --check passes on the committed tree', () => {
    const r = runCli(['synth', '--check']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  test('fails: synth --check exits 1 and names the drifted files, writing nothing', () => {
    const dir = project([path.join(GOOD, 'ha.yaml')]);
    expect(runCli(['synth'], { cwd: dir }).status).toBe(0);
    const config = path.join(dir, 'dist', 'example', 'nodes', 'master-1', 'config.yaml');
    fs.appendFileSync(config, 'debug: true\n');
    fs.writeFileSync(path.join(dir, 'dist', 'example', 'stray.yaml'), 'x: 1\n');
    const r = runCli(['synth', '--check'], { cwd: dir });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('changed  dist/example/nodes/master-1/config.yaml');
    expect(r.stderr).toContain('removed  dist/example/stray.yaml');
    expect(fs.readFileSync(config, 'utf8')).toContain('debug: true');
  });

  test('synth SPEC --out DIR replaces only that cluster\'s folder', () => {
    const dir = project([path.join(GOOD, 'ha.yaml')]);
    const out = path.join(dir, 'elsewhere');
    fs.mkdirSync(path.join(out, 'other'), { recursive: true });
    fs.writeFileSync(path.join(out, 'other', 'keep.txt'), 'keep');
    expect(runCli(['synth', 'clusters/ha.yaml', '--out', 'elsewhere'], { cwd: dir }).status).toBe(0);
    expect(fs.readdirSync(out).sort()).toEqual(['example', 'other']);
    expect(fs.readFileSync(path.join(out, 'other', 'keep.txt'), 'utf8')).toBe('keep');
  });

  test('fails: an invalid spec exits 1 with FILE:LINE:COL /pointer lines and no stack trace', () => {
    const r = runCli(['validate', path.join(BAD, 'even-servers.yaml'), path.join(BAD, 'duplicate-name.yaml')]);
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines.filter((l) => /^\S+\.yaml:\d+:\d+ \/\S* error [A-Z_]+: /.test(l))).toHaveLength(2);
    expect(r.stderr).not.toMatch(/\bat .+\.js:\d+/);
  });

  test('fails: usage errors exit 2', () => {
    expect(runCli([]).status).toBe(2);
    expect(runCli(['frobnicate']).status).toBe(2);
    expect(runCli(['synth', '--bogus']).status).toBe(2);
    expect(runCli(['explain']).status).toBe(2);
    const missing = runCli(['validate', 'clusters/nope.yaml']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('cannot read clusters/nope.yaml: ENOENT');
  });

  test('validate checks without writing; explain prints the quorum table', () => {
    const dir = project([path.join(GOOD, 'enterprise.yaml')]);
    expect(runCli(['validate'], { cwd: dir }).status).toBe(0);
    expect(fs.existsSync(path.join(dir, 'dist'))).toBe(false);
    const r = runCli(['explain', 'clusters/enterprise.yaml'], { cwd: dir });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('etcd quorum: 3 of 5; tolerates 2 server failure(s)');
    expect(r.stdout).toMatch(/5\s+3\s+2\s+<- this cluster/);
  });

  test('help exits 0 and lists every command', () => {
    const r = runCli(['--help']);
    expect(r.status).toBe(0);
    for (const cmd of ['synth', 'validate', 'explain']) expect(r.stdout).toContain(`k3s-gitops ${cmd}`);
  });

  test('a synth whose output is already on disk writes nothing', () => {
    const dir = project([path.join(GOOD, 'ha.yaml')]);
    expect(runCli(['synth'], { cwd: dir }).status).toBe(0);
    const config = path.join(dir, 'dist', 'example', 'nodes', 'master-1', 'config.yaml');
    const before = fs.statSync(config).ino;
    const r = runCli(['synth'], { cwd: dir });
    expect(r.stdout).toContain('(24 files, unchanged)');
    expect(fs.statSync(config).ino).toBe(before);
  });

  test('validate never loads cdk8s (it has no use for it, and it is most of the start-up)', () => {
    const out = path.join(tempDir(), 'probe.json');
    const r = spawnSync(process.execPath, ['--require', path.join(ROOT, 'lib', 'bench', 'rss-probe.js'), CLI, 'validate', path.join(GOOD, 'ha.yaml')], {
      encoding: 'utf8', env: { ...process.env, BENCH_PROBE_OUT: out },
    });
    expect(r.status).toBe(0);
    expect(JSON.parse(fs.readFileSync(out, 'utf8')).cdk8sLoaded).toBe(false);
  });

  test('the yaml library we share with cdk8s is the version we pin', () => {
    const ours = require(path.join(ROOT, 'node_modules', 'yaml', 'package.json')).version;
    const cdk8s = require(path.join(ROOT, 'node_modules', 'cdk8s', 'node_modules', 'yaml', 'package.json')).version;
    expect(cdk8s).toBe(ours);
  });

  test('the shipped example is the ha example', () => {
    const strip = (t: string) => t.split('\n').filter((l) => !l.startsWith('#')).join('\n');
    expect(strip(fs.readFileSync(path.join(ROOT, 'clusters', 'example.yaml'), 'utf8'))).toBe(strip(fs.readFileSync(path.join(GOOD, 'ha.yaml'), 'utf8')));
  });
});

/** Every file under a folder with its content: what a refused run must leave as it was. */
function snapshotTree(dir: string): Record<string, string> {
  return Object.fromEntries(listTree(dir).filter((f) => fs.statSync(path.join(dir, f)).isFile()).map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]));
}

describe('synth never deletes a file it did not write', () => {
  // A cluster's folder is replaced whole; a file without the generated-by line in it is someone else's.
  const STATE = '{"version": 4, "resources": []}\n';

  test.each([
    ['synth SPEC --out DIR', ['synth', 'clusters/ha.yaml', '--out', 'out']],
    ['synth --out DIR', ['synth', '--out', 'out']],
    ['synth SPEC', ['synth', 'clusters/ha.yaml']],
  ])('fails: %s refuses a cluster folder holding a file it did not write, names it and writes nothing', (_form, args) => {
    const dir = project([path.join(GOOD, 'ha.yaml')]);
    const out = path.join(dir, args.includes('out') ? 'out' : 'dist');
    expect(runCli(['synth', '--out', path.relative(dir, out)], { cwd: dir }).status).toBe(0);
    fs.writeFileSync(path.join(out, 'example', 'terraform.tfstate'), STATE);
    fs.mkdirSync(path.join(out, 'example', 'notes'));
    fs.writeFileSync(path.join(out, 'example', 'notes', 'todo.md'), 'call the DC\n');
    // A change to the spec, so the run has something to write.
    const spec = path.join(dir, 'clusters', 'ha.yaml');
    fs.writeFileSync(spec, fs.readFileSync(spec, 'utf8').replace('retention: 7', 'retention: 9'));
    const before = snapshotTree(out);
    const r = runCli(args, { cwd: dir });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('"example/notes/todo.md", "example/terraform.tfstate"');
    expect(r.stderr).toContain('which k3s-gitops did not write');
    expect(snapshotTree(out)).toEqual(before);
    expect(fs.readdirSync(dir).sort()).toEqual([...new Set(['clusters', path.basename(out)])].sort());
  });

  test('a cluster folder it wrote is replaced: files edited by hand, and files the spec no longer makes, are its own', () => {
    const dir = project([path.join(GOOD, 'ha.yaml')]);
    expect(runCli(['synth', 'clusters/ha.yaml', '--out', 'out'], { cwd: dir }).status).toBe(0);
    const config = path.join(dir, 'out', 'example', 'nodes', 'master-1', 'config.yaml');
    fs.appendFileSync(config, 'debug: true\n');
    const spec = path.join(dir, 'clusters', 'ha.yaml');
    fs.writeFileSync(spec, fs.readFileSync(spec, 'utf8').replace(/^ {4}- \{ name: worker-2.*\n/m, ''));
    const r = runCli(['synth', 'clusters/ha.yaml', '--out', 'out'], { cwd: dir });
    expect(r.stderr).not.toContain('did not write');
    expect(r.status).toBe(0);
    expect(fs.readFileSync(config, 'utf8')).not.toContain('debug: true');
    expect(fs.existsSync(path.join(dir, 'out', 'example', 'nodes', 'worker-2'))).toBe(false);
  });

  test('--check is unaffected: a file it did not write is drift, listed, and left alone', () => {
    const dir = project([path.join(GOOD, 'ha.yaml')]);
    expect(runCli(['synth'], { cwd: dir }).status).toBe(0);
    const state = path.join(dir, 'dist', 'example', 'terraform.tfstate');
    fs.writeFileSync(state, STATE);
    const r = runCli(['synth', 'clusters/ha.yaml', '--check'], { cwd: dir });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('removed  dist/example/terraform.tfstate');
    expect(fs.readFileSync(state, 'utf8')).toBe(STATE);
  });
});
