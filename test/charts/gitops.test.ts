import * as fs from 'node:fs';
import * as path from 'node:path';
import { SERVER_CONCURRENCY } from '../../src/charts/upgrades';
import { clusterImage } from '../../src/images';
import { GOOD, goodFixtures, loadCluster, parseManifests, parseYaml, runCli, tempDir, treeOf } from '../helpers';
import { kubernetesSchemaFailures, kustomize } from '../tools';

const clusters = goodFixtures().map((f) => loadCluster(f));
const example = loadCluster(path.join(GOOD, 'ha.yaml'));
const enterprise = loadCluster(path.join(GOOD, 'enterprise.yaml'));
const objects = (tree: Map<string, string>, file: string) => parseManifests(tree.get(file) as string);

describe('Flux', () => {
  const tree = treeOf(example);
  const [source, manifests, controller, upgrades] = objects(tree, 'flux/sync.k8s.yaml');

  test('objects validate against the Flux CRD schemas', () => {
    expect(kubernetesSchemaFailures([source, manifests, controller, upgrades])).toEqual([]);
    expect([source.apiVersion, manifests.apiVersion]).toEqual(['source.toolkit.fluxcd.io/v1', 'kustomize.toolkit.fluxcd.io/v1']);
  });

  test('GitRepository follows gitops.repository and branch; Kustomization prunes, waits, and points at manifests/', () => {
    expect(source.spec).toMatchObject({ url: 'https://github.com/acme/fleet.git', ref: { branch: 'main' } });
    expect(manifests.spec).toMatchObject({ path: './dist/example/manifests', prune: true, wait: true, sourceRef: { kind: 'GitRepository', name: 'example' } });
    expect(manifests.spec.interval).toBeDefined();
    expect(tree.has(`${manifests.spec.path.replace('./dist/example/', '')}/kustomization.yaml`)).toBe(true);
  });

  test('manifests/, then system-upgrade-controller, Ready only once the Plan CRD it registers is Established, then the Plans', () => {
    expect(controller.metadata.name).toBe('example-system-upgrade-controller');
    expect(controller.spec).toMatchObject({ path: './dist/example/upgrades/controller', prune: true, dependsOn: [{ name: 'example-manifests' }] });
    // The CRD is not among the objects it applies: only a health check can wait for it.
    expect(controller.spec.healthChecks).toEqual(expect.arrayContaining([
      { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: 'plans.upgrade.cattle.io' },
      { apiVersion: 'apps/v1', kind: 'Deployment', name: 'system-upgrade-controller', namespace: 'system-upgrade' },
    ]));
    // With wait: true, Flux ignores healthChecks (KustomizationSpec.Wait).
    expect(controller.spec.wait).toBeUndefined();
    expect(controller.spec.timeout).toBeDefined();
    expect(upgrades.metadata.name).toBe('example-upgrades');
    expect(upgrades.spec).toMatchObject({ path: './dist/example/upgrades/plans', prune: true, dependsOn: [{ name: 'example-system-upgrade-controller' }] });
    for (const k of [controller, upgrades]) expect(tree.has(`${k.spec.path.replace('./dist/example/', '')}/kustomization.yaml`)).toBe(true);
    // Each Kustomization applies one folder: the controller's holds no Plan, the Plans' no controller.
    expect(objects(tree, 'upgrades/controller/system-upgrade-controller.k8s.yaml').map((o) => o.kind)).not.toContain('Plan');
    expect(new Set(objects(tree, 'upgrades/plans/plans.k8s.yaml').map((o) => o.kind))).toEqual(new Set(['Plan', 'Secret']));
  });

  test('controller: external: no controller Kustomization; the Plans follow manifests/, the cluster\'s own controller having registered their CRD', () => {
    const c = loadCluster(path.join(GOOD, 'ha.yaml'), (t) => `${t}  upgrades: { controller: external }\n`);
    const sync = objects(treeOf(c), 'flux/sync.k8s.yaml');
    expect(sync.map((o) => o.metadata.name)).toEqual(['example', 'example-manifests', 'example-upgrades']);
    expect(sync[2].spec).toMatchObject({ path: './dist/example/upgrades/plans', dependsOn: [{ name: 'example-manifests' }] });
  });

  test('gitops.upgrades: false leaves the Plans unapplied (no system-upgrade-controller)', () => {
    const c = loadCluster(path.join(GOOD, 'ha.yaml'), (t) => t.replace('branch: main', 'branch: main\n    upgrades: false'));
    expect(objects(treeOf(c), 'flux/sync.k8s.yaml').map((o) => o.metadata.name)).toEqual(['example', 'example-manifests']);
  });

  test('a private repository gets its credentials Secret', () => {
    const c = loadCluster(path.join(GOOD, 'ha.yaml'), (t) => t.replace('branch: main', 'branch: main\n    secretName: fleet-deploy-key'));
    expect(objects(treeOf(c), 'flux/sync.k8s.yaml')[0].spec.secretRef).toEqual({ name: 'fleet-deploy-key' });
  });
});

