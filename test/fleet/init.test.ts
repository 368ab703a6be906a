import * as fs from 'node:fs';
import * as path from 'node:path';
import { FLEET_GITIGNORE, FLEET_SCRIPTS, FLEET_WORKFLOW, FLEET_WORKFLOW_PATH } from '../../src/init';
import { markedBlock, ROOT, runCli, tempDir } from '../helpers';

/** Where a fleet repository's set-up is documented. */
const GUIDE = 'docs/guides/fleet-repository.md';

const HA = ['--name', 'prod', '--server', 'm1=10.1.0.11', '--server', 'm2=10.1.0.12', '--server', 'm3=10.1.0.13', '--agent', 'w1=10.1.0.21', '--endpoint', '10.1.0.100'];

function fleetRepo(): string {
  const dir = tempDir('fleet-');
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify({ name: 'fleet', private: true, scripts: { test: 'true' } }, null, 2)}\n`);
  return dir;
}

describe('k3s-gitops init', () => {
  test('writes a starter cluster file that validates and compiles, with the installed schema as modeline', () => {
    const dir = fleetRepo();
    const r = runCli(['init', ...HA, '--gitops', 'argocd', '--repository', 'https://git.example.internal/fleet.git'], { cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const text = fs.readFileSync(path.join(dir, 'clusters', 'prod.yaml'), 'utf8');
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../node_modules/k3s-gitops/schema/cluster.schema.json');
    expect(runCli(['validate'], { cwd: dir }).status).toBe(0);
    expect(runCli(['synth'], { cwd: dir }).status).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'dist', 'prod', 'nodes', 'm1', 'config.yaml'), 'utf8')).toContain('cluster-init: true');
    expect(fs.existsSync(path.join(dir, 'dist', 'prod', 'argocd'))).toBe(true);
  });

  test('--ci adds the scripts and the workflow the fleet guide shows', () => {
    const dir = fleetRepo();
    expect(runCli(['init', ...HA, '--ci'], { cwd: dir }).status).toBe(0);
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    expect(pkg.scripts).toEqual({ test: 'true', synth: 'k3s-gitops synth', check: 'k3s-gitops validate && k3s-gitops synth --check', plan: 'k3s-gitops plan' });
    expect(fs.readFileSync(path.join(dir, FLEET_WORKFLOW_PATH), 'utf8')).toBe(FLEET_WORKFLOW);
    const guide = fs.readFileSync(path.join(ROOT, GUIDE), 'utf8');
    expect(markedBlock('ci', 'fleet workflow', GUIDE)).toBe(FLEET_WORKFLOW);
    // The guide says what --ci adds, script by script, in the words package.json gets.
    const said = guide.replace(/\s*\n\s*/g, ' ');
    const listed = Object.entries(FLEET_SCRIPTS).map(([name, command]) => `\`${name}\` (\`${command}\`)`);
    expect(said).toContain(`adds three scripts to \`package.json\`, ${listed.slice(0, -1).join(', ')} and ${listed[listed.length - 1]}`);
  });

  test('writes a .gitignore that keeps node_modules/ out of Git', () => {
    const dir = fleetRepo();
    const r = runCli(['init', ...HA], { cwd: dir });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('wrote .gitignore');
    expect(fs.readFileSync(path.join(dir, '.gitignore'), 'utf8')).toBe(FLEET_GITIGNORE);
    expect(FLEET_GITIGNORE.split('\n')).toContain('node_modules/');
  });

  test('leaves a .gitignore that exists as it is, and still writes the rest', () => {
    const dir = fleetRepo();
    fs.writeFileSync(path.join(dir, '.gitignore'), 'mine\n');
    const r = runCli(['init', ...HA, '--ci'], { cwd: dir });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('kept .gitignore as it is');
    expect(fs.readFileSync(path.join(dir, '.gitignore'), 'utf8')).toBe('mine\n');
    expect(fs.existsSync(path.join(dir, 'clusters', 'prod.yaml'))).toBe(true);
  });

  test('fails: refuses to overwrite the cluster file, the workflow or a script, and writes nothing', () => {
    const dir = fleetRepo();
    fs.mkdirSync(path.join(dir, 'clusters'));
    fs.writeFileSync(path.join(dir, 'clusters', 'prod.yaml'), 'mine\n');
    const pkgBefore = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ ...pkgBefore, scripts: { ...pkgBefore.scripts, plan: 'terraform plan' } }));
    const before = fs.readFileSync(path.join(dir, 'package.json'), 'utf8');
    const r = runCli(['init', ...HA, '--ci'], { cwd: dir });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('clusters/prod.yaml, package.json script "plan" already exist(s); init never overwrites. Nothing written');
    expect(fs.readFileSync(path.join(dir, 'clusters', 'prod.yaml'), 'utf8')).toBe('mine\n');
    expect(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).toBe(before);
    expect(fs.existsSync(path.join(dir, FLEET_WORKFLOW_PATH))).toBe(false);
    expect(fs.existsSync(path.join(dir, '.gitignore'))).toBe(false);
  });

  test('fails: options that make no valid cluster file print its diagnostics and write nothing', () => {
    const dir = fleetRepo();
    const r = runCli(['init', '--name', 'prod', '--server', 'm1=10.1.0.11', '--server', 'm2=10.1.0.12', '--server', 'm3=10.1.0.13', '--lb', 'daemonset'], { cwd: dir });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/clusters\/prod\.yaml:\d+:\d+ \/spec\/controlPlane\S* error /);
    expect(fs.existsSync(path.join(dir, 'clusters'))).toBe(false);
  });

  test('fails: a malformed --server is a usage error (exit 2)', () => {
    const r = runCli(['init', '--name', 'prod', '--server', '10.1.0.11'], { cwd: fleetRepo() });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('expected NAME=ADDRESS');
  });
});

