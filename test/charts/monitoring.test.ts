/**
 * spec.monitoring: the PrometheusRule checked by promtool (`check rules` on the groups
 * of every fixture, `test rules` with each alert firing on synthetic series of its
 * failure and none firing on a healthy cluster), the monitoring objects against
 * prometheus-operator's CRD fields (test/prometheus-operator-model.ts), thresholds that
 * follow the cluster file, and what monitoring adds to the nodes and the images.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { clusterImages } from '../../src/images';
import { goodFixtures, GOOD, loadCluster, manifestObjects, markedBlock, parseYaml, ROOT, tempDir, treeOf } from '../helpers';
import { prometheusOperatorFailures } from '../prometheus-operator-model';
import { haproxyFailures, kubernetesSchemaFailures, promtool } from '../tools';
import { toYaml } from '../../src/render/text';
import type { ResolvedCluster } from '../../src/cluster-file/resolve';

const MONITORING = '  monitoring: { prometheusRules: true, etcdMetrics: true }\n';
/** A fixture with monitoring turned on, if it is not. */
const monitored = (file: string, edit: (t: string) => string = (t) => t) => loadCluster(file, (t) => edit(t.includes('\n  monitoring:') ? t : `${t.trimEnd()}\n${MONITORING}`));

type Rule = { alert: string; expr: string; for: string; labels: Record<string, string>; annotations: Record<string, string> };
type Group = { name: string; rules: Rule[] };

const objectsOf = (c: ResolvedCluster) => manifestObjects(treeOf(c));
const groupsOf = (c: ResolvedCluster): Group[] => objectsOf(c).find((o) => o.kind === 'PrometheusRule')?.spec.groups ?? [];
const rulesOf = (c: ResolvedCluster) => new Map(groupsOf(c).flatMap((g) => g.rules).map((r) => [r.alert, r]));

/** Writes the groups as a Prometheus rule file and runs `promtool check rules` on it. */
async function checkRules(groups: Group[]): Promise<{ ok: boolean; output: string }> {
  const dir = tempDir('promtool-');
  fs.writeFileSync(path.join(dir, 'rules.yaml'), toYaml({ groups }));
  return promtool(['check', 'rules', 'rules.yaml'], dir);
}

