import * as path from 'node:path';
import { CONFIG_ROLLOUT_NAMES } from '../../src/names';
import { ROLLOUT_TIMING } from '../../src/render/apply-config-script';
import { GOOD, loadCluster, parseManifests, treeOf } from '../helpers';
import { kubernetesSchemaFailures } from '../tools';

const example = loadCluster(path.join(GOOD, 'ha.yaml'));
const objects = (c: typeof example, file = 'upgrades/plans/plans.k8s.yaml') => parseManifests(treeOf(c).get(file) as string);
const byName = (list: any[], kind: string, name: string) => list.find((o) => o.kind === kind && o.metadata.name === name);

describe('day-2 config rollout', () => {
  const list = objects(example);

  test('each role\'s Secret carries every node\'s config.yaml byte for byte, and the apply script; no token', () => {
    const tree = treeOf(example);
    for (const role of ['server', 'agent'] as const) {
      const secret = byName(list, 'Secret', CONFIG_ROLLOUT_NAMES.secret(role));
      for (const n of role === 'server' ? example.servers : example.agents) expect(secret.stringData[`${n.name}.yaml`]).toBe(tree.get(`nodes/${n.name}/config.yaml`));
      expect(secret.stringData['apply-config.sh']).toMatch(/^#!\/bin\/sh/);
      expect(JSON.stringify(secret)).not.toMatch(/"token":|K10[0-9a-f]{20}/);
    }
  });

  test('Plans: servers one at a time behind the restart lock and the etcd gate, agents agentConcurrency at a time, every taint tolerated', () => {
    const servers = byName(list, 'Plan', CONFIG_ROLLOUT_NAMES.plan('server'));
    const agents = byName(list, 'Plan', CONFIG_ROLLOUT_NAMES.plan('agent'));
    expect(servers.spec.concurrency).toBe(1);
    expect(agents.spec.concurrency).toBe(1);
    expect(objects(loadCluster(path.join(GOOD, 'ha.yaml'), (t) => `${t}  upgrades: { agentConcurrency: 2 }\n`)).find((o) => o.kind === 'Plan' && o.metadata.name === CONFIG_ROLLOUT_NAMES.plan('agent')).spec.concurrency).toBe(2);
    for (const plan of list.filter((o) => o.kind === 'Plan')) expect(plan.spec.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(servers.spec.secrets).toEqual([{ name: CONFIG_ROLLOUT_NAMES.secret('server'), path: '/run/k3s-gitops' }]);
    // Agents wait for the servers' rollout: k3s-upgrade's prepare step on the server Plan.
    expect(agents.spec.prepare).toEqual({ image: 'rancher/k3s-upgrade', args: ['prepare', CONFIG_ROLLOUT_NAMES.plan('server')] });
    // Servers: etcdctl copied onto the host for the gate and the lock, one file per Plan, and K3s's etcd certificates by data dir.
    expect(servers.spec.prepare).toEqual({ image: 'registry.k8s.io/etcd:3.5.21-0', command: ['/bin/cp', '/usr/local/bin/etcdctl', '/host/run/k3s-gitops-etcdctl-k3s-gitops-config-servers'] });
    expect(servers.spec.upgrade.envs).toEqual(expect.arrayContaining([
      { name: 'ETCDCTL', value: '/host/run/k3s-gitops-etcdctl-k3s-gitops-config-servers' },
      { name: 'ETCD_TLS', value: '/var/lib/rancher/k3s/server/tls/etcd' },
      { name: 'LOCK_TTL', value: '20' },
    ]));
    const dataDir = objects(loadCluster(path.join(GOOD, 'ha.yaml'), (t) => `${t}  extraConfig: { servers: { data-dir: /srv/k3s } }\n`));
    expect(byName(dataDir, 'Plan', CONFIG_ROLLOUT_NAMES.plan('server')).spec.upgrade.envs).toContainEqual({ name: 'ETCD_TLS', value: '/srv/k3s/server/tls/etcd' });
  });

  test('deadlines: a server job outlasts waiting for the lock behind every other server of both server Plans, then its own hold', () => {
    const plans = list.filter((o) => o.kind === 'Plan');
    const deadline = (name: string) => plans.find((p) => p.metadata.name === name).spec.jobActiveDeadlineSecs;
    const hold = ROLLOUT_TIMING.holdSeconds;
    expect(hold).toBeGreaterThan(ROLLOUT_TIMING.healthTimeoutSeconds + 60);
    const servers = example.servers.length;
    expect(deadline(CONFIG_ROLLOUT_NAMES.plan('server'))).toBe(2 * servers * hold);
    expect(deadline('k3s-server')).toBe(2 * servers * hold);
    const lockTimeout = byName(list, 'Plan', CONFIG_ROLLOUT_NAMES.plan('server')).spec.upgrade.envs.find((e: { name: string }) => e.name === 'LOCK_TIMEOUT').value;
    expect(Number(lockTimeout)).toBe((2 * servers - 1) * hold);
    // Agents wait in their prepare step for every server, then take their own turn.
    expect(deadline(CONFIG_ROLLOUT_NAMES.plan('agent'))).toBe(2 * servers * hold + hold);
    expect(deadline('k3s-agent')).toBe(2 * servers * hold + (example.agents.length + 1) * hold);
  });

  test('the K3s upgrade runs k3s-upgrade\'s own step under the same lock and gate, a snapshot first, and a config change does not re-run it', () => {
    const upgrade = byName(list, 'Plan', 'k3s-server');
    expect(upgrade.spec.upgrade.image).toBe('rancher/k3s-upgrade');
    expect(upgrade.spec.upgrade.command).toEqual(['sh', '/run/k3s-gitops/apply-config.sh']);
    expect(upgrade.spec.upgrade.envs).toEqual(expect.arrayContaining([{ name: 'K3S_UPGRADE', value: '1' }, { name: 'UPGRADE_COMMAND', value: '/bin/upgrade.sh upgrade' }, { name: 'SNAPSHOT_NAME', value: 'pre-v1.36.3-k3s1' }]));
    expect(upgrade.spec.prepare.command).toEqual(['/bin/cp', '/usr/local/bin/etcdctl', '/host/run/k3s-gitops-etcdctl-k3s-server']);
    expect(upgrade.spec.secrets[0].ignoreUpdates).toBe(true);
    // The staleness gate: twice the backup schedule's 6 h interval; the NFS copy's CronJob and K3s's S3 uploads.
    expect(upgrade.spec.upgrade.envs).toEqual(expect.arrayContaining([
      { name: 'OFFSITE_MAX_AGE_SECONDS', value: '43200' }, { name: 'BACKUP_CRONJOBS', value: 'etcd-backup-nas' }, { name: 'S3_SNAPSHOTS', value: '1' },
    ]));
    const noCopies = objects(loadCluster(path.join(GOOD, 'lab.yaml'), (t) => t.replace(/ {2}backup:[\s\S]*?(?=\n {2}gitops:)/, '').replace(/\n+(?= {2}gitops:)/, '\n')));
    expect(noCopies.find((o) => o.metadata.name === 'k3s-server').spec.upgrade.envs.map((e: { name: string }) => e.name)).not.toContain('OFFSITE_MAX_AGE_SECONDS');
  });

  test('re-synthesizing an unchanged spec changes nothing; a change to one agent changes only the agents\' Secret', () => {
    expect(treeOf(example).get('upgrades/plans/plans.k8s.yaml')).toBe(treeOf(loadCluster(path.join(GOOD, 'ha.yaml'))).get('upgrades/plans/plans.k8s.yaml'));
    const changed = objects(loadCluster(path.join(GOOD, 'ha.yaml'), (t) => t.replace('{ name: worker-1, role: agent, address: 10.0.0.21 }', '{ name: worker-1, role: agent, address: 10.0.0.21, labels: { tier: app } }')));
    const differs = list.filter((o, i) => JSON.stringify(o) !== JSON.stringify(changed[i])).map((o) => `${o.kind}/${o.metadata.name}`);
    expect(differs).toEqual([`Secret/${CONFIG_ROLLOUT_NAMES.secret('agent')}`]);
  });
});

describe('system-upgrade-controller, installed by the tree', () => {
  test('pinned, with its namespace, RBAC and Deployment, and no CRD (it registers its own); every object validates', () => {
    const suc = objects(example, 'upgrades/controller/system-upgrade-controller.k8s.yaml');
    expect(suc.map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRole', 'ClusterRoleBinding', 'ClusterRoleBinding', 'ConfigMap', 'Deployment', 'Namespace', 'Role', 'RoleBinding', 'ServiceAccount']);
    expect(byName(suc, 'Deployment', 'system-upgrade-controller').spec.template.spec.containers[0].image).toBe('rancher/system-upgrade-controller:v0.20.1');
    // What registering its CRD at start takes: list it, then create or update it.
    expect(byName(suc, 'ClusterRole', 'system-upgrade-controller').rules).toContainEqual(expect.objectContaining({ apiGroups: ['apiextensions.k8s.io'], resources: ['customresourcedefinitions'], verbs: expect.arrayContaining(['list', 'create', 'update']) }));
    expect(kubernetesSchemaFailures(suc)).toEqual([]);
    expect(kubernetesSchemaFailures(objects(example).filter((o) => o.kind === 'Secret'))).toEqual([]);
    expect(treeOf(example).get('upgrades/controller/kustomization.yaml')).toContain('- system-upgrade-controller.k8s.yaml');
  });

  test('controller: external leaves it out', () => {
    const c = loadCluster(path.join(GOOD, 'ha.yaml'), (t) => `${t}  upgrades: { controller: external }\n`);
    expect([...treeOf(c).keys()].filter((k) => k.startsWith('upgrades/controller/'))).toEqual([]);
    expect(treeOf(c).has('upgrades/plans/plans.k8s.yaml')).toBe(true);
  });
});