describe('Argo CD', () => {
  const tree = treeOf(enterprise);
  const apps = objects(tree, 'argocd/applications.k8s.yaml');
  const wave = (o: { metadata: { annotations?: Record<string, string> } }) => Number(o.metadata.annotations?.['argocd.argoproj.io/sync-wave'] ?? 0);

  test('Applications validate against the Argo CD CRD schema', () => {
    expect(kubernetesSchemaFailures(apps)).toEqual([]);
  });

  test('same source and path, automated sync with prune and self-heal, no cascading finalizer', () => {
    const [manifests, upgrades] = apps;
    expect(manifests.spec.source).toEqual({ repoURL: 'https://github.com/acme/platform.git', targetRevision: 'main', path: 'dist/enterprise/manifests' });
    expect(manifests.spec.syncPolicy.automated).toEqual({ prune: true, selfHeal: true });
    expect(manifests.metadata.finalizers).toBeUndefined();
    expect(tree.has('manifests/kustomization.yaml')).toBe(true);
    expect(upgrades.spec.source.path).toBe('dist/enterprise/upgrades');
  });

  test('upgrades/ builds the controller and the Plans; the Plans come a wave later, skip the dry-run of their missing kind, and are retried', () => {
    const upgrades = apps[1];
    expect(parseYaml(tree.get('upgrades/kustomization.yaml') as string).resources).toEqual(['controller', 'plans']);
    const controller = objects(tree, 'upgrades/controller/system-upgrade-controller.k8s.yaml');
    const plans = objects(tree, 'upgrades/plans/plans.k8s.yaml').filter((o) => o.kind === 'Plan');
    expect(Math.min(...plans.map(wave))).toBeGreaterThan(Math.max(...controller.map(wave)));
    for (const plan of plans) expect(plan.metadata.annotations['argocd.argoproj.io/sync-options']).toContain('SkipDryRunOnMissingResource=true');
    // A Plan applied in the seconds before the controller has registered its CRD fails the sync: it is retried.
    expect(upgrades.spec.syncPolicy.retry.limit).toBeGreaterThan(0);
    expect(upgrades.spec.syncPolicy.retry.backoff).toMatchObject({ duration: '10s', factor: 2 });
  });

  test('controller: external: upgrades/ builds only the Plans', () => {
    const c = loadCluster(path.join(GOOD, 'enterprise.yaml'), (t) => `${t}  upgrades: { controller: external }\n`);
    const t = treeOf(c);
    expect(parseYaml(t.get('upgrades/kustomization.yaml') as string).resources).toEqual(['plans']);
    expect([...t.keys()].filter((k) => k.startsWith('upgrades/controller/'))).toEqual([]);
    expect(objects(t, 'argocd/applications.k8s.yaml')[1].spec.source.path).toBe('dist/enterprise/upgrades');
  });

  test('a cluster without gitops gets neither folder', () => {
    const c = loadCluster(path.join(GOOD, 'ha.yaml'), (t) => t.replace(/ {2}gitops:[\s\S]*$/, ''));
    expect([...treeOf(c).keys()].some((k) => k.startsWith('flux/') || k.startsWith('argocd/'))).toBe(false);
  });
});

describe('kubectl kustomize builds every folder', () => {
  test.each(clusters.map((c) => [c.source, c] as const))('%s', async (_s, c) => {
    const dir = tempDir('kustomize-');
    for (const [rel, content] of treeOf(c)) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), content);
    }
    const folders = [...treeOf(c).keys()].filter((k) => k.endsWith('/kustomization.yaml')).map((k) => path.dirname(k));
    expect(folders.sort()).toEqual(expect.arrayContaining(['manifests', 'upgrades', 'upgrades/plans']));
    for (const folder of folders) {
      const built = await kustomize(path.join(dir, folder));
      if (!built) {
        console.warn('kubectl is not installed: kustomize builds skipped');
        return;
      }
      expect({ folder, ok: built.ok, output: built.ok ? '' : built.output }).toEqual({ folder, ok: true, output: '' });
    }
  });
});

