/**
 * `promtool test rules` on the alerts of test/fixtures/good/monitoring.yaml (3 servers,
 * 2 agents, daemonset load balancer, one NFS backup target, etcd's quota raised to
 * 4 GiB): every alert fires on synthetic series of its failure, with the labels and the
 * rendered summary and description an operator reads, and none fires on a healthy
 * cluster. The series are what the scrape objects and kube-state-metrics produce, with
 * the label sets prometheus-operator gives their targets (job, namespace, instance,
 * the `node` relabeling); the rule file is the PrometheusRule's groups, as generated.
 */
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { edit, rulesByName, selector, testRules, type Group, type Labels, type Scenario, type Series } from '../alert-tests';
import { GOOD, loadCluster, manifestObjects, treeOf } from '../helpers';

const c = loadCluster(path.join(GOOD, 'monitoring.yaml'));
const tree = treeOf(c);
const rule = manifestObjects(tree).find((o) => o.kind === 'PrometheusRule');
const groups: Group[] = rule.spec.groups;
const rules = rulesByName(groups);
const SYS = 'k3s-gitops-system';
const MON = 'monitoring';

const hashOf = (node: string) => createHash('sha256').update(tree.get(`nodes/${node}/config.yaml`) as string).digest('hex').slice(0, 16);

const etcdTarget = (i: number): Labels => ({ endpoint: 'etcd-metrics', instance: `${c.servers[i].address}:2381`, job: 'k3s-etcd', namespace: MON, node: c.servers[i].name, service: 'k3s-etcd' });
const lbTarget = (i: number): Labels => ({ container: 'haproxy', endpoint: 'lb-metrics', instance: `${c.servers[i].address}:8404`, job: `${MON}/k3s-api-lb`, namespace: SYS, node: c.servers[i].name, pod: `k3s-api-lb-${i}` });
const vipTarget: Labels = { endpoint: 'lb-metrics', instance: '10.0.0.100:8404', job: 'k3s-api-vip', namespace: MON, service: 'k3s-api-vip' };
const ksm = (labels: Labels): Labels => ({ instance: '10.42.0.7:8080', job: 'kube-state-metrics', ...labels });
const cronJobs = ['etcd-backup-nas', ...c.servers.map((s) => `cert-expiry-${s.name}`)];
const dayTwoJob = 'apply-k3s-gitops-config-servers-on-master-1-with-3f2a9c';

/**
 * A healthy cluster for `steps` minutes: every member and peer up with a leader, the
 * database small, every CronJob's latest run successful, a finished day-2 job, every
 * node on its committed config.
 */
function healthy(steps: number, stepSeconds = 60): Series {
  const s: Series = new Map();
  const flat = (v: number | string) => `${v}x${steps}`;
  c.servers.forEach((_, i) => {
    s.set(selector('up', etcdTarget(i)), flat(1));
    s.set(selector('etcd_server_has_leader', etcdTarget(i)), flat(1));
    s.set(selector('etcd_mvcc_db_total_size_in_bytes', etcdTarget(i)), flat(104857600));
    s.set(selector('up', lbTarget(i)), flat(1));
    s.set(selector('haproxy_backend_active_servers', { ...lbTarget(i), proxy: 'k3s-servers' }), flat(3));
    // Every peer accepts keepalived's check and the kubelet's probe (72 connections a
    // minute, no bytes); master-1 holds the VIP, and its clients send 40 kB a minute.
    s.set(selector('haproxy_frontend_connections_total', { ...lbTarget(i), proxy: 'k3s-apiserver' }), `0+${i === 0 ? 82 : 72}x${steps}`);
    s.set(selector('haproxy_frontend_bytes_in_total', { ...lbTarget(i), proxy: 'k3s-apiserver' }), i === 0 ? `0+40000x${steps}` : flat(0));
  });
  s.set(selector('up', vipTarget), flat(1));
  for (const cronjob of cronJobs) {
    const k = ksm({ namespace: SYS, cronjob });
    s.set(selector('kube_cronjob_info', k), flat(1));
    s.set(selector('kube_cronjob_created', k), flat(0));
    // At each sample a run has been scheduled and succeeded 30 s later: the latest run succeeded.
    s.set(selector('kube_cronjob_status_last_schedule_time', k), `0+${stepSeconds}x${steps}`);
    s.set(selector('kube_cronjob_status_last_successful_time', k), `30+${stepSeconds}x${steps}`);
  }
  s.set(selector('kube_job_status_failed', ksm({ namespace: 'system-upgrade', job_name: dayTwoJob, reason: '' })), flat(0));
  s.set(selector('kube_job_status_succeeded', ksm({ namespace: 'system-upgrade', job_name: dayTwoJob })), flat(1));
  for (const n of c.nodes) s.set(selector('kube_node_labels', ksm({ node: n.name, label_k3s_gitops_io_config_hash: hashOf(n.name) })), flat(1));
  return s;
}

