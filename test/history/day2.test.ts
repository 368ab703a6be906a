import * as fs from 'node:fs';
import * as path from 'node:path';
import { GOOD, markedBlock, runCli, tempDir } from '../helpers';
import { YAML } from '../../src/yaml';

/** A project whose dist/ holds the committed tree of `fixture`, as clusters/example.yaml. */
function committedProject(fixture = 'ha.yaml', edit: (t: string) => string = (t) => t): { dir: string; spec: string } {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'clusters'));
  const spec = path.join(dir, 'clusters', 'example.yaml');
  fs.writeFileSync(spec, edit(fs.readFileSync(path.join(GOOD, fixture), 'utf8')));
  expect(runCli(['synth'], { cwd: dir }).status).toBe(0);
  return { dir, spec };
}
const edit = (spec: string, f: (t: string) => string) => fs.writeFileSync(spec, f(fs.readFileSync(spec, 'utf8')));
const bootstrappedHa = (t: string) => t.replace('bootstrapped: false', 'bootstrapped: true');

/** Runs synth and returns the one error line's pointer and code. */
function refused(dir: string): { pointer: string; code: string; line: string } {
  const r = runCli(['synth'], { cwd: dir });
  expect(r.status).toBe(1);
  const errors = r.stderr.split('\n').filter((l) => / error /.test(l));
  expect(errors).toHaveLength(1);
  const [, pointer, code] = /^\S+:\d+:\d+ (\S+) error (\S+):/.exec(errors[0]) ?? [];
  return { pointer, code, line: errors[0] };
}