describe('upgrades through Git', () => {
  test.each(clusters.map((c) => [c.source, c] as const))('%s: Plans pinned to k3s.version, servers first, within quorum', (_s, c) => {
    const plans = objects(treeOf(c), 'upgrades/plans/plans.k8s.yaml');
    const server = plans.find((p) => p.metadata.name === 'k3s-server');
    expect(server.spec.version).toBe(c.k3sVersion);
    expect(server.spec.concurrency).toBe(SERVER_CONCURRENCY);
    expect(server.spec.concurrency).toBeLessThanOrEqual(Math.max(1, c.quorum.tolerated));
    expect(server.spec.cordon).toBe(true);
    expect(server.spec.nodeSelector.matchExpressions[0]).toEqual({ key: 'node-role.kubernetes.io/control-plane', operator: 'In', values: ['true'] });
    const agent = plans.find((p) => p.metadata.name === 'k3s-agent');
    if (c.agents.length === 0) return expect(agent).toBeUndefined();
    expect(agent.spec.version).toBe(c.k3sVersion);
    // Agents wait for their config rollout, which waits for the servers: servers first, then agents, one agent Plan at a time.
    expect(agent.spec.prepare).toEqual({ image: clusterImage(c, 'rancher/k3s-upgrade'), args: ['prepare', 'k3s-gitops-config-agents'] });
    expect(agent.spec.drain).toMatchObject({ force: true, ignoreDaemonSets: true });
    expect(agent.spec.nodeSelector.matchExpressions[0]).toEqual({ key: 'node-role.kubernetes.io/control-plane', operator: 'DoesNotExist' });
  });

  /** A project whose committed dist/ was compiled from the example at v1.36.3+k3s1. */
  function committedProject(): string {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'clusters'));
    fs.copyFileSync(path.join(GOOD, 'ha.yaml'), path.join(dir, 'clusters', 'example.yaml'));
    expect(runCli(['synth'], { cwd: dir }).status).toBe(0);
    return dir;
  }
  const setVersion = (dir: string, v: string) => {
    const f = path.join(dir, 'clusters', 'example.yaml');
    fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace(/version: v\S+/, `version: ${v}`));
  };

  test('an unchanged version adds no diff', () => {
    const dir = committedProject();
    expect(runCli(['synth', '--check'], { cwd: dir }).status).toBe(0);
  });

  test.each([['v1.36.4+k3s1'], ['v1.36.3+k3s2'], ['v1.37.0+k3s1']])('upgrading to %s is accepted and changes the Plans', (v) => {
    const dir = committedProject();
    setVersion(dir, v);
    const check = runCli(['synth', '--check'], { cwd: dir });
    expect(check.status).toBe(1);
    expect(check.stderr).toContain('changed  dist/example/upgrades/plans/plans.k8s.yaml');
    expect(check.stderr).toContain(`+  version: ${v}`); // the short diff says what changed
    expect(runCli(['synth'], { cwd: dir }).status).toBe(0);
  });

  test('fails: against a tree committed before the Plans had their own folder, a minor skip is still refused', () => {
    const dir = committedProject();
    const upgrades = path.join(dir, 'dist', 'example', 'upgrades');
    fs.renameSync(path.join(upgrades, 'plans', 'plans.k8s.yaml'), path.join(upgrades, 'plans.k8s.yaml'));
    fs.rmSync(path.join(upgrades, 'plans'), { recursive: true });
    setVersion(dir, 'v1.38.0+k3s1');
    const r = runCli(['synth'], { cwd: dir });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('K3S_MINOR_SKIP: found v1.38.0+k3s1, but dist/example was compiled for v1.36.3+k3s1');
  });

  test.each([
    ['v1.38.0+k3s1', 'K3S_MINOR_SKIP', 'one minor version at a time: go to v1.37.x first'],
    ['v2.0.0+k3s1', 'K3S_MINOR_SKIP', 'one minor version at a time'],
    ['v1.35.9+k3s1', 'K3S_DOWNGRADE', 'does not support downgrades'],
    ['v1.36.3+k3s0', 'K3S_DOWNGRADE', 'does not support downgrades'],
  ])('fails: %s is refused with %s', (v, code, message) => {
    const dir = committedProject();
    setVersion(dir, v);
    const before = fs.readFileSync(path.join(dir, 'dist', 'example', 'upgrades', 'plans', 'plans.k8s.yaml'), 'utf8');
    const r = runCli(['synth'], { cwd: dir });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`clusters/example.yaml:\\d+:\\d+ /spec/k3s/version error ${code}: found ${v.replace(/[.+]/g, '\\$&')}, but dist/example was compiled for v1\\.36\\.3\\+k3s1`));
    expect(r.stderr).toContain(message);
    expect(fs.readFileSync(path.join(dir, 'dist', 'example', 'upgrades', 'plans', 'plans.k8s.yaml'), 'utf8')).toBe(before);
  });
});
