import { ApiObject, Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { APPLY_CONFIG_SCRIPT, jobDeadlineSeconds, ROLLOUT_TIMING } from '../render/apply-config-script';
import { renderK3sConfig } from '../render/k3s-config';
import { renderRegistries } from '../render/registries';
import type { ResolvedCluster } from '../cluster-file/resolve';
import { clusterImage, IMAGES, K3S_UPGRADE_REPOSITORY } from '../images';
import { BACKUP_NAMES, CONFIG_ROLLOUT_NAMES, K3S_UPGRADE_PLANS, REGISTRIES_SECRET_KEY, SUC_NAMES, SYSTEM_NAMESPACE } from '../names';
import { longestIntervalSeconds } from '../cluster-file/cron';
import { commonLabels } from './common';

const SCRIPT_KEY = 'apply-config.sh';

/**
 * How many servers change at once: one. More than the failures the cluster tolerates
 * could break quorum mid-rollout; one at a time also keeps the load balancer serving
 * from the rest, and is within what every odd-sized cluster of 3 or more tolerates.
 */
export const SERVER_CONCURRENCY = 1;

/** Every taint: a node a Plan skips would stay on the old version or config for good. */
const TOLERATE_ALL = [{ operator: 'Exists' }];
const SERVERS = { matchExpressions: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'In', values: ['true'] }] };
const AGENTS = { matchExpressions: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'DoesNotExist' }] };

/** Argo CD dry-runs every object before its sync; a Plan cannot be dry-run before its CRD exists. */
const PLAN_ANNOTATIONS = { 'argocd.argoproj.io/sync-options': 'SkipDryRunOnMissingResource=true' };

/**
 * How old the newest off-node copy of etcd may be when a K3s upgrade starts: twice the
 * interval of whatever makes copies (the backup CronJobs' schedule, K3s's own S3
 * uploads at each snapshot), the staleness bound the backup Jobs use too. No gate
 * without an off-node copy configured: RUNBOOK.md says so.
 */
function offsiteGateEnv(c: ResolvedCluster): { name: string; value: string }[] {
  const cronJobs = (c.backup?.targets ?? []).map((t) => BACKUP_NAMES.cronJob(t.name));
  if (cronJobs.length === 0 && !c.etcdS3) return [];
  const intervals = [...(cronJobs.length > 0 ? [longestIntervalSeconds(c.backup?.schedule ?? '')] : []), ...(c.etcdS3 ? [longestIntervalSeconds(c.snapshots.schedule)] : [])];
  return [
    { name: 'OFFSITE_MAX_AGE_SECONDS', value: String(2 * Math.max(...intervals)) },
    ...(cronJobs.length > 0 ? [{ name: 'BACKUP_NAMESPACE', value: SYSTEM_NAMESPACE }, { name: 'BACKUP_CRONJOBS', value: cronJobs.join(' ') }] : []),
    ...(c.etcdS3 ? [{ name: 'S3_SNAPSHOTS', value: '1' }] : []),
  ];
}

/**
 * Where a server Plan's prepare step leaves etcdctl on the host, one file per Plan: two
 * Plans' jobs can run on one node at once, and a binary being executed cannot be
 * overwritten (ETXTBSY). /run is the host's tmpfs; every job copies it afresh.
 */
const etcdctlOnHost = (plan: string) => `/run/k3s-gitops-etcdctl-${plan}`;

/**
 * K3s ships no etcdctl. registry.k8s.io/etcd carries one with a `cp` beside it
 * (kubernetes/kubernetes cluster/images/etcd/Dockerfile: `COPY etcd* etcdctl*
 * /usr/local/bin/`, `COPY cp* /bin/`), so a server Plan's prepare step copies it to the
 * host, where the day-2 job's container runs it: init containers share only the host.
 */
function copyEtcdctl(c: ResolvedCluster, plan: string) {
  return { image: clusterImage(c, IMAGES.etcdctl), command: ['/bin/cp', '/usr/local/bin/etcdctl', `/host${etcdctlOnHost(plan)}`] };
}

