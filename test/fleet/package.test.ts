import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, readmeBlock, tempDir } from '../helpers';
import { installOffline, packInto, run } from './offline-install';

/**
 * The package as a fleet repository gets it: packed, installed offline into an empty
 * repository with cdk8s-cli beside it (offline-install.ts says how), and used there
 * through its bin and as a library in the user's own cdk8s app.
 */
describe('installed into a fleet repository from the packed tarball, offline', () => {
  const fleet = tempDir('fleet-');
  const bin = path.join(fleet, 'node_modules', '.bin', 'k3s-gitops');
  let tarball = '';

  beforeAll(() => {
    tarball = packInto(path.join(fleet, 'vendor'));
    fs.writeFileSync(path.join(fleet, 'package.json'), `${JSON.stringify({ name: 'fleet', private: true }, null, 2)}\n`);
    installOffline(fleet, tarball, ['cdk8s-cli']);
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

  test('a user\'s own cdk8s app adds the cluster\'s charts beside its own, and `npx cdk8s synth` with the guide\'s cdk8s.yaml is clean', () => {
    fs.copyFileSync(path.join(__dirname, 'example-app', 'main.js'), path.join(fleet, 'main.js'));
    fs.writeFileSync(path.join(fleet, 'cdk8s.yaml'), `${readmeBlock('fleet cdk8s.yaml', 'docs/guides/fleet-repository.md').join('\n')}\n`);
    // The fleet's own cdk8s-cli, never this project's: npx must find it in the fleet.
    const PATH = (process.env.PATH ?? '').split(path.delimiter).filter((p) => !p.startsWith(ROOT)).join(path.delimiter);
    const r = run('npx', ['cdk8s', 'synth'], fleet, { PATH, CDK8S_CHECK_UPGRADE: 'false', npm_config_offline: 'true' });
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.status).toBe(0);
    const out = path.join(fleet, 'cdk8s.out');
    // cdk8s names a nested chart's file by its path and a hash of it.
    const manifests = fs.readdirSync(out).filter((f) => f.endsWith('.k8s.yaml')).map((f) => f.replace(/-[0-9a-f]{8}\.k8s\.yaml$/, '.k8s.yaml')).sort();
    expect(manifests).toEqual(['apps.k8s.yaml', 'prod-cert-expiry.k8s.yaml', 'prod-load-balancer.k8s.yaml', 'prod-namespace.k8s.yaml', 'prod-system-upgrade-controller.k8s.yaml', 'prod-upgrades.k8s.yaml']);
    const upgrades = fs.readdirSync(out).find((f) => f.startsWith('prod-upgrades-')) as string;
    expect(fs.readFileSync(path.join(out, upgrades), 'utf8')).toContain('k3s-gitops-config-servers');
    expect(fs.readFileSync(path.join(out, 'prod-nodes', 'nodes', 'm1', 'config.yaml'), 'utf8')).toContain('cluster-init: true');
    // k3s-gitops's own tree is untouched by cdk8s.
    expect(run(bin, ['synth', '--check'], fleet).status).toBe(0);
  }, 120_000);
});
