import { createHash } from 'node:crypto';
import { jobDeadlineSeconds, ROLLOUT_TIMING } from './apply-config-script';
import { HAPROXY_BACKEND, HAPROXY_FRONTEND } from './haproxy-cfg';
import { renderK3sConfig } from './k3s-config';
import { ETCD_DEFAULT_QUOTA_BYTES, ETCD_METRICS_PORT } from '../k3s/facts';
import { longestIntervalSeconds } from '../cluster-file/cron';
import type { ResolvedCluster } from '../cluster-file/resolve';
import {
  BACKUP_NAMES, CERT_NAMES, CONFIG_ROLLOUT_NAMES, JOB_DEADLINES, K3S_UPGRADE_PLANS, LB_METRICS, MONITORING_NAMES, SUC_NAMES, SYSTEM_NAMESPACE,
} from '../names';

/**
 * The alerts a production cluster needs, as Prometheus rule groups with their RUNBOOK.md
 * sections: one table, so an alert and what the operator reads about it cannot drift.
 * Pure: thresholds come from the resolved cluster (server count, schedules, warnDays,
 * rollout timing), never from the clock.
 *
 * The signals, and why each:
 * - etcd: etcd's own metrics, scraped from each server's :2381 (`etcdMetrics`):
 *   `up`, `etcd_server_has_leader` and `etcd_mvcc_db_total_size_in_bytes`
 *   (etcd-io/etcd server/etcdserver/metrics.go, server/storage/mvcc/metrics.go).
 * - Snapshots: K3s records each snapshot as an ETCDSnapshotFile (status failed, with
 *   the error, when one fails: k3s-io/k3s pkg/etcd/snapshot.go Snapshot) and emits events
 *   for them (pkg/etcd/snapshot_controller.go emitEvent); with `supervisor-metrics` it
 *   also exports `k3s_etcd_snapshot_save_duration_seconds{status}` on :6443 behind
 *   authentication (pkg/etcd/snapshotmetrics, docs.k3s.io reference/metrics).
 *   kube-state-metrics exports no custom resource by default and events are no
 *   metric, and the supervisor metrics need a flag and an authenticated scrape of every
 *   server; the backup CronJobs, however, already fail when the newest snapshot is
 *   older than twice the snapshot interval (render/backup-script.ts), and a CronJob's
 *   last schedule and last success are in kube-state-metrics by default. So the
 *   backup Jobs are the snapshot signal, and there is none without backup.targets.
 * - Off-node copies, certificates: the CronJobs' `kube_cronjob_status_last_successful_time`
 *   and `kube_cronjob_status_last_schedule_time` (kube-state-metrics
 *   docs/metrics/workload/cronjob-metrics.md, v2.10 and later).
 * - Day 2: the Plans' Jobs, named `apply-<plan>-on-<node>-with-<hash>` cut to 63
 *   characters keeping at least the first 56 (system-upgrade-controller
 *   pkg/upgrade/job/job.go, wrangler name.SafeConcatName), so a name prefix selects
 *   them without `kube_job_labels`, whose labels need kube-state-metrics'
 *   `--metric-labels-allowlist`; and the nodes' `k3s-gitops.io/config-hash` label,
 *   which `kube_node_labels` carries only with `--metric-labels-allowlist=nodes=[...]`,
 *   as `label_k3s_gitops_io_config_hash` (kube-state-metrics internal/store/utils.go
 *   SanitizeLabelName).
 * - Load balancer: HAProxy's built-in exporter, `haproxy_backend_active_servers` ("total
 *   number of active UP servers with a non-zero weight", haproxy addons/promex and
 *   src/stats.c at v2.8.0) and each peer's `up`. keepalived has no exporter and nothing
 *   exports who holds the VIP; what matters to clients is that the VIP answers, so
 *   Prometheus also scrapes HAProxy's exporter through the VIP: `up` of that target is
 *   0 when no peer holds it, or the holder's HAProxy is dead, or the VIP is unreachable
 *   from the cluster. Two holders at once (split brain) show as two peers' HAProxy
 *   receiving bytes on the API frontend (`haproxy_frontend_bytes_in_total`): only the
 *   holder gets API clients, and after a failover the old holder stops within the
 *   rate's one-minute window. Not connections (`haproxy_frontend_connections_total`
 *   counts every accepted one, src/listener.c): keepalived's check connects to every
 *   peer's HAProxy each second, the kubelet's readiness probe too, and both send nothing.
 */

/** kube-prometheus's severities: critical pages someone now, warning waits for working hours. */
export type Severity = 'critical' | 'warning';

/** One alerting rule in Prometheus's rule-file form, as PrometheusRule carries it. */
export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly labels: { readonly severity: Severity };
  readonly annotations: { readonly summary: string; readonly description: string; readonly runbook_url: string };
}

/** A rule group: Prometheus evaluates its rules together, at its interval. */
export interface RuleGroup {
  readonly name: string;
  readonly rules: readonly AlertRule[];
}

/** What RUNBOOK.md says about one alert: what it means, then what to do, with commands. */
export interface AlertRunbook {
  readonly alert: string;
  readonly severity: Severity;
  readonly means: string;
  readonly steps: readonly string[];
  readonly commands: readonly string[];
}

/** The rule groups and their RUNBOOK.md sections, in the same order. */
export interface ClusterAlerts {
  readonly groups: readonly RuleGroup[];
  readonly runbook: readonly AlertRunbook[];
}

/** One alert as the table below holds it, before its link is added. */
interface AlertDefinition {
  readonly alert: string;
  readonly severity: Severity;
  readonly expr: string;
  readonly forSeconds: number;
  readonly summary: string;
  readonly description: string;
  readonly means: string;
  readonly steps: readonly string[];
  readonly commands?: readonly string[];
}