/** The lock wait of a server job: its deadline less its own hold. */
const lockTimeoutSeconds = (c: ResolvedCluster) => jobDeadlineSeconds(c, 'server') - ROLLOUT_TIMING.holdSeconds;

/** What every apply job is told: its role, the Secret's mount, its timing, K3s's etcd. */
function applyEnv(c: ResolvedCluster, role: 'server' | 'agent', plan: string) {
  const t = ROLLOUT_TIMING;
  return [
    { name: 'ROLE', value: role },
    { name: 'CONFIGS_DIR', value: CONFIG_ROLLOUT_NAMES.mountPath },
    { name: 'HEALTH_TIMEOUT', value: String(t.healthTimeoutSeconds) },
    { name: 'POLL_SECONDS', value: String(t.pollSeconds) },
    ...(role === 'server' ? [
      { name: 'ETCDCTL', value: `/host${etcdctlOnHost(plan)}` },
      { name: 'ETCD_TLS', value: `${c.dataDir}/server/tls/etcd` },
      { name: 'LOCK_TTL', value: String(t.lockTtlSeconds) },
      { name: 'LOCK_TIMEOUT', value: String(lockTimeoutSeconds(c)) },
    ] : []),
  ];
}

/**
 * system-upgrade-controller Plans: K3s pinned to `k3s.version` (servers first, one at a
 * time behind the restart lock and the quorum gate with a snapshot first, then agents),
 * and the day-2 rollout of every node's config.yaml from Secrets (a Plan re-runs on
 * every node when a Secret it mounts changes: system-upgrade-controller hashes each
 * listed Secret into the Plan's latestHash, pkg/upgrade/plan/plan.go). Unchanged
 * input, unchanged objects: nothing runs again.
 *
 * `concurrency` holds within one Plan only: the controller picks each Plan's nodes
 * from that Plan's own status (pkg/upgrade/plan/plan.go SelectConcurrentNodes), and
 * both server Plans carry the K3s version, so a version bump starts both at once. The
 * restart lock in etcd is what keeps two servers from restarting together; agents are
 * kept apart across Plans by the K3s upgrade's prepare step, which waits for the
 * agents' config rollout.
 */