const minutes = 80;
const base = healthy(minutes);
const cron = (cronjob: string) => ksm({ namespace: SYS, cronjob });
const backupLabels = { namespace: SYS, cronjob: 'etcd-backup-nas' };

/** The failure of each alert, and where the ones near it must stay silent. */
const failures: Scenario[] = [
  {
    name: 'master-2 stops answering: its member is down and quorum is at risk, not lost',
    series: edit(base, [[selector('up', etcdTarget(1)), `0x${minutes}`]]),
    expect: [
      { alert: 'K3sEtcdMemberDown', at: '9m', fires: [] },
      { alert: 'K3sEtcdMemberDown', at: '11m', fires: [{ labels: etcdTarget(1) }] },
      { alert: 'K3sEtcdQuorumAtRisk', at: '11m', fires: [{ labels: {}, value: '2' }] },
      { alert: 'K3sEtcdQuorumLost', at: '11m', fires: [] },
    ],
  },
  {
    name: 'master-2 and master-3 stop answering: quorum lost; all three: still lost, from nothing',
    series: edit(base, [[selector('up', etcdTarget(1)), `0x${minutes}`], [selector('up', etcdTarget(2)), `0x${minutes}`], [selector('up', etcdTarget(0)), `1x20 0x${minutes - 20}`]]),
    expect: [
      { alert: 'K3sEtcdQuorumLost', at: '5m', fires: [{ labels: {}, value: '1' }] },
      { alert: 'K3sEtcdQuorumAtRisk', at: '15m', fires: [] },
      { alert: 'K3sEtcdQuorumLost', at: '30m', fires: [{ labels: {}, value: '0' }] },
    ],
  },
  {
    name: 'master-3 sees no leader',
    series: edit(base, [[selector('etcd_server_has_leader', etcdTarget(2)), `0x${minutes}`]]),
    expect: [{ alert: 'K3sEtcdNoLeader', at: '3m', fires: [{ labels: etcdTarget(2) }] }],
  },
  {
    name: 'master-1\'s database at 3.5 GB of the 4 GiB quota, then 4.1 GB',
    series: edit(base, [[selector('etcd_mvcc_db_total_size_in_bytes', etcdTarget(0)), `3500000000x30 4100000000x${minutes - 30}`]]),
    expect: [
      { alert: 'K3sEtcdDatabaseNearQuota', at: '15m', fires: [{ labels: etcdTarget(0), value: '3.26Gi' }] },
      { alert: 'K3sEtcdDatabaseFull', at: '15m', fires: [] },
      { alert: 'K3sEtcdDatabaseFull', at: '45m', fires: [{ labels: etcdTarget(0), value: '3.818Gi' }] },
    ],
  },
  {
    name: 'the backup run scheduled at 10m fails; the one after succeeds',
    series: edit(base, [
      [selector('kube_cronjob_status_last_schedule_time', cron('etcd-backup-nas')), `0x10 600x60 4200x${minutes - 70}`],
      [selector('kube_cronjob_status_last_successful_time', cron('etcd-backup-nas')), `30x70 4230x${minutes - 70}`],
    ]),
    expect: [
      { alert: 'K3sEtcdBackupFailing', at: '40m', fires: [] },
      { alert: 'K3sEtcdBackupFailing', at: '50m', fires: [{ labels: backupLabels }] },
      { alert: 'K3sEtcdBackupFailing', at: '75m', fires: [] },
    ],
  },
  {
    name: 'a backup CronJob that never succeeded',
    series: edit(base, [
      [selector('kube_cronjob_status_last_schedule_time', cron('etcd-backup-nas')), `600x${minutes}`],
      [selector('kube_cronjob_status_last_successful_time', cron('etcd-backup-nas')), undefined],
    ]),
    expect: [{ alert: 'K3sEtcdBackupFailing', at: '40m', fires: [{ labels: backupLabels }] }],
  },
  {
    name: 'master-2\'s certificate check fails',
    series: edit(base, [[selector('kube_cronjob_status_last_schedule_time', cron('cert-expiry-master-2')), `0x20 1200x${minutes - 20}`], [selector('kube_cronjob_status_last_successful_time', cron('cert-expiry-master-2')), `30x${minutes}`]]),
    expect: [
      { alert: 'K3sCertificateExpiresSoon', at: '25m', fires: [] },
      { alert: 'K3sCertificateExpiresSoon', at: '35m', fires: [{ labels: { namespace: SYS, cronjob: 'cert-expiry-master-2' } }] },
    ],
  },
  {
    name: 'a config job fails twice and keeps failing; another Plan\'s job failing is not ours',
    series: edit(base, [
      [selector('kube_job_status_failed', ksm({ namespace: 'system-upgrade', job_name: dayTwoJob, reason: '' })), `0x5 1x5 2x${minutes - 10}`],
      [selector('kube_job_status_succeeded', ksm({ namespace: 'system-upgrade', job_name: dayTwoJob })), `0x${minutes}`],
      [selector('kube_job_status_failed', ksm({ namespace: 'system-upgrade', job_name: 'apply-other-plan-on-master-1-with-1', reason: '' })), `3x${minutes}`],
    ]),
    expect: [
      { alert: 'K3sGitopsRolloutFailed', at: '15m', fires: [] },
      { alert: 'K3sGitopsRolloutFailed', at: '30m', fires: [{ labels: { namespace: 'system-upgrade', job_name: dayTwoJob }, value: '2' }] },
    ],
  },
  {
    name: 'a config job that failed once and then succeeded',
    series: edit(base, [
      [selector('kube_job_status_failed', ksm({ namespace: 'system-upgrade', job_name: dayTwoJob, reason: '' })), `1x${minutes}`],
      [selector('kube_job_status_succeeded', ksm({ namespace: 'system-upgrade', job_name: dayTwoJob })), `0x5 1x${minutes - 5}`],
    ]),
    expect: [{ alert: 'K3sGitopsRolloutFailed', at: '60m', fires: [] }],
  },
  {
    name: 'master-2 keeps its previous config for longer than a rollout; worker-1 takes its config at 30m',
    series: edit(base, [
      [selector('kube_node_labels', ksm({ node: 'master-2', label_k3s_gitops_io_config_hash: hashOf('master-2') })), undefined],
      [selector('kube_node_labels', ksm({ node: 'master-2', label_k3s_gitops_io_config_hash: '0123456789abcdef' })), `1x${minutes}`],
      [selector('kube_node_labels', ksm({ node: 'worker-1', label_k3s_gitops_io_config_hash: hashOf('worker-1') })), `_x30 1x${minutes - 30}`],
      [selector('kube_node_labels', ksm({ node: 'worker-1', label_k3s_gitops_io_config_hash: '0123456789abcdef' })), `1x30 _x${minutes - 30}`],
    ]),
    expect: [
      { alert: 'K3sGitopsRolloutStuck', at: '70m', fires: [] },
      { alert: 'K3sGitopsRolloutStuck', at: '75m', fires: [{ labels: { node: 'master-2', committed_hash: hashOf('master-2'), label_k3s_gitops_io_config_hash: '0123456789abcdef' } }] },
      { alert: 'K3sGitopsConfigHashNotExported', at: '75m', fires: [] },
    ],
  },
  {
    name: 'kube-state-metrics exports no node label: the stuck alert cannot see, and says so',
    series: edit(base, c.nodes.flatMap((n): [string, string | undefined][] => [
      [selector('kube_node_labels', ksm({ node: n.name, label_k3s_gitops_io_config_hash: hashOf(n.name) })), undefined],
      [selector('kube_node_labels', ksm({ node: n.name })), `1x${minutes}`],
    ])),
    expect: [
      { alert: 'K3sGitopsConfigHashNotExported', at: '75m', fires: [{ labels: {} }] },
      { alert: 'K3sGitopsRolloutStuck', at: '75m', fires: [] },
    ],
  },
  {
    name: 'HAProxy on master-3 dies; its pod is gone at 20m',
    series: edit(base, [
      [selector('up', lbTarget(2)), `1x4 0x15 _x${minutes - 20}`],
      [selector('haproxy_backend_active_servers', { ...lbTarget(2), proxy: 'k3s-servers' }), `3x4 _x${minutes - 5}`],
    ]),
    expect: [
      { alert: 'K3sApiLoadBalancerPeerDown', at: '8m', fires: [] },
      { alert: 'K3sApiLoadBalancerPeerDown', at: '11m', fires: [{ labels: {}, value: '2' }] },
      { alert: 'K3sApiLoadBalancerPeerDown', at: '40m', fires: [{ labels: {}, value: '2' }] },
    ],
  },
  {
    name: 'master-1\'s HAProxy sees one apiserver down for longer than a restart',
    series: edit(base, [[selector('haproxy_backend_active_servers', { ...lbTarget(0), proxy: 'k3s-servers' }), `2x${minutes}`]]),
    expect: [
      { alert: 'K3sApiServerDownBehindLoadBalancer', at: '9m', fires: [] },
      { alert: 'K3sApiServerDownBehindLoadBalancer', at: '11m', fires: [{ labels: { ...lbTarget(0), proxy: 'k3s-servers' }, value: '2' }] },
      { alert: 'K3sApiNoServerBehindLoadBalancer', at: '11m', fires: [] },
    ],
  },
  {
    name: 'every apiserver down behind every HAProxy',
    series: edit(base, c.servers.map((_, i): [string, string] => [selector('haproxy_backend_active_servers', { ...lbTarget(i), proxy: 'k3s-servers' }), `0x${minutes}`])),
    expect: [{ alert: 'K3sApiNoServerBehindLoadBalancer', at: '2m', fires: c.servers.map((_, i) => ({ labels: { ...lbTarget(i), proxy: 'k3s-servers' } })) }],
  },
  {
    name: 'a failover: master-2 takes the VIP and the clients, master-1 receives nothing from then on',
    series: edit(base, [
      [selector('haproxy_frontend_bytes_in_total', { ...lbTarget(0), proxy: 'k3s-apiserver' }), `0+40000x30 1200000x${minutes - 30}`],
      [selector('haproxy_frontend_bytes_in_total', { ...lbTarget(1), proxy: 'k3s-apiserver' }), `0x30 0+40000x${minutes - 30}`],
    ]),
    expect: [32, 34, 40].map((m) => ({ alert: 'K3sApiVipHeldTwice', at: `${m}m`, fires: [] })),
  },
  {
    name: 'split brain: master-1 and master-3 both hold the VIP, and both receive clients',
    series: edit(base, [[selector('haproxy_frontend_bytes_in_total', { ...lbTarget(2), proxy: 'k3s-apiserver' }), `0x30 0+3000x${minutes - 30}`]]),
    expect: [
      { alert: 'K3sApiVipHeldTwice', at: '31m', fires: [] },
      { alert: 'K3sApiVipHeldTwice', at: '35m', fires: [{ labels: {}, value: '2' }] },
    ],
  },
  {
    name: 'nobody answers on the VIP',
    series: edit(base, [[selector('up', vipTarget), `0x${minutes}`]]),
    expect: [
      { alert: 'K3sApiVipUnreachable', at: '1m', fires: [] },
      { alert: 'K3sApiVipUnreachable', at: '3m', fires: [{ labels: vipTarget }] },
      { alert: 'K3sMonitoringTargetMissing', at: '30m', fires: [] },
    ],
  },
  {
    name: 'the VIP\'s ServiceMonitor is not selected and kube-state-metrics is not scraped',
    series: new Map([...base].filter(([k]) => !k.startsWith('kube_') && !k.includes('job="k3s-api-vip"'))),
    expect: [{
      alert: 'K3sMonitoringTargetMissing',
      at: '20m',
      fires: [
        { labels: { job: 'k3s-api-vip', namespace: MON, missing: 'the VIP (ServiceMonitor k3s-api-vip)' } },
        { labels: { namespace: SYS, missing: `kube-state-metrics' CronJobs in ${SYS}` } },
      ],
    }],
  },
];