describe.each(goodFixtures().map((f) => [path.basename(f), f]))('the alerts of %s, monitoring on', (_name, file) => {
  const c = monitored(file);
  const tree = treeOf(c);
  const groups = groupsOf(c);
  const runbook = tree.get('RUNBOOK.md') as string;

  test('promtool check rules passes on every group', async () => {
    expect(groups.length).toBeGreaterThan(0);
    const r = await checkRules(groups);
    expect({ ok: r.ok, output: r.ok ? '' : r.output }).toEqual({ ok: true, output: '' });
  });

  test('every alert has a kube-prometheus severity, a summary, a description, and a runbook_url to its RUNBOOK.md section', () => {
    const headings = new Set([...runbook.matchAll(/^### (\S+)$/gm)].map((m) => m[1].toLowerCase()));
    for (const r of groups.flatMap((g) => g.rules)) {
      expect(['critical', 'warning']).toContain(r.labels.severity);
      expect(r.annotations.summary.length).toBeGreaterThan(10);
      expect(r.annotations.description.length).toBeGreaterThan(r.annotations.summary.length);
      const anchor = r.annotations.runbook_url.split('#')[1];
      expect(anchor).toBe(r.alert.toLowerCase());
      expect(headings.has(anchor)).toBe(true);
      expect(r.annotations.runbook_url).toMatch(/RUNBOOK\.md#/);
    }
  });

  test('every haproxy.cfg, with the exporter\'s frontend, passes haproxy -c without a warning', async () => {
    const configs = new Map<string, string>([...tree].filter(([k]) => k.endsWith('haproxy.cfg')));
    const lb = manifestObjects(tree).find((o) => o.kind === 'ConfigMap' && o.data?.['haproxy.cfg']);
    if (lb) configs.set('configmap:haproxy.cfg', lb.data['haproxy.cfg']);
    expect(await haproxyFailures(configs)).toEqual([]);
    for (const [name, cfg] of configs) {
      expect(cfg).toContain('http-request use-service prometheus-exporter if { path /metrics }');
      const file = path.join(tempDir('haproxy-'), 'haproxy.cfg');
      fs.writeFileSync(file, cfg);
      const r = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
      expect({ name, warnings: `${r.stdout}${r.stderr}`.split('\n').filter((l) => /WARNING|ALERT/.test(l)) }).toEqual({ name, warnings: [] });
    }
  });

  test('the monitoring objects have only prometheus-operator\'s fields, and the rest validate too', () => {
    expect(kubernetesSchemaFailures(manifestObjects(tree))).toEqual([]);
    const kinds = manifestObjects(tree).filter((o) => o.apiVersion === 'monitoring.coreos.com/v1').map((o) => o.kind);
    expect(kinds).toContain('PrometheusRule');
    expect(kinds.filter((k) => k === 'ServiceMonitor').length).toBeGreaterThan(0);
  });
});

describe('thresholds come from the cluster file', () => {
  const ha = path.join(GOOD, 'ha.yaml');
  const enterprise = monitored(path.join(GOOD, 'enterprise.yaml'));
  const example = monitored(ha);

  test('quorum: 2 of 3 servers for the example, 3 of 5 for enterprise', () => {
    expect(rulesOf(example).get('K3sEtcdQuorumAtRisk')?.expr).toMatch(/ == 2$/);
    expect(rulesOf(example).get('K3sEtcdQuorumLost')?.expr).toMatch(/ < 2$/);
    expect(rulesOf(enterprise).get('K3sEtcdQuorumAtRisk')?.expr).toMatch(/ == 3$/);
    expect(rulesOf(enterprise).get('K3sEtcdQuorumLost')?.expr).toMatch(/ < 3$/);
    // One server tolerates no failure: "at risk" would always fire.
    const lab = monitored(path.join(GOOD, 'lab.yaml'));
    expect(rulesOf(lab).has('K3sEtcdQuorumAtRisk')).toBe(false);
    expect(rulesOf(lab).get('K3sEtcdQuorumLost')?.expr).toMatch(/ < 1$/);
  });

  test('etcd\'s quota: its 2 GiB default, or quota-backend-bytes from etcd-arg, a node\'s own list first', () => {
    expect(rulesOf(example).get('K3sEtcdDatabaseNearQuota')?.expr).toMatch(/ > 1717986918$/);
    expect(rulesOf(example).get('K3sEtcdDatabaseFull')?.expr).toMatch(/ > 2040109466$/);
    const raised = monitored(ha, (t) => `${t.trimEnd()}\n  extraConfig:\n    servers:\n      etcd-arg: ["election-timeout=5000", "--quota-backend-bytes=8589934592"]\n`);
    expect(raised.etcdQuotaBytes).toBe(8 * 1024 ** 3);
    expect(rulesOf(raised).get('K3sEtcdDatabaseNearQuota')?.expr).toMatch(/ > 6871947674$/);
    expect(rulesOf(raised).get('K3sEtcdDatabaseNearQuota')?.annotations.description).toContain('8 GiB quota (quota-backend-bytes from etcd-arg)');
    const oneNode = monitored(ha, (t) => t.replace('{ name: master-2, role: server, address: 10.0.0.12 }', '{ name: master-2, role: server, address: 10.0.0.12, extraConfig: { etcd-arg: "quota-backend-bytes=1073741824" } }'));
    expect(oneNode.etcdQuotaBytes).toBe(1024 ** 3);
  });

  test('off-node copies: twice the backup schedule\'s longest interval; snapshots: twice theirs', () => {
    expect(rulesOf(example).get('K3sEtcdOffNodeCopyStale')?.expr).toContain('> 43200');
    const hourly = monitored(ha, (t) => t.replace('schedule: "30 */6 * * *"', 'schedule: "15 * * * *"').replace('{ schedule: "0 */6 * * *", retention: 7 }', '{ schedule: "0 */2 * * *", retention: 7 }'));
    expect(rulesOf(hourly).get('K3sEtcdOffNodeCopyStale')?.expr).toContain('> 7200');
    expect(rulesOf(hourly).get('K3sEtcdOffNodeCopyStale')?.annotations.description).toContain('every 1h at most, so its copy should never be older than 2h');
    expect(rulesOf(hourly).get('K3sEtcdBackupFailing')?.annotations.description).toContain('older than 4h (twice the interval of the snapshot schedule "0 */2 * * *")');
  });

  test('certificates: warnDays', () => {
    expect(rulesOf(example).get('K3sCertificateExpiresSoon')?.annotations.summary).toContain('within 30 days');
    const sixty = monitored(ha, (t) => `${t.trimEnd()}\n  certificates: { warnDays: 60 }\n`);
    expect(rulesOf(sixty).get('K3sCertificateExpiresSoon')?.annotations.description).toContain('expires within 60 days (certificates.warnDays)');
  });

  test('the stuck-rollout bound is a whole rollout of this cluster: servers one at a time, agents by agentConcurrency', () => {
    // 15m sync + 2 server Plans x 3 servers x 420s + 2 agents one at a time x 420s = 4260s.
    expect(rulesOf(example).get('K3sGitopsRolloutStuck')?.for).toBe('1h11m');
    // 5 servers, 3 agents: 900 + 2 x 5 x 420 + 3 x 420 = 6360s.
    expect(rulesOf(enterprise).get('K3sGitopsRolloutStuck')?.for).toBe('1h46m');
    const parallel = monitored(path.join(GOOD, 'enterprise.yaml'), (t) => `${t.trimEnd()}\n  upgrades: { agentConcurrency: 3 }\n`);
    expect(rulesOf(parallel).get('K3sGitopsRolloutStuck')?.for).toBe('1h32m');
  });

  test('the load balancer: one peer per server (daemonset) or LB machine (external), the backends are the servers', () => {
    expect(rulesOf(example).get('K3sApiLoadBalancerPeerDown')?.expr).toMatch(/job="monitoring\/k3s-api-lb"|job="k3s-gitops-system\/k3s-api-lb"/);
    expect(rulesOf(example).get('K3sApiLoadBalancerPeerDown')?.expr).toMatch(/ < 3$/);
    expect(rulesOf(enterprise).get('K3sApiLoadBalancerPeerDown')?.expr).toMatch(/job="k3s-api-lb-hosts".* < 2$/);
    expect(rulesOf(enterprise).get('K3sApiServerDownBehindLoadBalancer')?.expr).toMatch(/proxy="k3s-servers"\} < 5$/);
    expect(rulesOf(monitored(path.join(GOOD, 'lab.yaml'))).has('K3sApiVipUnreachable')).toBe(false);
  });

  test('each day-2 node\'s committed hash is the sha256 of its config.yaml, as the day-2 job labels it', () => {
    const tree = treeOf(example);
    const stuck = rulesOf(example).get('K3sGitopsRolloutStuck')?.expr as string;
    for (const n of example.nodes) {
      const hash = createHash('sha256').update(tree.get(`nodes/${n.name}/config.yaml`) as string).digest('hex').slice(0, 16);
      expect(stuck).toContain(`kube_node_labels{node="${n.name}", label_k3s_gitops_io_config_hash!="${hash}"}, "committed_hash", "${hash}"`);
    }
  });

  test('runbook links: the file on GitHub for a GitHub repository, the tree\'s own path otherwise', () => {
    expect(rulesOf(example).get('K3sEtcdMemberDown')?.annotations.runbook_url).toBe('https://github.com/acme/fleet/blob/main/dist/example/RUNBOOK.md#k3setcdmemberdown');
    const lab = monitored(path.join(GOOD, 'lab.yaml'));
    expect(rulesOf(lab).get('K3sEtcdMemberDown')?.annotations.runbook_url).toBe('dist/lab/RUNBOOK.md#k3setcdmemberdown');
  });
});

describe('what monitoring adds, and only when asked', () => {
  const ha = path.join(GOOD, 'ha.yaml');
  const plain = loadCluster(ha);
  const example = monitored(ha);

  test('without spec.monitoring the tree has no monitoring object, no exporter, no etcd-expose-metrics', () => {
    const tree = treeOf(plain);
    expect([...tree.keys()].some((k) => k.includes('monitoring'))).toBe(false);
    expect(manifestObjects(tree).some((o) => o.apiVersion.startsWith('monitoring.coreos.com/'))).toBe(false);
    expect(tree.get('nodes/master-1/config.yaml')).not.toContain('etcd-expose-metrics');
    expect(manifestObjects(tree).find((o) => o.kind === 'ConfigMap' && o.data['haproxy.cfg'])?.data['haproxy.cfg']).not.toContain('prometheus');
  });

  test('etcdMetrics: every server, and no agent, gets etcd-expose-metrics; the ServiceMonitor lists each server\'s :2381', () => {
    const c = loadCluster(ha, (t) => `${t.trimEnd()}\n  monitoring: { etcdMetrics: true }\n`);
    const tree = treeOf(c);
    for (const s of c.servers) expect(parseYaml(tree.get(`nodes/${s.name}/config.yaml`) as string)['etcd-expose-metrics']).toBe(true);
    for (const a of c.agents) expect(tree.get(`nodes/${a.name}/config.yaml`)).not.toContain('etcd-expose-metrics');
    const objects = manifestObjects(tree);
    // No alerts asked for: no PrometheusRule, but the scrape objects for dashboards.
    expect(objects.filter((o) => o.apiVersion.startsWith('monitoring.coreos.com/')).map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['ServiceMonitor/k3s-etcd']);
    const endpoints = objects.find((o) => o.kind === 'Endpoints' && o.metadata.name === 'k3s-etcd');
    expect(endpoints.subsets).toEqual([{ addresses: c.servers.map((s) => ({ ip: s.address, nodeName: s.name })), ports: [{ name: 'etcd-metrics', port: 2381, protocol: 'TCP' }] }]);
  });

  test('prometheusRules: the haproxy container names the exporter\'s port, which the PodMonitor scrapes; every object carries monitoring.labels in monitoring.namespace', () => {
    const c = loadCluster(path.join(GOOD, 'monitoring.yaml'));
    const objects = objectsOf(c);
    const haproxy = objects.find((o) => o.kind === 'DaemonSet').spec.template.spec.containers.find((k: { name: string }) => k.name === 'haproxy');
    expect(haproxy.ports).toContainEqual({ containerPort: 8404, name: 'lb-metrics' });
    const podMonitor = objects.find((o) => o.kind === 'PodMonitor');
    expect(podMonitor.spec.podMetricsEndpoints[0].port).toBe('lb-metrics');
    const pods = objects.find((o) => o.kind === 'DaemonSet').spec.template.metadata.labels;
    for (const [k, v] of Object.entries(podMonitor.spec.selector.matchLabels)) expect(pods[k]).toBe(v);
    for (const o of objects.filter((x) => ['PrometheusRule', 'PodMonitor', 'ServiceMonitor', 'Service', 'Endpoints'].includes(x.kind) && x.metadata.namespace === 'monitoring')) {
      expect(o.metadata.labels.release).toBe('kube-prometheus-stack');
    }
    expect(objects.filter((o) => o.apiVersion.startsWith('monitoring.coreos.com/')).every((o) => o.metadata.namespace === 'monitoring')).toBe(true);
  });

  test('the image list is unchanged: monitoring runs nothing new, with or without a system default registry', () => {
    expect(clusterImages(example)).toEqual(clusterImages(plain));
    const registry = (t: string) => t.replace('  k3s:\n    version: v1.36.3+k3s1\n', '  k3s:\n    version: v1.36.3+k3s1\n    systemDefaultRegistry: registry.example.internal:5000\n');
    expect(clusterImages(monitored(ha, registry))).toEqual(clusterImages(loadCluster(ha, registry)));
    const images = (c: ResolvedCluster) => [...new Set(objectsOf(c).flatMap((o) => JSON.stringify(o).match(/"image":"[^"]+"/g) ?? []))].sort();
    expect(images(example)).toEqual(images(plain));
  });
});

describe('the prometheus-operator model refuses what the API server would drop', () => {
  const c = loadCluster(path.join(GOOD, 'monitoring.yaml'));
  const byKind = (kind: string) => structuredClone(objectsOf(c).find((o) => o.kind === kind));

  test('the generated objects pass', () => {
    for (const kind of ['PrometheusRule', 'PodMonitor', 'ServiceMonitor']) expect(prometheusOperatorFailures(byKind(kind))).toEqual([]);
  });

  test.each([
    ['a rule with `for` misspelled', 'PrometheusRule', (o: any) => { o.spec.groups[0].rules[0].fore = '5m'; }, '/spec/groups/0/rules/0', 'additionalProperties'],
    ['a `for` that is no Prometheus duration', 'PrometheusRule', (o: any) => { o.spec.groups[0].rules[0].for = '5 minutes'; }, '/spec/groups/0/rules/0/for', 'pattern'],
    ['a rule without expr', 'PrometheusRule', (o: any) => { delete o.spec.groups[0].rules[0].expr; }, '/spec/groups/0/rules/0', 'required'],
    ['a rule that is both alert and record', 'PrometheusRule', (o: any) => { o.spec.groups[0].rules[0].record = 'x'; }, '/spec/groups/0/rules/0', 'oneOf'],
    ['podMetricsEndpoints misspelled', 'PodMonitor', (o: any) => { o.spec.podMetricsEndpoint = o.spec.podMetricsEndpoints; delete o.spec.podMetricsEndpoints; }, '/spec', 'additionalProperties'],
    ['a relabeling with source_labels', 'ServiceMonitor', (o: any) => { o.spec.endpoints[0].relabelings[0].source_labels = ['a']; }, '/spec/endpoints/0/relabelings/0', 'additionalProperties'],
    ['a ServiceMonitor without selector', 'ServiceMonitor', (o: any) => { delete o.spec.selector; }, '/spec', 'required'],
  ])('fails: %s', (_what, kind, edit, instancePath, keyword) => {
    const o = byKind(kind);
    edit(o);
    expect((prometheusOperatorFailures(o) ?? []).map((f) => ({ instancePath: f.instancePath, keyword: f.keyword }))).toContainEqual({ instancePath, keyword });
  });
});

test('the alerts guide\'s alert end to end is what clusters/example.yaml with the guide\'s block compiles to', () => {
  const section = fs.readFileSync(path.join(ROOT, 'docs', 'guides', 'alerts.md'), 'utf8');
  const block = markedBlock('test', 'alert block', 'docs/guides/alerts.md');
  expect(block.startsWith('spec:\n  monitoring:\n')).toBe(true);
  const example = loadCluster(path.join(ROOT, 'clusters', 'example.yaml'), (t) => `${t.trimEnd()}\n${block.split('\n').slice(1).map((l) => l.replace(/ +#.*$/, '')).join('\n')}`);
  expect(example.monitoring).toEqual({ prometheusRules: true, namespace: 'monitoring', labels: { release: 'kube-prometheus-stack' }, etcdMetrics: true });
  const stale = rulesOf(example).get('K3sEtcdOffNodeCopyStale') as Rule;
  const flat = (text: string) => text.replace(/\s+/g, ' ');
  const expand = (text: string) => text.replace('{{ $labels.cronjob }}', 'etcd-backup-nas').replace('{{ $value | humanizeDuration }}', '12h 9m 30s');
  expect(section).toContain(stale.expr.split('\n')[0]);
  expect(section).toContain(`summary:     ${expand(stale.annotations.summary)}`);
  expect(flat(section)).toContain(`description: ${flat(expand(stale.annotations.description))}`);
  expect(section).toContain(`runbook_url: ${stale.annotations.runbook_url}`);
  expect(section).toContain(`severity=${stale.labels.severity}`);
});