describe('synth --out', () => {
  test('fails: a non-empty folder k3s-gitops did not write is refused and left untouched', () => {
    const dir = fleetRepo();
    expect(runCli(['init', ...HA], { cwd: dir }).status).toBe(0);
    const out = path.join(dir, 'manifests');
    fs.mkdirSync(path.join(out, 'apps'), { recursive: true });
    fs.writeFileSync(path.join(out, 'apps', 'deployment.yaml'), 'kind: Deployment\n');
    const r = runCli(['synth', '--out', 'manifests'], { cwd: dir });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--out manifests holds "apps", which k3s-gitops did not write');
    expect(fs.readdirSync(out)).toEqual(['apps']);
    expect(fs.readFileSync(path.join(out, 'apps', 'deployment.yaml'), 'utf8')).toBe('kind: Deployment\n');
  });

  test('its own out dir is replaced as before, and an empty one is fine', () => {
    const dir = fleetRepo();
    expect(runCli(['init', ...HA], { cwd: dir }).status).toBe(0);
    fs.mkdirSync(path.join(dir, 'out'));
    expect(runCli(['synth', '--out', 'out'], { cwd: dir }).status).toBe(0);
    expect(runCli(['synth', '--out', 'out'], { cwd: dir }).status).toBe(0);
    expect(fs.readdirSync(path.join(dir, 'out'))).toEqual(['prod']);
  });

  test('the generated-file line names the spec relative to the repository, however the path was given', () => {
    const dir = fleetRepo();
    expect(runCli(['init', ...HA], { cwd: dir }).status).toBe(0);
    expect(runCli(['synth', path.join(dir, 'clusters', 'prod.yaml')], { cwd: dir }).status).toBe(0);
    const fromAbsolute = fs.readFileSync(path.join(dir, 'dist', 'prod', 'nodes', 'm1', 'config.yaml'), 'utf8');
    expect(fromAbsolute.split('\n')[0]).toBe('# generated by k3s-gitops from clusters/prod.yaml; do not edit');
    expect(runCli(['synth', 'prod.yaml', '--out', '../dist', '--check'], { cwd: path.join(dir, 'clusters') }).status).toBe(0);
  });
});