/**
 * 14 hours, a sample every 2 minutes: within Prometheus's 5-minute lookback, so a series
 * is never missing between two samples.
 */
const staleSteps = 420;
const LONG = '2m';

/** The off-node copy goes stale: no success after 30 s, for 14 hours. */
const stale: Scenario = {
  name: 'no backup succeeds for longer than twice the backup interval (12h)',
  interval: LONG,
  series: edit(healthy(staleSteps, 120), [
    [selector('kube_cronjob_status_last_schedule_time', cron('etcd-backup-nas')), `0x${staleSteps}`],
    [selector('kube_cronjob_status_last_successful_time', cron('etcd-backup-nas')), `30x${staleSteps}`],
  ]),
  expect: [
    { alert: 'K3sEtcdOffNodeCopyStale', at: '12h', fires: [] },
    { alert: 'K3sEtcdOffNodeCopyStale', at: '12h10m', fires: [{ labels: backupLabels, value: '12h 9m 30s' }] },
  ],
};

const neverCopied: Scenario = {
  name: 'a backup CronJob created 13h ago that never succeeded',
  interval: LONG,
  series: edit(healthy(staleSteps, 120), [
    [selector('kube_cronjob_status_last_schedule_time', cron('etcd-backup-nas')), `600x${staleSteps}`],
    [selector('kube_cronjob_status_last_successful_time', cron('etcd-backup-nas')), undefined],
  ]),
  expect: [{ alert: 'K3sEtcdOffNodeCopyStale', at: '13h', fires: [{ labels: backupLabels, value: '13h 0m 0s' }] }],
};