/** A Prometheus duration for a whole number of seconds: 600 -> 10m, 4260 -> 1h11m. */
export function promDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s === 0) return '0s';
  const parts: [number, string][] = [[Math.floor(s / 86400), 'd'], [Math.floor((s % 86400) / 3600), 'h'], [Math.floor((s % 3600) / 60), 'm'], [s % 60, 's']];
  return parts.filter(([n]) => n > 0).map(([n, unit]) => `${n}${unit}`).join('');
}

/** Spoken form of a duration for descriptions: 43200 -> "12h", 4260 -> "1h11m". */
const spoken = promDuration;

/** A PromQL string literal. */
const str = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** A PromQL regex literal matching exactly one of `names`. */
const oneOf = (names: readonly string[]) => str(names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'));

/** Equality matchers by label name. */
type Matchers = Readonly<Record<string, string>>;

/** A selector: `{a="b", c=~"d"}`, the equality matchers first, then the others as written. */
function sel(eq: Matchers, ...others: string[]): string {
  return `{${[...Object.entries(eq).map(([k, v]) => `${k}=${str(v)}`), ...others].join(', ')}}`;
}

/** The short hash the day-2 job labels a node with: 16 hex digits of its config.yaml's sha256 (render/apply-config-script.ts). */
export function committedConfigHash(c: ResolvedCluster, node: ResolvedCluster['nodes'][number]): string {
  return createHash('sha256').update(renderK3sConfig(c, node)).digest('hex').slice(0, 16);
}

/** kube-state-metrics' name for the node label, made a Prometheus label (SanitizeLabelName). */
export const HASH_METRIC_LABEL = `label_${CONFIG_ROLLOUT_NAMES.hashLabel.replace(/[^a-zA-Z0-9_]/g, '_')}`;

/** The allowlist entry kube-state-metrics needs for the rollout alerts. */
export const HASH_ALLOWLIST = `--metric-labels-allowlist=nodes=[${CONFIG_ROLLOUT_NAMES.hashLabel}]`;

/**
 * A server restart of a day-2 rollout keeps one etcd member and one apiserver down
 * for up to the health timeout; the member and backend alerts wait longer than that.
 */
const RESTART_BOUND_SECONDS = ROLLOUT_TIMING.healthTimeoutSeconds + 300;

/** How long a commit takes to reach the cluster: Flux polls the repository each minute, Argo CD every 3; with room to apply. */
const GITOPS_SYNC_SECONDS = 15 * 60;

/**
 * How long a whole config rollout may take, commit to last node: the sync, the servers
 * one at a time (each server job's deadline covers waiting behind every other server of
 * both server Plans), then the agents, `agentConcurrency` at a time.
 */
export function rolloutBoundSeconds(c: ResolvedCluster): number {
  const agentRounds = Math.ceil(c.agents.length / c.upgrades.agentConcurrency);
  return GITOPS_SYNC_SECONDS + jobDeadlineSeconds(c, 'server') + agentRounds * ROLLOUT_TIMING.holdSeconds;
}

const GIB = 1024 ** 3;
const bytes = (n: number) => (n % GIB === 0 ? `${n / GIB} GiB` : `${n} bytes`);

/** Where the monitoring objects' targets carry which `job`: prometheus-operator's defaults (MONITORING_NAMES). */
function jobs(c: ResolvedCluster): { etcd: Matchers; lb: Matchers; vip: Matchers } {
  const ns = c.monitoring.namespace;
  return {
    etcd: { job: MONITORING_NAMES.etcdService, namespace: ns },
    // A PodMonitor's targets carry the pods' namespace.
    lb: c.loadBalancer.mode === 'daemonset'
      ? { job: `${ns}/${MONITORING_NAMES.lbPodMonitor}`, namespace: SYSTEM_NAMESPACE }
      : { job: MONITORING_NAMES.lbHostsService, namespace: ns },
    vip: { job: MONITORING_NAMES.vipService, namespace: ns },
  };
}

function etcdAlerts(c: ResolvedCluster): AlertDefinition[] {
  if (!c.monitoring.etcdMetrics) return [];
  const etcd = sel(jobs(c).etcd);
  const q = c.quorum;
  const upCount = `(count(up${etcd} == 1) or vector(0))`;
  const member = c.servers.map((s) => `${s.name} (${s.address})`).join(', ');
  const quota = c.etcdQuotaBytes;
  const quotaSource = quota === ETCD_DEFAULT_QUOTA_BYTES ? "etcd's default quota (K3s sets none; quota-backend-bytes in etcd-arg changes it)" : 'quota-backend-bytes from etcd-arg';
  const memberCommands = [
    `kubectl get nodes -l node-role.kubernetes.io/control-plane=true -o wide`,
    `ssh <server> sudo systemctl status k3s; ssh <server> sudo journalctl -u k3s --since -30min | grep -i etcd`,
    `ssh <server> curl -s http://127.0.0.1:2381/metrics | grep -E '^etcd_server_(has_leader|is_leader) '`,
  ];
  const alerts: AlertDefinition[] = [{
    alert: 'K3sEtcdMemberDown',
    severity: 'warning',
    expr: `up${etcd} == 0`,
    forSeconds: RESTART_BOUND_SECONDS,
    summary: 'etcd member {{ $labels.node }} ({{ $labels.instance }}) is not answering',
    description: `Prometheus has not reached etcd's metrics on {{ $labels.instance }} (server {{ $labels.node }}) for ${spoken(RESTART_BOUND_SECONDS)}: K3s or the machine is down there, or :2381 is blocked. The cluster has ${q.servers} servers and tolerates ${q.tolerated} down.`,
    means: `One server's etcd (K3s on that server) does not answer on :${ETCD_METRICS_PORT} for longer than a day-2 restart takes (${spoken(RESTART_BOUND_SECONDS)}). The servers are ${member}; quorum is ${q.quorum} of ${q.servers}.`,
    steps: [
      'Find the server from the alert\'s `node` label and look at K3s there; `systemctl restart k3s` is safe while the other members hold quorum.',
      'A server that is gone for good: [Replacing one failed server](#replacing-one-failed-server).',
      'A server that runs but is not scraped: K3s serves :2381 on its node address only with `etcd-expose-metrics` (monitoring.etcdMetrics); a firewall between Prometheus and the servers must let 2381 through.',
    ],
    commands: memberCommands,
  }];
  if (q.tolerated > 0) {
    alerts.push({
      alert: 'K3sEtcdQuorumAtRisk',
      severity: 'critical',
      expr: `${upCount} == ${q.quorum}`,
      forSeconds: RESTART_BOUND_SECONDS,
      summary: `Only ${q.quorum} of ${q.servers} etcd members answer: one more failure loses quorum`,
      description: `{{ $value }} of the cluster's ${q.servers} etcd members answer, exactly its quorum of ${q.quorum}: losing one more server stops the Kubernetes API (etcd refuses reads and writes). Bring the down members back before anything else restarts a server.`,
      means: `The cluster has ${q.servers} servers; etcd needs ${q.quorum} of them. With ${q.quorum} up it still serves, but tolerates no further failure, and a day-2 restart would take the API down (the quorum gate of the Plans refuses to restart while a member is unhealthy).`,
      steps: [
        'Find the down members (the `K3sEtcdMemberDown` alerts name them) and bring them back, or replace them ([Replacing one failed server](#replacing-one-failed-server)).',
        'Do not restart, drain or upgrade any other server until every member answers.',
      ],
      commands: memberCommands,
    });
  }
  alerts.push({
    alert: 'K3sEtcdQuorumLost',
    severity: 'critical',
    expr: `${upCount} < ${q.quorum}`,
    forSeconds: 60,
    summary: `Fewer than ${q.quorum} of ${q.servers} etcd members answer: etcd has no quorum`,
    description: `{{ $value }} of the cluster's ${q.servers} etcd members answer; etcd needs ${q.quorum}. Without quorum etcd refuses reads and writes and the Kubernetes API is down.`,
    means: `Fewer than ${q.quorum} of ${q.servers} servers' etcd members are up. If they come back with their data, quorum returns by itself; if not, the cluster needs a reset or a restore.`,
    steps: [
      'Start K3s on every server that is down but intact; quorum returns as soon as enough members are up.',
      'If servers are lost for good: [Quorum lost, data intact](#quorum-lost-data-intact), or [Restore from a snapshot](#restore-from-a-snapshot).',
    ],
    commands: memberCommands,
  });
  alerts.push({
    alert: 'K3sEtcdNoLeader',
    severity: 'critical',
    expr: `etcd_server_has_leader${etcd} == 0`,
    forSeconds: 60,
    summary: 'etcd member {{ $labels.node }} ({{ $labels.instance }}) has no leader',
    description: 'The etcd member on {{ $labels.node }} has seen no leader for 1m: it cannot serve reads or writes. When several members say so, the cluster has lost quorum or its members cannot reach each other on :2380.',
    means: 'An etcd member that has no leader is cut off from a majority of the members: a network partition between servers (peer port 2380), or quorum is lost.',
    steps: [
      'If every member reports no leader, treat it as quorum lost ([Quorum lost, data intact](#quorum-lost-data-intact)).',
      'If one member does, check the network between it and the other servers on TCP 2380, and its clock.',
    ],
    commands: memberCommands,
  });
  for (const [alert, severity, share] of [['K3sEtcdDatabaseNearQuota', 'warning', 0.8], ['K3sEtcdDatabaseFull', 'critical', 0.95]] as const) {
    alerts.push({
      alert,
      severity,
      expr: `etcd_mvcc_db_total_size_in_bytes${etcd} > ${Math.round(share * quota)}`,
      forSeconds: 600,
      summary: `etcd's database on {{ $labels.node }} is over ${share * 100} % of its ${bytes(quota)} quota`,
      description: `etcd's database on {{ $labels.node }} ({{ $labels.instance }}) is {{ $value | humanize1024 }}B, over ${share * 100} % of the ${bytes(quota)} quota (${quotaSource}). At the quota etcd raises a NOSPACE alarm and refuses every write until the database is compacted and defragmented.`,
      means: `The etcd backend file has grown to ${share * 100} % of the ${bytes(quota)} quota. The apiserver compacts old revisions every 5 minutes, but the file only shrinks when defragmented; a cluster that writes a lot (events, leases, a controller in a loop) fills it.`,
      steps: [
        'Find what writes: the apiserver\'s `apiserver_storage_objects` by resource usually shows one resource type out of proportion.',
        'Defragment one member at a time (it blocks that member while it runs), then disarm a NOSPACE alarm if one was raised.',
        `To raise the quota, add \`quota-backend-bytes=<bytes>\` to \`etcd-arg\` in extraConfig.servers (at most 8 GiB is what etcd recommends), re-synthesize and commit: the servers restart one at a time with it, and these thresholds follow.`,
      ],
      commands: [
        `ssh ${c.servers[0].address} sudo ETCDCTL_API=3 etcdctl ${etcdctl(c)} endpoint status -w table --cluster`,
        `ssh <server> sudo ETCDCTL_API=3 etcdctl ${etcdctl(c)} defrag          # one server at a time`,
        `ssh ${c.servers[0].address} sudo ETCDCTL_API=3 etcdctl ${etcdctl(c)} alarm list   # then: alarm disarm`,
      ],
    });
  }
  return alerts;
}

/** etcdctl's way into K3s's etcd on a server, as RUNBOOK.md's other sections use it. */
const etcdctl = (c: ResolvedCluster) => `--endpoints https://127.0.0.1:2379 --cacert ${c.dataDir}/server/tls/etcd/server-ca.crt --cert ${c.dataDir}/server/tls/etcd/client.crt --key ${c.dataDir}/server/tls/etcd/client.key`;

/**
 * The latest run of each named CronJob has not succeeded: its last schedule is after
 * its last success, or it never succeeded. kube-state-metrics sets last_successful_time
 * only once a Job succeeded (internal/store/cronjob.go).
 */
function latestRunFailed(selector: string): string {
  const last = `max by (namespace, cronjob) (kube_cronjob_status_last_schedule_time${selector})`;
  const success = `max by (namespace, cronjob) (kube_cronjob_status_last_successful_time${selector})`;
  return `(${last} > on (namespace, cronjob) ${success})\nor\n(${last} unless on (namespace, cronjob) ${success})`;
}

function backupAlerts(c: ResolvedCluster): AlertDefinition[] {
  const targets = c.backup?.targets ?? [];
  if (targets.length === 0) return [];
  const cronJobs = targets.map((t) => BACKUP_NAMES.cronJob(t.name));
  const selector = sel({ namespace: SYSTEM_NAMESPACE }, `cronjob=~${oneOf(cronJobs)}`);
  const snapshotInterval = longestIntervalSeconds(c.snapshots.schedule);
  const copyInterval = longestIntervalSeconds(c.backup?.schedule ?? '');
  const stale = 2 * copyInterval;
  const where = targets.map((t) => `\`${BACKUP_NAMES.cronJob(t.name)}\` to ${t.nfs ? `NFS ${t.nfs.server}:${t.nfs.path}` : `s3://${t.s3?.bucket}/${t.s3?.folder}`}`).join(', ');
  const logs = [
    `kubectl -n ${SYSTEM_NAMESPACE} get cronjobs,jobs -l app.kubernetes.io/component=etcd-backup`,
    `kubectl -n ${SYSTEM_NAMESPACE} logs job/<newest-failed-job>     # "copying ... failed", or "K3s snapshots have stopped on this server"`,
    `ssh ${c.servers[0].address} sudo k3s etcd-snapshot ls`,
    'kubectl get etcdsnapshotfiles                                  # K3s records a failed snapshot with its error here',
  ];
  return [{
    alert: 'K3sEtcdBackupFailing',
    severity: 'warning',
    expr: latestRunFailed(selector),
    forSeconds: JOB_DEADLINES.backupSeconds + 300,
    summary: 'The latest run of {{ $labels.cronjob }} failed: a copy failed, or K3s stopped taking snapshots',
    description: `The newest Job of {{ $labels.cronjob }} (schedule "${c.backup?.schedule}", ${c.backup?.timeZone}) has not succeeded ${spoken(JOB_DEADLINES.backupSeconds + 300)} after it started. It fails when copying to its target fails, or when the newest local snapshot is older than ${spoken(2 * snapshotInterval)} (twice the interval of the snapshot schedule "${c.snapshots.schedule}"): then K3s's snapshots have stopped on that server.`,
    means: `A backup CronJob (${where}) failed its latest run. Its log says which of the two it was: the copy to the target, or K3s's own snapshots (schedule \`${c.snapshots.schedule}\`) being older than ${spoken(2 * snapshotInterval)}.`,
    steps: [
      'Read the failed Job\'s log.',
      'Copy failed: check the target (NFS export mounted and writable by root, S3 credentials Secret and bucket); the next run copies everything that is missing.',
      `Snapshots stopped: read \`journalctl -u k3s\` on the server the Job ran on ("Failed to take etcd snapshot"), and \`kubectl get etcdsnapshotfiles\`; take one by hand to check (\`k3s etcd-snapshot save\`).`,
      'Then rerun the CronJob by hand, below, so the alert clears before the next schedule.',
    ],
    commands: [...logs, `kubectl -n ${SYSTEM_NAMESPACE} create job --from=cronjob/<cronjob> <cronjob>-manual`],
  }, {
    alert: 'K3sEtcdOffNodeCopyStale',
    severity: 'warning',
    expr: [
      `(time() - max by (namespace, cronjob) (kube_cronjob_status_last_successful_time${selector})) > ${stale}`,
      `or`,
      `((time() - max by (namespace, cronjob) (kube_cronjob_created${selector})) > ${stale} unless on (namespace, cronjob) kube_cronjob_status_last_successful_time${selector})`,
    ].join('\n'),
    forSeconds: 300,
    summary: 'The newest off-node copy of etcd by {{ $labels.cronjob }} is older than ' + spoken(stale),
    description: `{{ $labels.cronjob }} last succeeded {{ $value | humanizeDuration }} ago (or never, since it was created that long ago); it runs on "${c.backup?.schedule}", every ${spoken(copyInterval)} at most, so its copy should never be older than ${spoken(stale)}. A server disk lost now loses everything since.`,
    means: `No run of a backup CronJob succeeded for twice its schedule's longest interval (${spoken(copyInterval)}, from \`${c.backup?.schedule}\`): the off-node copy is stale. The day-2 K3s upgrade refuses to start in this state too.`,
    steps: [
      'See `K3sEtcdBackupFailing` for why runs fail; if none failed, the CronJob did not run: suspended, or every start missed its 10-minute starting deadline (the controller or the servers were down).',
      'Run it by hand once it is fixed and check that it succeeds.',
    ],
    commands: [
      `kubectl -n ${SYSTEM_NAMESPACE} get cronjobs -l app.kubernetes.io/component=etcd-backup -o custom-columns=NAME:.metadata.name,SUSPEND:.spec.suspend,LAST-SCHEDULE:.status.lastScheduleTime,LAST-SUCCESS:.status.lastSuccessfulTime`,
      ...logs.slice(1, 2),
      `kubectl -n ${SYSTEM_NAMESPACE} create job --from=cronjob/<cronjob> <cronjob>-manual`,
    ],
  }];
}

function certificateAlerts(c: ResolvedCluster): AlertDefinition[] {
  const cronJobs = c.servers.map((s) => CERT_NAMES.cronJob(s.name));
  const selector = sel({ namespace: SYSTEM_NAMESPACE }, `cronjob=~${oneOf(cronJobs)}`);
  const mapping = c.servers.map((s) => `\`${CERT_NAMES.cronJob(s.name)}\` checks ${s.name}`).join(', ');
  return [{
    alert: 'K3sCertificateExpiresSoon',
    severity: 'warning',
    expr: latestRunFailed(selector),
    forSeconds: JOB_DEADLINES.certificateCheckSeconds + 300,
    summary: 'A K3s certificate checked by {{ $labels.cronjob }} expires within ' + `${c.certificates.warnDays} days`,
    description: `The daily certificate check {{ $labels.cronjob }} failed its latest run: a K3s certificate on its server expires within ${c.certificates.warnDays} days (certificates.warnDays), or the check found no certificate to read. K3s renews its 365-day certificates only when it starts within 90 days of their expiry.`,
    means: `A certificate expiry CronJob failed (${mapping}). It fails when a certificate under ${c.dataDir}/server/tls or ${c.dataDir}/agent expires within ${c.certificates.warnDays} days; its log names them.`,
    steps: [
      'Read the failed Job\'s log: it names the server and each certificate with its expiry date.',
      'Renew as [Certificates](#certificates) says, one server at a time; then rerun the check.',
    ],
    commands: [
      `kubectl -n ${SYSTEM_NAMESPACE} get jobs -l app.kubernetes.io/component=cert-expiry`,
      `kubectl -n ${SYSTEM_NAMESPACE} logs job/<failed-job>`,
      `kubectl -n ${SYSTEM_NAMESPACE} create job --from=cronjob/<cronjob> <cronjob>-manual`,
    ],
  }];
}

function dayTwoAlerts(c: ResolvedCluster): AlertDefinition[] {
  if (!c.gitops?.upgrades) return [];
  const plans = [
    ...(c.servers.length > 0 ? [CONFIG_ROLLOUT_NAMES.plan('server'), K3S_UPGRADE_PLANS.server] : []),
    ...(c.agents.length > 0 ? [CONFIG_ROLLOUT_NAMES.plan('agent'), K3S_UPGRADE_PLANS.agent] : []),
  ];
  const jobNames = `job_name=~${str(`apply-(${plans.join('|')})-on-.+`)}`;
  const ns = SUC_NAMES.namespace;
  const bound = rolloutBoundSeconds(c);
  const names = oneOf(c.nodes.map((n) => n.name));
  const drift = c.nodes.map((n) => {
    const hash = committedConfigHash(c, n);
    return `  label_replace(kube_node_labels${sel({ node: n.name }, `${HASH_METRIC_LABEL}!=${str(hash)}`)}, "committed_hash", ${str(hash)}, "", "")`;
  });
  const exported = `count(kube_node_labels${sel({}, `node=~${names}`, `${HASH_METRIC_LABEL}!=""`)}) > 0`;
  const jobCommands = [
    `kubectl -n ${ns} get jobs -o wide | grep -E 'apply-(${plans.join('|')})-on-'`,
    `kubectl -n ${ns} logs job/<failed-job>`,
    `kubectl get nodes -L ${CONFIG_ROLLOUT_NAMES.hashLabel}`,
  ];
  return [{
    alert: 'K3sGitopsRolloutFailed',
    severity: 'warning',
    expr: `max by (namespace, job_name) (kube_job_status_failed${sel({ namespace: ns }, jobNames)}) > 0\nunless on (namespace, job_name)\nmax by (namespace, job_name) (kube_job_status_succeeded${sel({ namespace: ns })}) > 0`,
    forSeconds: 900,
    summary: 'Day-2 job {{ $labels.job_name }} keeps failing',
    description: `The system-upgrade-controller Job {{ $labels.job_name }} has {{ $value }} failed pod(s) and no success for 15m: the node it runs on did not take its committed config or K3s version (the node is left as it was, or rolled back), so the Plan is halted there and no other node of that role changes.`,
    means: 'A job of one of this cluster\'s Plans (config rollout or K3s upgrade) failed on its node and keeps failing on retry. The job\'s log says why; the node runs what it ran before.',
    steps: [
      'Read the job\'s log; [When a job fails](#when-a-job-fails) explains each cause.',
      'A bad config: fix the cluster file, re-synthesize and commit; the new hash starts a new job.',
      'A passing cause (an etcd member restarting, the VIP not up yet): the job is retried; delete it to retry at once.',
    ],
    commands: jobCommands,
  }, {
    alert: 'K3sGitopsRolloutStuck',
    severity: 'warning',
    expr: `max by (node, committed_hash, ${HASH_METRIC_LABEL}) (\n${drift.join('\n  or\n')}\n)\nand on () (${exported})`,
    forSeconds: bound,
    summary: 'Node {{ $labels.node }} does not run its committed config.yaml after ' + spoken(bound),
    description: `Node {{ $labels.node }} carries ${CONFIG_ROLLOUT_NAMES.hashLabel}="{{ $labels.${HASH_METRIC_LABEL} }}" but Git says {{ $labels.committed_hash }}, for ${spoken(bound)}: longer than a whole rollout of this cluster takes (${c.servers.length} server(s) one at a time, ${c.agents.length} agent(s) ${c.upgrades.agentConcurrency} at a time). kube-state-metrics exports the label only with ${HASH_ALLOWLIST}.`,
    means: `The day-2 rollout has not brought this node to the config.yaml of the commit in ${spoken(bound)}: the commit's sync, ${c.servers.length} server(s) one at a time behind the restart lock, then ${c.agents.length} agent(s) ${c.upgrades.agentConcurrency} at a time. Something holds it: a failed job (\`K3sGitopsRolloutFailed\`), a Plan that is not applied, a controller that is not running, or a lock held by a job that waits behind an unhealthy etcd member.`,
    steps: [
      `This alert reads the node label \`${CONFIG_ROLLOUT_NAMES.hashLabel}\` from kube-state-metrics' \`kube_node_labels\`, which carries a label only when allow-listed: run kube-state-metrics with \`${HASH_ALLOWLIST}\` (kube-prometheus-stack: \`kube-state-metrics.metricLabelsAllowlist: ["nodes=[${CONFIG_ROLLOUT_NAMES.hashLabel}]"]\`).`,
      'Compare what each node runs with what Git says (below), then look at the Plans and their jobs.',
      'Plans not applied: [When the Plans are not applied](#when-the-plans-are-not-applied). A failed job: [When a job fails](#when-a-job-fails).',
    ],
    commands: [
      `kubectl get nodes -L ${CONFIG_ROLLOUT_NAMES.hashLabel}`,
      `sha256sum dist/${c.name}/nodes/*/config.yaml | cut -c1-16     # what Git says, per node`,
      `kubectl -n ${ns} get plans,jobs`,
      `kubectl -n ${ns} logs deployment/${SUC_NAMES.deployment} --since=1h`,
    ],
  }, {
    alert: 'K3sGitopsConfigHashNotExported',
    severity: 'warning',
    expr: `(count(kube_node_labels${sel({}, `node=~${names}`)}) > 0)\nunless\n(${exported})`,
    forSeconds: bound,
    summary: `No node shows its ${CONFIG_ROLLOUT_NAMES.hashLabel} label to Prometheus`,
    description: `kube-state-metrics exports the cluster's nodes but none with ${CONFIG_ROLLOUT_NAMES.hashLabel}, for ${spoken(bound)}: either kube-state-metrics runs without ${HASH_ALLOWLIST}, so K3sGitopsRolloutStuck cannot see a stuck rollout, or no node has applied its config since the day-2 Plans were installed.`,
    means: `The rollout alerts compare each node's \`${CONFIG_ROLLOUT_NAMES.hashLabel}\` label with the committed config; kube-state-metrics' \`kube_node_labels\` carries node labels only when allow-listed.`,
    steps: [
      `If \`kubectl get nodes -L ${CONFIG_ROLLOUT_NAMES.hashLabel}\` shows hashes, allow-list the label: run kube-state-metrics with \`${HASH_ALLOWLIST}\` (kube-prometheus-stack: \`kube-state-metrics.metricLabelsAllowlist: ["nodes=[${CONFIG_ROLLOUT_NAMES.hashLabel}]"]\`).`,
      'If it shows none, no config Plan has run: see `K3sGitopsRolloutStuck`.',
    ],
    commands: [`kubectl get nodes -L ${CONFIG_ROLLOUT_NAMES.hashLabel}`, `kubectl -n ${ns} get plans,jobs`],
  }];
}

function loadBalancerAlerts(c: ResolvedCluster): AlertDefinition[] {
  if (!c.monitoring.prometheusRules || c.loadBalancer.mode === 'none') return [];
  const { lb: lbMatchers, vip: vipMatchers } = jobs(c);
  const lb = sel(lbMatchers);
  const vip = sel(vipMatchers);
  const peers = c.loadBalancer.mode === 'daemonset' ? c.servers.map((s) => s.name) : c.loadBalancer.hosts.map((h) => h.name);
  const peerAddresses = c.loadBalancer.mode === 'daemonset' ? c.servers.map((s) => s.address) : c.loadBalancer.hosts.map((h) => h.address);
  const n = c.servers.length;
  const backend = `haproxy_backend_active_servers${sel({ ...lbMatchers, proxy: HAPROXY_BACKEND })}`;
  const received = `rate(haproxy_frontend_bytes_in_total${sel({ ...lbMatchers, proxy: HAPROXY_FRONTEND })}[1m])`;
  const where = c.loadBalancer.mode === 'daemonset' ? `the load balancer pods (DaemonSet k3s-api-lb in ${SYSTEM_NAMESPACE}) on the servers` : 'the LB machines';
  const scrape = (address: string) => `curl -s http://${address.includes(':') ? `[${address}]` : address}:${LB_METRICS.port}${LB_METRICS.path} | grep -E '^haproxy_(backend_active_servers|server_status).*${HAPROXY_BACKEND}'`;
  const look = c.loadBalancer.mode === 'daemonset'
    ? [`kubectl -n ${SYSTEM_NAMESPACE} get pods -l app.kubernetes.io/component=api-load-balancer -o wide`, `kubectl -n ${SYSTEM_NAMESPACE} logs <pod> -c haproxy --tail 50`, `kubectl -n ${SYSTEM_NAMESPACE} logs <pod> -c keepalived --tail 50`]
    : c.loadBalancer.hosts.map((h) => `ssh ${h.address} 'systemctl status haproxy keepalived; ip -br addr | grep -w ${c.endpoint}'   # ${h.name}`);
  return [{
    alert: 'K3sApiLoadBalancerPeerDown',
    severity: 'warning',
    expr: `(count(up${lb} == 1) or vector(0)) < ${peers.length}`,
    forSeconds: 300,
    summary: `Only {{ $value }} of ${peers.length} API load balancer peers answer`,
    description: `HAProxy's exporter answers on {{ $value }} of the ${peers.length} load balancer peers (${peers.join(', ')}) for 5m. keepalived moves the VIP away from a peer whose HAProxy is dead, so the API still answers, with less to fail over to.`,
    means: `Fewer of ${where} answer on :${LB_METRICS.port} than the cluster file has: a peer's HAProxy is dead${c.loadBalancer.mode === 'daemonset' ? ', or its pod is not running on a server' : ', or the machine is down'}.`,
    steps: ['Find the peer that does not answer and read its HAProxy and keepalived logs.'],
    commands: [...look, ...peerAddresses.slice(0, 1).map(scrape)],
  }, {
    alert: 'K3sApiServerDownBehindLoadBalancer',
    severity: 'warning',
    expr: `${backend} < ${n}`,
    forSeconds: RESTART_BOUND_SECONDS,
    summary: `HAProxy on {{ $labels.instance }} sends API traffic to {{ $value }} of ${n} servers`,
    description: `HAProxy on {{ $labels.instance }} (node {{ $labels.node }}) sees {{ $value }} of the ${n} apiservers up: its health check to the others' :6443 has failed for ${spoken(RESTART_BOUND_SECONDS)}, longer than a day-2 restart keeps one down. The API answers from the rest.`,
    means: `HAProxy health-checks every server's :6443 each second and stops sending to one that fails twice. One or more of the ${n} apiservers has not answered for longer than a day-2 restart keeps one down.`,
    steps: ['Find the server HAProxy marks down (`haproxy_server_status` with state DOWN, below), then look at K3s on it.'],
    commands: [...peerAddresses.slice(0, 1).map(scrape), 'ssh <server> sudo journalctl -u k3s --since -30min'],
  }, {
    alert: 'K3sApiNoServerBehindLoadBalancer',
    severity: 'critical',
    expr: `${backend} == 0`,
    forSeconds: 60,
    summary: 'HAProxy on {{ $labels.instance }} has no apiserver to send to',
    description: `HAProxy on {{ $labels.instance }} has marked all ${n} apiservers down for 1m: clients that reach the API through it (${c.endpoint}:${c.loadBalancer.port}) get no answer.`,
    means: `Every server's :6443 fails HAProxy's health check from this peer: all apiservers are down (etcd quorum lost?), or this peer cannot reach them.`,
    steps: ['If every peer says so, the apiservers are down: check etcd (`K3sEtcdQuorumLost`) and K3s on the servers.', 'If one peer says so, check its network to the servers.'],
    commands: [...peerAddresses.slice(0, 1).map(scrape), `kubectl --server https://${c.servers[0].address.includes(':') ? `[${c.servers[0].address}]` : c.servers[0].address}:6443 get --raw /readyz`],
  }, {
    alert: 'K3sApiVipUnreachable',
    severity: 'critical',
    expr: `up${vip} == 0`,
    forSeconds: 120,
    summary: `The API endpoint VIP ${c.endpoint} does not answer`,
    description: `Prometheus cannot reach HAProxy's exporter through the VIP ${c.endpoint}:${LB_METRICS.port} for 2m: no load balancer peer holds the VIP, or the holder's HAProxy is dead, or the VIP is unreachable from the cluster. Clients using ${c.endpoint}:${c.loadBalancer.port} fail. keepalived moves the VIP within seconds, so this is not a failover in progress.`,
    means: `Nothing answers on the VIP. Which peer holds it is not a metric (keepalived has no exporter), so this alert asks the VIP itself, as a client does; two holders at once are K3sApiVipHeldTwice.`,
    steps: [
      `On every peer, look for the VIP on ${c.loadBalancer.interface} and read keepalived's log: no peer in MASTER state means every peer's check fails (HAProxy dead everywhere) or VRRP adverts are lost.`,
      'Until it is back, clients can use a server\'s :6443 directly.',
    ],
    commands: [...peerAddresses.map((a, i) => `ssh ${a} ip -br addr show dev ${c.loadBalancer.interface}    # ${peers[i]}: holds ${c.endpoint}?`), ...look.slice(0, c.loadBalancer.mode === 'daemonset' ? 1 : 0)],
  }, {
    alert: 'K3sApiVipHeldTwice',
    severity: 'critical',
    expr: `count(${received} > 0) > 1`,
    forSeconds: 120,
    summary: `{{ $value }} load balancer peers receive API traffic: the VIP ${c.endpoint} has more than one holder`,
    description: `HAProxy received client bytes on its API frontend on {{ $value }} of the ${peers.length} load balancer peers, every minute for 2m. Only the VIP's holder gets API clients, so more than one peer holds ${c.endpoint} (split brain): each client reaches whichever answered its ARP, and connections break when that changes. A failover makes two peers receive traffic within one minute, never for two.`,
    means: `Only the holder of ${c.endpoint} is sent API clients for :${c.loadBalancer.port}, so HAProxy receiving their bytes on two peers means two peers hold the VIP: keepalived on them cannot hear each other (VRRP, IP protocol 112, dropped between them; the network split; another VRRP group on the segment with virtual_router_id ${c.loadBalancer.virtualRouterId}). Who holds it is not a metric (keepalived has no exporter); which peers receive API traffic is. Bytes, not connections: keepalived's check and the kubelet's probe connect to every peer's HAProxy and send nothing.`,
    steps: [
      `On every peer, look for the VIP on ${c.loadBalancer.interface}; on two of them, read keepalived's log on each (each says it is MASTER) and check that VRRP passes between them.`,
      `Restarting keepalived on the peer that should not hold the VIP ends it once adverts pass again; until then it comes back.`,
    ],
    commands: [...peerAddresses.map((a, i) => `ssh ${a} ip -br addr show dev ${c.loadBalancer.interface}    # ${peers[i]}: holds ${c.endpoint}?`), `ssh ${peerAddresses[0]} sudo tcpdump -ni ${c.loadBalancer.interface} -c 10 vrrp    # adverts from every peer?`],
  }];
}

/** Alerts when a target the alerts read is not scraped at all: their silence would mean nothing. */
function monitoringAlerts(c: ResolvedCluster, defined: readonly AlertDefinition[]): AlertDefinition[] {
  const matchers = jobs(c);
  const [etcd, lb, vip] = [sel(matchers.etcd), sel(matchers.lb), sel(matchers.vip)];
  const sources: [string, string][] = [
    ...(c.monitoring.etcdMetrics ? [[`up${etcd}`, `etcd metrics (ServiceMonitor ${MONITORING_NAMES.etcdService})`] as [string, string]] : []),
    ...(c.monitoring.prometheusRules && c.loadBalancer.mode !== 'none' ? [
      [`up${lb}`, c.loadBalancer.mode === 'daemonset' ? `load balancer pods (PodMonitor ${MONITORING_NAMES.lbPodMonitor})` : `LB machines (ServiceMonitor ${MONITORING_NAMES.lbHostsService})`] as [string, string],
      [`up${vip}`, `the VIP (ServiceMonitor ${MONITORING_NAMES.vipService})`] as [string, string],
    ] : []),
    ...(defined.some((d) => d.expr.includes('kube_cronjob_')) ? [[`kube_cronjob_info${sel({ namespace: SYSTEM_NAMESPACE })}`, `kube-state-metrics' CronJobs in ${SYSTEM_NAMESPACE}`] as [string, string]] : []),
  ];
  if (sources.length === 0) return [];
  return [{
    alert: 'K3sMonitoringTargetMissing',
    severity: 'warning',
    expr: sources.map(([series, what]) => `label_replace(absent(${series}), "missing", ${str(what)}, "", "")`).join('\nor\n'),
    forSeconds: 900,
    summary: 'Prometheus has no {{ $labels.missing }}',
    description: 'Prometheus has had no series of {{ $labels.missing }} for 15m, so the k3s-gitops alerts that read them cannot fire. The scrape object is not selected by this Prometheus (its labels, spec.monitoring.labels, do not match its selectors, or its namespace is not watched), or kube-state-metrics is not scraped.',
    means: 'The alerts read series that Prometheus does not have: silence from them means nothing until this is fixed.',
    steps: [
      `Check that the Prometheus selects objects labelled ${Object.keys(c.monitoring.labels).length > 0 ? Object.entries(c.monitoring.labels).map(([k, v]) => `\`${k}=${v}\``).join(', ') : '(no labels: set spec.monitoring.labels to what its selectors match)'} in namespace \`${c.monitoring.namespace}\`: its \`serviceMonitorSelector\`, \`podMonitorSelector\`, \`ruleSelector\` and their namespace selectors.`,
      'Check the targets on the Prometheus\'s /targets page: a target that is listed but down is another alert; one that is missing is this one.',
    ],
    commands: [
      'kubectl get prometheus -A -o jsonpath=\'{range .items[*]}{.metadata.namespace}/{.metadata.name}: {.spec.serviceMonitorSelector} {.spec.podMonitorSelector} {.spec.ruleSelector}{"\\n"}{end}\'',
      `kubectl -n ${c.monitoring.namespace} get servicemonitors,podmonitors,prometheusrules --show-labels`,
    ],
  }];
}