describe('what K3s cannot change on a running cluster is refused against the committed tree', () => {
  test.each([
    ['clusterCidr', 'clusterCidr: 10.62.0.0/16', 'cluster-cidr', '/spec/network/clusterCidr'],
    ['clusterDns', 'clusterDns: 10.43.0.53', 'cluster-dns', '/spec/network/clusterDns'],
    ['clusterDomain', 'clusterDomain: example.internal', 'cluster-domain', '/spec/network/clusterDomain'],
  ])('fails: %s changed once bootstrapped -> IMMUTABLE_KEY naming the key, the committed and the new value', (_, network, key, pointer) => {
    const { dir, spec } = committedProject('ha.yaml', bootstrappedHa);
    edit(spec, (t) => t.replace('  disable: [traefik]', `  network:\n    ${network}\n  disable: [traefik]`));
    const r = refused(dir);
    expect(r.code).toBe('IMMUTABLE_KEY');
    expect(r.line).toContain(key);
    expect(r.pointer).toBe(pointer);
  });

  test('before bootstrap the network may still change: nothing runs yet that depends on it', () => {
    const { dir, spec } = committedProject();
    edit(spec, (t) => t.replace('  disable: [traefik]', '  network:\n    clusterCidr: 10.62.0.0/16\n  disable: [traefik]'));
    expect(runCli(['synth'], { cwd: dir }).status).toBe(0);
  });

  test.each([
    ['off', 'secretsEncryption: true', 'secretsEncryption: false', 'keep it true and turn encryption off with K3s\'s own steps'],
    ['on', 'secretsEncryption: true', 'secretsEncryption: false', 'K3s does not support turning encryption on for a cluster started without it'],
  ])('fails: secrets encryption turned %s once bootstrapped -> IMMUTABLE_KEY with K3s\'s way', (way, on, off, says) => {
    const { dir, spec } = committedProject('ha.yaml', (t) => bootstrappedHa(way === 'on' ? t.replace(on, off) : t));
    edit(spec, (t) => (way === 'on' ? t.replace(off, on) : t.replace(on, off)));
    const r = refused(dir);
    expect(r).toMatchObject({ code: 'IMMUTABLE_KEY', pointer: '/spec/secretsEncryption' });
    expect(r.line).toContain(says);
  });

  test('fails: bootstrapped true -> false is BOOTSTRAP_REVERSED', () => {
    const { dir, spec } = committedProject('ha.yaml', bootstrappedHa);
    edit(spec, (t) => t.replace('bootstrapped: true', 'bootstrapped: false'));
    expect(refused(dir)).toMatchObject({ code: 'BOOTSTRAP_REVERSED', pointer: '/spec/bootstrapped' });
  });

  test.each([
    ['reordered', (t: string) => t.replace(/( {4}- \{ name: master-1[^\n]*\n)( {4}- \{ name: master-2[^\n]*\n)/, '$2$1')],
    ['replaced', (t: string) => t.replace('{ name: master-1, role: server, address: 10.0.0.11 }', '{ name: master-0, role: server, address: 10.0.0.10 }')],
  ])('fails: the founding server %s while bootstrapped: false is FOUNDER_CHANGED', (_, change) => {
    const { dir, spec } = committedProject();
    edit(spec, change);
    expect(refused(dir)).toMatchObject({ code: 'FOUNDER_CHANGED', pointer: '/spec/nodes' });
  });

  test('fails: removing more servers than the cluster tolerates in one commit is QUORUM_REMOVAL', () => {
    const { dir, spec } = committedProject('enterprise.yaml');
    edit(spec, (t) => t.replace(/ {4}- \{ name: cp-[45][^\n]*\n/g, '').replace('{ name: cp-3, role: server, address: 172.16.0.13,', '{ name: cp-6, role: server, address: 172.16.0.16,'));
    const r = refused(dir);
    expect(r).toMatchObject({ code: 'QUORUM_REMOVAL', pointer: '/spec/nodes' });
    expect(r.line).toContain('removes 3 server(s) (cp-3, cp-4, cp-5) of 5; etcd needs 3 of them, so at most 2 may go in one commit');
  });

  test('removing as many servers as the cluster tolerates is allowed, and plan gives the commands', () => {
    const { dir, spec } = committedProject('enterprise.yaml');
    edit(spec, (t) => t.replace(/ {4}- \{ name: cp-[45][^\n]*\n/g, ''));
    const r = runCli(['plan'], { cwd: dir });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^cp-4 +removed +a server leaves the cluster$/m);
    expect(r.stdout).toContain('$ kubectl delete node cp-4');
    expect(r.stdout).toContain('$ ssh 172.16.0.14 sudo /usr/local/bin/k3s-uninstall.sh');
  });
});

describe('plan', () => {
  test('an unchanged spec: every node unchanged, nothing cluster-wide', () => {
    const { dir } = committedProject();
    const r = runCli(['plan'], { cwd: dir });
    expect(r.status).toBe(0);
    expect(r.stdout.match(/ unchanged /g)).toHaveLength(5);
    expect(r.stdout).toContain('cluster-wide: nothing');
  });

  test('a one-key change restarts exactly the nodes that key reaches, naming the key', () => {
    const { dir, spec } = committedProject();
    edit(spec, (t) => t.replace('    - { name: worker-1, role: agent, address: 10.0.0.21 }', '    - { name: worker-1, role: agent, address: 10.0.0.21, labels: { tier: app } }'));
    const json = JSON.parse(runCli(['plan', '--json'], { cwd: dir }).stdout);
    const actions = Object.fromEntries(json[0].nodes.map((n: { node: string; action: string }) => [n.node, n.action]));
    expect(actions).toEqual({ 'master-1': 'unchanged', 'master-2': 'unchanged', 'master-3': 'unchanged', 'worker-1': 'restart', 'worker-2': 'unchanged' });
    expect(json[0].nodes.find((n: { node: string }) => n.node === 'worker-1').keys).toEqual(['node-label']);

    edit(spec, (t) => t.replace('schedule: "0 */6 * * *"', 'schedule: "0 */4 * * *"'));
    const servers = JSON.parse(runCli(['plan', '--json'], { cwd: dir }).stdout)[0].nodes.filter((n: { action: string }) => n.action === 'restart');
    expect(servers.map((n: { node: string }) => n.node)).toEqual(['master-1', 'master-2', 'master-3', 'worker-1']);
    expect(servers[0].keys).toEqual(['etcd-snapshot-schedule-cron']);
  });

  test('the rollout: servers one at a time under the restart lock, then the gate, then agents; a K3s upgrade between', () => {
    const { dir, spec } = committedProject();
    edit(spec, (t) => t.replace('schedule: "0 */6 * * *"', 'schedule: "0 */4 * * *"').replace('version: v1.36.3+k3s1', 'version: v1.37.0+k3s1'));
    const r = runCli(['plan'], { cwd: dir });
    const rollout = r.stdout.split('\n').filter((l) => l.startsWith('rollout '));
    expect(rollout).toEqual([
      'rollout 1: servers master-1, master-2, master-3, one at a time in an order system-upgrade-controller picks: each takes the restart lock in etcd (one server restarting at a time across every Plan), waits for every etcd member healthy, restarts, and has 300s to be healthy or goes back to the previous config',
      'rollout 2: K3s v1.37.0+k3s1 on every server, one at a time under the same lock and gate, a snapshot first',
      'rollout 3: agents worker-1, worker-2: 1 at a time, once every server runs this commit, config first, then K3s v1.37.0+k3s1; no etcd gate',
    ]);
    expect(JSON.parse(runCli(['plan', '--json'], { cwd: dir }).stdout)[0].rollout).toEqual(rollout.map((l) => l.replace(/^rollout \d: /, '')));
  });

  test('without spec.gitops, plan does not claim the Plans act: nothing applies upgrades/', () => {
    const { dir, spec } = committedProject('ha.yaml', (t) => t.replace(/ {2}gitops:[\s\S]*$/, ''));
    edit(spec, (t) => t.replace('schedule: "0 */6 * * *"', 'schedule: "0 */4 * * *"'));
    const r = runCli(['plan'], { cwd: dir });
    expect(r.stdout).toContain('rollout 1: nothing applies upgrades/ (no spec.gitops (NO_GITOPS)): no node changes until dist/example/upgrades/ is applied to the cluster');
    expect(r.stdout).not.toContain('restart lock');
    expect(r.stderr).toMatch(/^clusters\/example.yaml:\d+:\d+ \/spec warning NO_GITOPS: /m);
  });

  test('new nodes are booted from their user-data; a node-ip change on a server needs reprovisioning', () => {
    const { dir, spec } = committedProject('ha.yaml', bootstrappedHa);
    edit(spec, (t) => t.replace('    - { name: worker-2, role: agent, address: 10.0.0.22 }', '    - { name: worker-2, role: agent, address: 10.0.0.22 }\n    - { name: worker-3, role: agent, address: 10.0.0.23 }')
      .replace('address: 10.0.0.13 }', 'address: 10.0.0.14 }'));
    const r = runCli(['plan'], { cwd: dir });
    expect(r.stdout).toMatch(/^worker-3 +new +boot it with dist\/example\/nodes\/worker-3\/user-data.yaml/m);
    expect(r.stdout).toMatch(/^master-3 +reprovision +node-ip cannot change on a running node/m);
  });

  test('cluster-wide steps: a K3s upgrade; secrets encryption flipped before bootstrap says it must not be running yet', () => {
    const { dir, spec } = committedProject();
    edit(spec, (t) => t.replace('version: v1.36.3+k3s1', 'version: v1.37.0+k3s1').replace('secretsEncryption: true', 'secretsEncryption: false'));
    const r = runCli(['plan'], { cwd: dir });
    expect(r.stdout).toContain('cluster-wide: upgrade K3s v1.36.3+k3s1 -> v1.37.0+k3s1');
    expect(r.stdout).toContain('cluster-wide: secrets encryption off: only while no server has started yet');
  });

  test('cluster-wide steps: a committed load balancer on VRRPv2 says how its move to VRRPv3 rolls, in both modes', () => {
    for (const [fixture, lbFiles, words] of [['ha.yaml', ['example/manifests/load-balancer.k8s.yaml'], 'while the DaemonSet rolls'], ['enterprise.yaml', ['enterprise/lb/keepalived-lb-1.conf', 'enterprise/lb/keepalived-lb-2.conf'], 'on every LB machine']] as const) {
      const { dir } = committedProject(fixture);
      expect(runCli(['plan'], { cwd: dir }).stdout).not.toContain('VRRPv2');
      // The tree as this tool wrote it before VRRPv3: keepalived.conf without `version 3`.
      for (const f of lbFiles) edit(path.join(dir, 'dist', f), (t) => t.replace(/^\s*version 3\n/gm, ''));
      const r = runCli(['plan'], { cwd: dir });
      expect(r.stdout).toContain('cluster-wide: load balancer from VRRPv2 to VRRPv3: v2 and v3 peers ignore each other');
      expect(r.stdout).toContain(words);
    }
  });

  test('--out compares with another tree: a branch whose dist/ is re-synthesized, against the base branch\'s dist/', () => {
    const { dir, spec } = committedProject('ha.yaml', bootstrappedHa);
    const base = path.join(tempDir(), 'dist');
    fs.cpSync(path.join(dir, 'dist'), base, { recursive: true });
    edit(spec, (t) => t.replace('    - { name: worker-1, role: agent, address: 10.0.0.21 }', '    - { name: worker-1, role: agent, address: 10.0.0.21, labels: { tier: app } }'));
    expect(runCli(['synth'], { cwd: dir }).status).toBe(0);
    expect(runCli(['plan'], { cwd: dir }).stdout).not.toContain(' restart ');
    expect(runCli(['plan', '--out', base], { cwd: dir }).stdout).toMatch(/^worker-1 +restart +k3s-agent restarts; added: node-label$/m);

    edit(spec, (t) => t.replace('  disable: [traefik]', '  network:\n    clusterCidr: 10.62.0.0/16\n  disable: [traefik]'));
    expect(runCli(['synth'], { cwd: dir }).status).toBe(1);
    fs.cpSync(base, path.join(dir, 'dist'), { recursive: true, force: true });
    const refusedAgainstBase = runCli(['plan', '--out', base], { cwd: dir });
    expect(refusedAgainstBase.status).toBe(1);
    expect(refusedAgainstBase.stderr).toContain('IMMUTABLE_KEY');
  });

  test('the fleet guide\'s workflow posts plan against the base branch\'s dist/ on pull requests', () => {
    const workflow = YAML.parse(markedBlock('ci', 'fleet workflow', 'docs/guides/fleet-repository.md'));
    const steps: { run?: string }[] = workflow.jobs.plan.steps;
    expect(workflow.jobs.plan.if).toBe("github.event_name == 'pull_request'");
    expect(steps.some((s) => s.run?.includes('npx k3s-gitops plan --out "$RUNNER_TEMP/base/dist"'))).toBe(true);
    expect(steps.some((s) => s.run?.includes('gh pr comment'))).toBe(true);
    expect(workflow.jobs.check.steps.map((s: { run?: string }) => s.run)).toContain('npx k3s-gitops synth --check');
  });

  test('a registries change restarts every node, one at a time, naming registries.yaml', () => {
    const { dir, spec } = committedProject('ha.yaml', bootstrappedHa);
    edit(spec, (t) => `${t}  registries:\n    mirrors:\n      docker.io: { endpoint: ["https://registry.example.internal:5000"] }\n`);
    const json = JSON.parse(runCli(['plan', '--json'], { cwd: dir }).stdout)[0];
    expect(json.nodes.map((n: { action: string }) => n.action)).toEqual(['restart', 'restart', 'restart', 'restart', 'restart']);
    expect(runCli(['plan'], { cwd: dir }).stdout).toMatch(/^worker-1 +restart +k3s-agent restarts; changed: registries.yaml$/m);
    expect(runCli(['synth'], { cwd: dir }).status).toBe(0);
    expect(runCli(['plan'], { cwd: dir }).stdout.match(/ unchanged /g)).toHaveLength(5);
  });

  test('fails: an invalid spec exits 1 with its diagnostics', () => {
    const { dir, spec } = committedProject('ha.yaml', bootstrappedHa);
    edit(spec, (t) => t.replace('bootstrapped: true', 'bootstrapped: false'));
    const r = runCli(['plan'], { cwd: dir });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('BOOTSTRAP_REVERSED');
  });
});