/** A healthy cluster, long enough for every `for` to pass: nothing fires. */
const healthyDay: Scenario = {
  name: 'a healthy cluster, for 14 hours',
  interval: LONG,
  series: healthy(staleSteps, 120),
  expect: [...rules.keys()].flatMap((alert) => ['2h', '14h'].map((at) => ({ alert, at, fires: [] }))),
};

describe('promtool test rules on the alerts of test/fixtures/good/monitoring.yaml', () => {
  const scenarios = [...failures, stale, neverCopied, healthyDay];

  test('every alert of the cluster fires in a scenario of its failure', () => {
    const fired = new Set(scenarios.flatMap((s) => s.expect.filter((e) => e.fires.length > 0).map((e) => e.alert)));
    expect([...rules.keys()].filter((a) => !fired.has(a))).toEqual([]);
  });

  test('each alert fires on its failure with the labels and text the operator reads, and none on a healthy cluster', async () => {
    const r = await testRules(groups, scenarios);
    expect({ ok: r.ok, output: r.ok ? '' : r.output }).toEqual({ ok: true, output: '' });
    expect(r.output).toMatch(/SUCCESS/);
  });

  test('fails: a rule whose threshold is off by one server does not pass the same tests', async () => {
    const broken: Group[] = structuredClone(groups);
    for (const g of broken) for (const r of g.rules) if (r.alert === 'K3sEtcdQuorumAtRisk') r.expr = r.expr.replace(/== 2$/, '== 1');
    const r = await testRules(broken, [failures[0]]);
    expect(r.ok).toBe(false);
    expect(r.output).toContain('K3sEtcdQuorumAtRisk');
  });
});
