import { ETCD_METRICS_PORT } from '../k3s/facts';
import { LB_METRICS, MONITORING_NAMES } from '../names';
import type { ResolvedCluster } from '../cluster-file/resolve';
import { alertAnchor, clusterAlerts, HASH_ALLOWLIST } from './alerts';

const fence = (lines: readonly string[]) => ['```sh', ...lines, '```'].join('\n');

/**
 * RUNBOOK.md's monitoring section: what the scrape objects expose, then one section per
 * alert (its heading is the alert's name, which its `runbook_url` links to): what it
 * means, what to do, the commands. Nothing without spec.monitoring.
 */
export function monitoringRunbook(c: ResolvedCluster, p: (...lines: string[]) => void): void {
  const m = c.monitoring;
  if (!m.prometheusRules && !m.etcdMetrics) return;
  p('## Monitoring');
  const objects = [
    ...(m.prometheusRules ? [`the PrometheusRule \`${MONITORING_NAMES.prometheusRule}\` with the alerts below`] : []),
    ...(m.etcdMetrics ? [`a ServiceMonitor \`${MONITORING_NAMES.etcdService}\` for etcd on every server`] : []),
    ...(m.prometheusRules && c.loadBalancer.mode === 'daemonset' ? [`a PodMonitor \`${MONITORING_NAMES.lbPodMonitor}\` for the load balancer pods`] : []),
    ...(m.prometheusRules && c.loadBalancer.mode === 'external' ? [`a ServiceMonitor \`${MONITORING_NAMES.lbHostsService}\` for the LB machines`] : []),
    ...(m.prometheusRules && c.loadBalancer.mode !== 'none' ? [`a ServiceMonitor \`${MONITORING_NAMES.vipService}\` that scrapes HAProxy through the VIP`] : []),
  ];
  const labels = Object.entries(m.labels).map(([k, v]) => `\`${k}: ${v}\``).join(', ');
  p(`\`manifests/monitoring.k8s.yaml\` holds, in namespace \`${m.namespace}\`, ${objects.join(', ')}${labels ? `, each labelled ${labels} for the Prometheus's selectors` : ''}. They need prometheus-operator's CRDs (monitoring.coreos.com/v1): without them GitOps cannot apply manifests/.`);
  if (m.etcdMetrics) p(`- etcd: with \`etcd-expose-metrics: true\` in every server's config.yaml, K3s serves etcd's metrics over plain HTTP on the node's address, \`http://<server>:${ETCD_METRICS_PORT}/metrics\`, as well as on 127.0.0.1 (anyone who reaches the servers can read them; no data, only metrics). Firewalls between Prometheus and the servers must let TCP ${ETCD_METRICS_PORT} through.`);
  if (m.prometheusRules && c.loadBalancer.mode !== 'none') p(`- Load balancer: HAProxy serves its built-in Prometheus exporter on every address of ${c.loadBalancer.mode === 'daemonset' ? 'each server' : 'each LB machine'}, \`http://<address>:${LB_METRICS.port}${LB_METRICS.path}\`, and so through the VIP, \`http://${c.endpoint}:${LB_METRICS.port}${LB_METRICS.path}\`, from whichever peer holds it.`);
  if (!m.prometheusRules) return;
  p(`- kube-state-metrics: the backup, certificate and day-2 alerts read its CronJob, Job and Node series (kube-prometheus-stack runs it). The rollout alerts read the nodes' \`k3s-gitops.io/config-hash\` label, which kube-state-metrics exports only when allow-listed: \`${HASH_ALLOWLIST}\`.`);
  const silent = [
    ...(m.etcdMetrics ? [] : ['etcd (set `monitoring.etcdMetrics: true`)']),
    ...((c.backup?.targets.length ?? 0) > 0 ? [] : [`K3s's snapshots and off-node copies (the signal is the backup CronJobs, which fail when snapshots stop; add \`backup.targets\`)`]),
    ...(c.etcdS3 ? [`K3s's own upload to \`s3://${c.etcdS3.bucket}\` (K3s reports it only in ETCDSnapshotFile objects, events and, with \`supervisor-metrics\`, \`k3s_etcd_snapshot_save_s3_duration_seconds\` behind :6443's authentication; check it with \`k3s etcd-snapshot ls\`)`] : []),
    ...(c.gitops?.upgrades ? [] : ['day-2 rollouts (nothing applies the Plans)']),
    ...(c.loadBalancer.mode === 'none' ? ['the load balancer (mode none)'] : []),
  ];
  if (silent.length > 0) p(`Not watched in this cluster: ${silent.join('; ')}.`);
  p(`Every alert's \`runbook_url\` links to its section here. In this cluster (${c.servers.length} server(s), quorum ${c.quorum.quorum}):`);
  const alerts = clusterAlerts(c).runbook;
  p('| alert | severity |', '| --- | --- |', ...alerts.map((a) => `| [${a.alert}](#${alertAnchor(a.alert)}) | ${a.severity} |`));
  for (const a of alerts) {
    p(`### ${a.alert}`);
    p(`*${a.severity}.* ${a.means}`);
    p(...a.steps.map((s, i) => `${i + 1}. ${s}`));
    if (a.commands.length > 0) p(fence(a.commands));
  }
}