export class UpgradePlansChart extends Chart {
  constructor(scope: Construct, id: string, c: ResolvedCluster) {
    super(scope, id, { disableResourceNameHashes: true, namespace: SUC_NAMES.namespace });
    // The day-2 job needs only a shell, chroot, cmp and sha256sum; the host's own tools do the rest.
    const applyImage = clusterImage(c, IMAGES.busybox);
    // Untagged: system-upgrade-controller tags it with the Plan's version.
    const upgradeImage = clusterImage(c, K3S_UPGRADE_REPOSITORY);
    const labels = commonLabels(c.name, 'upgrades');
    const script = `${CONFIG_ROLLOUT_NAMES.mountPath}/${SCRIPT_KEY}`;
    const registries = renderRegistries(c);
    for (const role of ['server', 'agent'] as const) {
      const nodes = role === 'server' ? c.servers : c.agents;
      if (nodes.length === 0) continue;
      const plan = CONFIG_ROLLOUT_NAMES.plan(role);
      const data: Record<string, string> = { [SCRIPT_KEY]: APPLY_CONFIG_SCRIPT };
      for (const n of nodes) data[`${n.name}.yaml`] = renderK3sConfig(c, n);
      if (registries) data[REGISTRIES_SECRET_KEY] = registries;
      new ApiObject(this, `config-${role}s`, {
        apiVersion: 'v1', kind: 'Secret', type: 'Opaque',
        metadata: { name: CONFIG_ROLLOUT_NAMES.secret(role), labels },
        stringData: data,
      });
      new ApiObject(this, `config-plan-${role}s`, {
        apiVersion: 'upgrade.cattle.io/v1',
        kind: 'Plan',
        metadata: { name: plan, labels, annotations: PLAN_ANNOTATIONS },
        spec: {
          concurrency: role === 'server' ? SERVER_CONCURRENCY : c.upgrades.agentConcurrency,
          jobActiveDeadlineSecs: jobDeadlineSeconds(c, role === 'server' ? 'server' : 'agent-config'),
          nodeSelector: role === 'server' ? SERVERS : AGENTS,
          tolerations: TOLERATE_ALL,
          serviceAccountName: SUC_NAMES.serviceAccount,
          secrets: [{ name: CONFIG_ROLLOUT_NAMES.secret(role), path: CONFIG_ROLLOUT_NAMES.mountPath }],
          // Agents after servers: a change servers must take first (an agent token, a new
          // endpoint) reaches agents only once every server runs it. k3s-upgrade's
          // `prepare <plan>` waits until that Plan applies to no node, then until every
          // server's kubelet runs this Plan's version (scripts/upgrade.sh): a stuck K3s
          // upgrade of the servers holds agent changes too, which RUNBOOK.md says.
          prepare: role === 'server' ? copyEtcdctl(c, plan) : { image: upgradeImage, args: ['prepare', CONFIG_ROLLOUT_NAMES.plan('server')] },
          // A Plan needs a version; the image is pinned by tag, so it only names the rollout.
          version: c.k3sVersion,
          upgrade: { image: applyImage, command: ['sh', script], envs: applyEnv(c, role, plan) },
        },
      });
    }

    new ApiObject(this, 'server', {
      apiVersion: 'upgrade.cattle.io/v1',
      kind: 'Plan',
      metadata: { name: K3S_UPGRADE_PLANS.server, labels, annotations: PLAN_ANNOTATIONS },
      spec: {
        concurrency: SERVER_CONCURRENCY,
        jobActiveDeadlineSecs: jobDeadlineSeconds(c, 'server'),
        cordon: true,
        nodeSelector: SERVERS,
        tolerations: TOLERATE_ALL,
        serviceAccountName: SUC_NAMES.serviceAccount,
        // The script only: a config change must not re-run the K3s upgrade.
        secrets: [{ name: CONFIG_ROLLOUT_NAMES.secret('server'), path: CONFIG_ROLLOUT_NAMES.mountPath, ignoreUpdates: true }],
        prepare: copyEtcdctl(c, K3S_UPGRADE_PLANS.server),
        // k3s-upgrade's own image and binary swap (its /bin/upgrade.sh), run by our
        // script under the restart lock, after the gate and a snapshot, with a health wait.
        upgrade: {
          image: upgradeImage,
          command: ['sh', script],
          envs: [
            ...applyEnv(c, 'server', K3S_UPGRADE_PLANS.server),
            { name: 'K3S_UPGRADE', value: '1' },
            { name: 'UPGRADE_COMMAND', value: '/bin/upgrade.sh upgrade' },
            { name: 'SNAPSHOT_NAME', value: `pre-${c.k3sVersion.replace(/\+/g, '-')}` },
            ...offsiteGateEnv(c),
          ],
        },
        version: c.k3sVersion,
      },
    });
    if (c.agents.length === 0) return;
    new ApiObject(this, 'agent', {
      apiVersion: 'upgrade.cattle.io/v1',
      kind: 'Plan',
      metadata: { name: K3S_UPGRADE_PLANS.agent, labels, annotations: PLAN_ANNOTATIONS },
      spec: {
        concurrency: c.upgrades.agentConcurrency,
        jobActiveDeadlineSecs: jobDeadlineSeconds(c, 'agent-upgrade'),
        cordon: true,
        drain: { force: true, ignoreDaemonSets: true, deleteEmptydirData: true, skipWaitForDeleteTimeout: 60 },
        nodeSelector: AGENTS,
        // After the agents' config rollout, which itself waits for the servers: both
        // restart agents, and a version bump starts both, so this keeps them apart.
        prepare: { image: upgradeImage, args: ['prepare', CONFIG_ROLLOUT_NAMES.plan('agent')] },
        serviceAccountName: SUC_NAMES.serviceAccount,
        tolerations: TOLERATE_ALL,
        upgrade: { image: upgradeImage },
        version: c.k3sVersion,
      },
    });
  }
}