/** The anchor GitHub gives the heading `### <alert>`. */
export const alertAnchor = (alert: string) => alert.toLowerCase();

/**
 * Where an alert's RUNBOOK.md section is: on GitHub, a link to the file in the fleet
 * repository's branch; otherwise the file's path in the repository (`repoDir`, the
 * cluster's folder), or beside the manifests when that is unknown.
 */
export function runbookUrl(c: ResolvedCluster, alert: string, repoDir?: string): string {
  const file = repoDir ? `${repoDir}/RUNBOOK.md` : 'RUNBOOK.md';
  const github = c.gitops ? /^(?:https:\/\/|ssh:\/\/git@|git@)github\.com[/:]([^/]+)\/([^/]+?)(?:\.git)?\/?$/.exec(c.gitops.repository) : null;
  const base = github && repoDir ? `https://github.com/${github[1]}/${github[2]}/blob/${c.gitops?.branch}/${file}` : file;
  return `${base}#${alertAnchor(alert)}`;
}

/**
 * The cluster's alerts: what `monitoring.prometheusRules` ships as PrometheusRule
 * groups, and RUNBOOK.md's section for each. Empty when it is off.
 */
export function clusterAlerts(c: ResolvedCluster, repoDir?: string): ClusterAlerts {
  if (!c.monitoring.prometheusRules) return { groups: [], runbook: [] };
  const families: [string, AlertDefinition[]][] = [
    ['k3s-gitops.etcd', etcdAlerts(c)],
    ['k3s-gitops.backups', backupAlerts(c)],
    ['k3s-gitops.certificates', certificateAlerts(c)],
    ['k3s-gitops.day2', dayTwoAlerts(c)],
    ['k3s-gitops.load-balancer', loadBalancerAlerts(c)],
  ];
  families.push(['k3s-gitops.monitoring', monitoringAlerts(c, families.flatMap(([, d]) => d))]);
  const present = families.filter(([, defs]) => defs.length > 0);
  return {
    groups: present.map(([name, defs]) => ({
      name,
      rules: defs.map((d) => ({
        alert: d.alert,
        expr: d.expr,
        for: promDuration(d.forSeconds),
        labels: { severity: d.severity },
        annotations: { summary: d.summary, description: d.description, runbook_url: runbookUrl(c, d.alert, repoDir) },
      })),
    })),
    runbook: present.flatMap(([, defs]) => defs.map((d) => ({ alert: d.alert, severity: d.severity, means: d.means, steps: d.steps, commands: d.commands ?? [] }))),
  };
}
