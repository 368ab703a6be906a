import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, tempDir } from '../helpers';

/**
 * The package as a fleet repository gets it: packed, installed offline into an empty
 * repository, and used there through its bin and as a library in the user's own cdk8s
 * app. Offline, npm can resolve nothing from the registry, so the fleet's lock pins
 * the runtime dependencies exactly as this project's package-lock.json does, and
 * `npm ci --offline` takes their tarballs from the cache this project's `npm ci` filled.
 */
const run = (cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) => {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
};

describe('installed into a fleet repository from the packed tarball, offline', () => {
  const packDir = tempDir('pack-');
  const fleet = tempDir('fleet-');
  const bin = path.join(fleet, 'node_modules', '.bin', 'k3s-gitops');
  let tarball = '';

  beforeAll(() => {
    const pack = run('npm', ['pack', '--ignore-scripts', '--pack-destination', packDir], ROOT);
    expect(pack.status).toBe(0);
    tarball = path.join(packDir, fs.readdirSync(packDir).find((f) => f.endsWith('.tgz')) as string);
    const own = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
    const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
    const runtime = Object.entries(lock.packages as Record<string, { dev?: boolean; devOptional?: boolean }>).filter(([k, v]) => k.startsWith('node_modules/') && !v.dev && !v.devOptional);
    const dependencies = { 'k3s-gitops': `file:${tarball}` };
    fs.writeFileSync(path.join(fleet, 'package.json'), `${JSON.stringify({ name: 'fleet', private: true, dependencies }, null, 2)}\n`);
    fs.writeFileSync(path.join(fleet, 'package-lock.json'), JSON.stringify({
      name: 'fleet', lockfileVersion: 3, requires: true,
      packages: {
        '': { name: 'fleet', dependencies },
        ...Object.fromEntries(runtime),
        'node_modules/k3s-gitops': { version: own.version, resolved: `file:${tarball}`, license: own.license, dependencies: own.dependencies, bin: own.bin, engines: own.engines },
      },
    }, null, 2));
    const install = run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], fleet);
    if (install.status !== 0) throw new Error(`npm install --offline failed:\n${install.stderr}`);
  }, 180_000);

  test('the tarball holds only what runs: compiled code, schema, README, license', () => {
    const files = run('tar', ['-tzf', tarball], ROOT).stdout.trim().split('\n').map((f) => f.replace(/^package\//, ''));
    expect(files.filter((f) => !/^(lib\/src\/.+\.(js|d\.ts)|schema\/cluster\.schema\.json|README\.md|LICENSE|package\.json)$/.test(f))).toEqual([]);
    expect(files).toContain('lib/src/cli.js');
    expect(files).toContain('lib/src/index.d.ts');
  });

  test('--version, init, synth, synth --check, validate and plan work there', () => {
    const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
    expect(run(bin, ['--version'], fleet).stdout.trim()).toBe(version);
    const init = run(bin, ['init', '--name', 'prod', '--server', 'm1=10.1.0.11', '--server', 'm2=10.1.0.12', '--server', 'm3=10.1.0.13', '--agent', 'w1=10.1.0.21', '--endpoint', '10.1.0.100', '--ci'], fleet);
    expect(init.stderr).toBe('');
    expect(init.status).toBe(0);
    // The modeline init wrote points at a schema that exists in this repository.
    const modeline = fs.readFileSync(path.join(fleet, 'clusters', 'prod.yaml'), 'utf8').split('\n')[0].replace('# yaml-language-server: $schema=', '');
    expect(fs.existsSync(path.join(fleet, 'clusters', modeline))).toBe(true);
    for (const args of [['synth'], ['synth', '--check'], ['validate'], ['plan']]) {
      const r = run(bin, args, fleet);
      expect({ args, status: r.status, stderr: r.stderr.replace(/^.*warning.*\n/gm, '') }).toEqual({ args, status: 0, stderr: '' });
    }
    expect(run('npm', ['run', '--silent', 'check'], fleet).status).toBe(0);
  });

  test('a user\'s own cdk8s app adds the cluster\'s charts beside its own, and `cdk8s synth` is clean', () => {
    fs.copyFileSync(path.join(__dirname, 'example-app', 'main.js'), path.join(fleet, 'main.js'));
    const cdk8s = path.join(ROOT, 'node_modules', '.bin', 'cdk8s');
    const r = run(cdk8s, ['synth', '--app', 'node main.js', '--output', 'cdk8s.out'], fleet, { CDK8S_CHECK_UPGRADE: 'false' });
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.status).toBe(0);
    const out = path.join(fleet, 'cdk8s.out');
    // cdk8s names a nested chart's file by its path and a hash of it.
    const manifests = fs.readdirSync(out).filter((f) => f.endsWith('.k8s.yaml')).map((f) => f.replace(/-[0-9a-f]{8}\.k8s\.yaml$/, '.k8s.yaml')).sort();
    expect(manifests).toEqual(['apps.k8s.yaml', 'prod-cert-expiry.k8s.yaml', 'prod-load-balancer.k8s.yaml', 'prod-namespace.k8s.yaml', 'prod-system-upgrade-controller.k8s.yaml', 'prod-upgrades.k8s.yaml']);
    const upgrades = fs.readdirSync(out).find((f) => f.startsWith('prod-upgrades-')) as string;
    expect(fs.readFileSync(path.join(out, upgrades), 'utf8')).toContain('k3s-gitops-config-servers');
    expect(fs.readFileSync(path.join(out, 'prod-nodes', 'nodes', 'm1', 'config.yaml'), 'utf8')).toContain('cluster-init: true');
  }, 120_000);
});
