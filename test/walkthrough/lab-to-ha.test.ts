import * as fs from 'node:fs';
import * as path from 'node:path';
import { GOOD, markedBlock, runCli, tempDir } from '../helpers';
import { YAML } from '../../src/yaml';

/**
 * The walkthrough of docs/guides/lab-to-ha.md, run: a one-server lab cluster grows to
 * three servers behind a keepalived VIP through commits alone. Each commit's `plan` must
 * print what the guide shows, and the configs must say why the first server never
 * founds again.
 */
const GUIDE = 'docs/guides/lab-to-ha.md';

/** The fenced block that follows `<!-- walkthrough: <name> -->` in the guide. */
const walkthroughBlock = (name: string): string => markedBlock('walkthrough', name, GUIDE);

const dir = tempDir('walkthrough-');
const spec = path.join(dir, 'clusters', 'lab.yaml');
const edit = (f: (t: string) => string) => fs.writeFileSync(spec, f(fs.readFileSync(spec, 'utf8')));
const config = (node: string) => YAML.parse(fs.readFileSync(path.join(dir, 'dist', 'lab', 'nodes', node, 'config.yaml'), 'utf8'));
/** `plan` as the reviewer reads it, then the commit: synth and the check CI runs. */
function commit(): string {
  const plan = runCli(['plan'], { cwd: dir });
  expect(plan.stderr.split('\n').filter((l) => / error /.test(l))).toEqual([]);
  expect(plan.status).toBe(0);
  expect(runCli(['synth'], { cwd: dir }).status).toBe(0);
  expect(runCli(['synth', '--check'], { cwd: dir }).status).toBe(0);
  return plan.stdout;
}

describe('the guide\'s walkthrough: from one lab server to three behind a VIP, by commits alone', () => {
  beforeAll(() => {
    fs.mkdirSync(path.dirname(spec), { recursive: true });
    fs.copyFileSync(path.join(GOOD, 'lab.yaml'), spec);
    expect(runCli(['synth'], { cwd: dir }).status).toBe(0);
  });

  test('the running lab: master founded the cluster with cluster-init', () => {
    expect(config('master')['cluster-init']).toBe(true);
    expect(config('worker-1').server).toBe('https://192.168.56.10:6443');
  });

  test('commit 1, bootstrapped: true: master restarts without cluster-init, nothing else moves', () => {
    edit((t) => t.replace('spec:\n', 'spec:\n  bootstrapped: true\n'));
    expect(commit()).toBe(walkthroughBlock('plan 1'));
    expect(config('master')['cluster-init']).toBeUndefined();
  });

  test('commit 2, VIP, load balancer and two servers: master gains the VIP, the new servers boot, agents move to the VIP', () => {
    edit((t) => t.replace('    loadBalancer:\n      mode: none\n', '    endpoint: 192.168.56.100\n    loadBalancer:\n      mode: daemonset\n      interface: eth1\n      virtualRouterId: 56\n')
      .replace(/( {4}- \{ name: master,[^\n]*\n)/, '$1    - { name: master-2, role: server, address: 192.168.56.11 }\n    - { name: master-3, role: server, address: 192.168.56.12 }\n'));
    const text = fs.readFileSync(spec, 'utf8');
    for (const line of walkthroughBlock('commit 2').split('\n').map((l) => l.replace(/\s+#.*$/, '')).filter((l) => l.trim() && l.trim() !== '...')) expect(text).toContain(line);
    expect(commit()).toBe(walkthroughBlock('plan 2'));

    for (const server of ['master', 'master-2', 'master-3']) {
      const c = config(server);
      // No server carries cluster-init: none can found a cluster; each joins through the VIP.
      expect(c['cluster-init']).toBeUndefined();
      expect(c.server).toBe('https://192.168.56.100:8443');
      expect(c['tls-san']).toEqual(['192.168.56.100']);
    }
    expect(config('worker-1').server).toBe('https://192.168.56.100:8443');
    const userData = fs.readFileSync(path.join(dir, 'dist', 'lab', 'nodes', 'master-2', 'user-data.yaml'), 'utf8');
    expect(userData).toContain('server: https://192.168.56.100:8443');
    expect(userData).not.toMatch(/^\s*token:/m);
    const lb = fs.readFileSync(path.join(dir, 'dist', 'lab', 'manifests', 'load-balancer.k8s.yaml'), 'utf8');
    expect(lb).toContain('kind: DaemonSet');
    for (const address of ['192.168.56.10', '192.168.56.11', '192.168.56.12']) expect(lb).toContain(`${address}:6443`);
  });

  test('commit 3, nothing changed: a re-synth changes no Secret and no Plan', () => {
    const before = fs.readFileSync(path.join(dir, 'dist', 'lab', 'upgrades', 'plans', 'plans.k8s.yaml'), 'utf8');
    expect(commit()).toMatch(/ unchanged +config.yaml as committed\ncluster-wide: nothing\n$/);
    expect(fs.readFileSync(path.join(dir, 'dist', 'lab', 'upgrades', 'plans', 'plans.k8s.yaml'), 'utf8')).toBe(before);
  });
});
