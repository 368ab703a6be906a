/**
 * The HAProxy exporter drill: the load balancer alerts read what HAProxy really exports.
 *
 * It builds, in network namespaces on a private bridge (test/drill/lab.ts): the three
 * servers of test/fixtures/good/monitoring.yaml with their own addresses, a stand-in
 * apiserver on each one's :6443, the generated haproxy.cfg (the DaemonSet's ConfigMap
 * file, byte for byte) run by the distro's haproxy on master-1, which also holds the
 * VIP, and a "prometheus" namespace that scrapes HAProxy's exporter on master-1's
 * address and through the VIP with curl. The scraped samples, with the labels the
 * PodMonitor gives its targets, go through `promtool test rules` with the generated
 * rules.
 *
 * It differs from production in: Debian's HAProxy 2.6 instead of the image's 2.8 (both
 * build in the exporter; the metric names it reads are the same in both, addons/promex),
 * curl standing in for Prometheus's scrape (`up` is whether curl got the page), the VIP
 * added by hand instead of by keepalived, stand-in apiservers that accept TCP and say
 * nothing, and no keepalived at all (the failover drill covers the VIP's moves).
 *
 * It is shown to fail on a known-bad config: the same cluster's haproxy.cfg without
 * spec.monitoring serves no exporter, and the drill's first scenario fails on it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { rulesByName, selector, testRules, type Group, type Labels } from '../alert-tests';
import { LB_NAMES } from '../../src/names';
import { checkHaproxyCommand } from '../../src/render/check-haproxy';
import { GOOD, loadCluster, manifestObjects, tempDir, treeOf, testAsRoot } from '../helpers';
import { requireTool } from '../tools';
import { NetnsLab, waitFor } from './lab';

const c = loadCluster(path.join(GOOD, 'monitoring.yaml'));
const unmonitored = loadCluster(path.join(GOOD, 'monitoring.yaml'), (t) => t.replace(/\n {2}monitoring:[\s\S]*$/, '\n'));
const cfgOf = (cluster: typeof c) => manifestObjects(treeOf(cluster)).find((o) => o.kind === 'ConfigMap' && o.metadata.name === LB_NAMES.configMap).data['haproxy.cfg'] as string;
const groups: Group[] = manifestObjects(treeOf(c)).find((o) => o.kind === 'PrometheusRule').spec.groups;
const STANDIN = path.join(__dirname, 'standin-apiserver.js');

/** One row of the drill's table: what was done, the bound, what was seen. */
interface Row { readonly scenario: string; readonly bound: string; readonly seen: string; readonly ok: boolean }

const formatRows = (title: string, rows: readonly Row[]) => [
  title, '| scenario | bound | seen | result |', '| --- | --- | --- | --- |',
  ...rows.map((r) => `| ${r.scenario} | ${r.bound} | ${r.seen} | ${r.ok ? 'ok' : 'FAILED'} |`),
].join('\n');

/** `name{labels} value` lines of an exposition, for one metric. */
function samples(text: string, name: string): { labels: Labels; value: number }[] {
  return [...text.matchAll(new RegExp(`^${name}\\{([^}]*)\\} (\\S+)$`, 'gm'))].map((m) => ({
    labels: Object.fromEntries([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]])),
    value: Number(m[2]),
  }));
}

/** The labels the PodMonitor gives master-1's target (prometheus-operator's job, the `node` relabeling). */
const target: Labels = { container: 'haproxy', endpoint: 'lb-metrics', instance: `${c.servers[0].address}:8404`, job: 'monitoring/k3s-api-lb', namespace: 'k3s-gitops-system', node: c.servers[0].name, pod: 'k3s-api-lb-0' };
const vipTarget: Labels = { endpoint: 'lb-metrics', instance: `${c.endpoint}:8404`, job: 'k3s-api-vip', namespace: 'monitoring', service: 'k3s-api-vip' };

beforeAll(() => {
  for (const tool of ['ip', 'haproxy', 'curl', 'promtool']) requireTool(tool);
});

testAsRoot('the load balancer alerts read what HAProxy exports: backends counted, a dead apiserver, client bytes on the holder and not from the check, an unreachable VIP', async () => {
  const logs = tempDir('exporter-drill-');
  const lab = new NetnsLab(logs);
  const rows: Row[] = [];
  const row = (scenario: string, bound: string, seen: string, ok: boolean) => rows.push({ scenario, bound, seen, ok });
  try {
    await lab.open();
    const ns = new Map<string, string>();
    for (const s of c.servers) ns.set(s.name, await lab.addHost(s.name, c.loadBalancer.interface, [`${s.address}/24`]));
    const prometheus = await lab.addHost('prometheus', c.loadBalancer.interface, ['10.0.0.200/24']);
    const first = ns.get(c.servers[0].name) as string;
    await lab.exec(first, 'ip', ['addr', 'add', `${c.endpoint}/24`, 'dev', c.loadBalancer.interface]);
    const standins = new Map(c.servers.map((s) => [s.name, lab.spawn(ns.get(s.name) as string, `apiserver-${s.name}`, process.execPath, [STANDIN, s.name])]));
    fs.writeFileSync(path.join(logs, 'haproxy.cfg'), cfgOf(c));
    fs.writeFileSync(path.join(logs, 'haproxy-unmonitored.cfg'), cfgOf(unmonitored));
    lab.spawn(first, 'haproxy', 'haproxy', ['-db', '-f', path.join(logs, 'haproxy.cfg')]);
    // The known-bad config, on master-3: the same cluster's haproxy.cfg without spec.monitoring.
    const third = c.servers[2];
    lab.spawn(ns.get(third.name) as string, 'haproxy-unmonitored', 'haproxy', ['-db', '-f', path.join(logs, 'haproxy-unmonitored.cfg')]);
    const scrape = (address: string) => lab.exec(prometheus, 'curl', ['-sf', '--max-time', '2', `http://${address}:8404/metrics`]).catch(() => undefined);
    const active = async (address: string) => samples(await scrape(address) ?? '', 'haproxy_backend_active_servers').find((x) => x.labels.proxy === 'k3s-servers')?.value;

    const page = await waitFor(() => scrape(c.servers[0].address), 5000);
    const viaVip = await scrape(c.endpoint);
    row('exporter answers on master-1 and through the VIP', '5 s', `${page ? 'node' : '-'}, ${viaVip ? 'VIP' : '-'}`, Boolean(page && viaVip));
    const known = await waitFor(() => scrape(third.address), 3000);
    row('known-bad: haproxy.cfg without spec.monitoring (master-3)', 'no exporter', known ? 'answers' : 'no exporter', known === undefined);

    const allUp = await waitFor(async () => ((await active(c.servers[0].address)) === 3 ? 3 : undefined), 5000);
    row('3 apiservers up: haproxy_backend_active_servers{proxy="k3s-servers"}', '3 within 5 s', String(allUp ?? await active(c.servers[0].address)), allUp === 3);

    standins.get(c.servers[1].name)?.kill('SIGKILL');
    const twoUp = await waitFor(async () => ((await active(c.servers[0].address)) === 2 ? 2 : undefined), 5000);
    const down = samples(await scrape(c.servers[0].address) ?? '', 'haproxy_server_status').filter((x) => x.labels.proxy === 'k3s-servers' && x.value === 1 && x.labels.state !== 'UP').map((x) => `${x.labels.server} ${x.labels.state}`);
    row(`apiserver on ${c.servers[1].name} killed`, '2 within 5 s, it DOWN', `${twoUp ?? await active(c.servers[0].address)}; ${down.join(', ') || 'none down'}`, twoUp === 2 && down.join() === `${c.servers[1].name} DOWN`);

    // The scraped samples, held for 12 minutes, through the generated rules.
    const held = (labels: Labels, value: number) => [selector('haproxy_backend_active_servers', { ...target, ...labels }), `${value}x12`] as [string, string];
    const scraped = samples(await scrape(c.servers[0].address) ?? '', 'haproxy_backend_active_servers').filter((x) => x.labels.proxy === 'k3s-servers');
    const promtool = await testRules(groups, [{
      name: 'the samples HAProxy exported with one apiserver dead',
      series: new Map(scraped.map((x) => held(x.labels, x.value))),
      expect: [
        { alert: 'K3sApiServerDownBehindLoadBalancer', at: '11m', fires: scraped.map((x) => ({ labels: { ...target, ...x.labels }, value: String(x.value) })) },
        { alert: 'K3sApiNoServerBehindLoadBalancer', at: '11m', fires: [] },
      ],
    }]);
    row('those samples through promtool: K3sApiServerDownBehindLoadBalancer', 'fires at 11m', promtool.ok ? `fires, ${scraped.map((x) => `${x.labels.proxy}=${x.value}`).join()}` : promtool.output.slice(0, 200), promtool.ok && scraped.length === 1);

    // What K3sApiVipHeldTwice counts: client bytes on the API frontend, which a
    // connection that sends nothing (keepalived's check, the kubelet's probe) adds none to.
    const frontend = async (metric: string) => samples(await scrape(c.servers[0].address) ?? '', metric).find((x) => x.labels.proxy === 'k3s-apiserver')?.value;
    const counters = async () => [await frontend('haproxy_frontend_connections_total'), await frontend('haproxy_frontend_bytes_in_total')];
    const [connections0, bytes0] = await counters();
    for (let i = 0; i < 3; i++) await lab.exec(first, 'bash', ['-c', checkHaproxyCommand(c.loadBalancer.port)]).catch(() => undefined);
    const [connections1, bytes1] = await counters();
    row('keepalived\'s check, 3 times: connections counted, no bytes in', '+3, +0', `+${(connections1 ?? NaN) - (connections0 ?? NaN)}, +${(bytes1 ?? NaN) - (bytes0 ?? NaN)}`, connections1 === (connections0 ?? NaN) + 3 && bytes1 === bytes0);
    await lab.exec(prometheus, 'bash', ['-c', `exec 3<>/dev/tcp/${c.endpoint}/${c.loadBalancer.port}; printf hello-apiserver >&3; sleep 0.3`]).catch(() => undefined);
    const bytes2 = await frontend('haproxy_frontend_bytes_in_total');
    row('a client through the VIP sends 15 bytes: haproxy_frontend_bytes_in_total{proxy="k3s-apiserver"} on the holder', '+15', `+${(bytes2 ?? NaN) - (bytes1 ?? NaN)}`, bytes2 === (bytes1 ?? NaN) + 15);

    await lab.exec(first, 'ip', ['addr', 'del', `${c.endpoint}/24`, 'dev', c.loadBalancer.interface]);
    const gone = await waitFor(async () => ((await scrape(c.endpoint)) === undefined ? true : undefined), 5000);
    const vip = await testRules(groups, [{
      name: 'the VIP scrape failing, as Prometheus records it',
      series: new Map([[selector('up', vipTarget), `${gone ? 0 : 1}x5`]]),
      expect: [{ alert: 'K3sApiVipUnreachable', at: '3m', fires: [{ labels: vipTarget }] }],
    }]);
    row('VIP removed from master-1: its scrape fails, K3sApiVipUnreachable', 'fails within 5 s, fires at 3m', gone ? (vip.ok ? 'fails; fires' : vip.output.slice(0, 200)) : 'still answers', Boolean(gone) && vip.ok);
  } finally {
    await lab.close();
    process.stdout.write(`\n${formatRows('HAProxy exporter drill: test/fixtures/good/monitoring.yaml (daemonset haproxy.cfg, Debian haproxy)', rows)}\n`);
  }
  expect(rows.filter((r) => !r.ok)).toEqual([]);
  expect(rows).toHaveLength(8);
  expect(rulesByName(groups).has('K3sApiVipUnreachable')).toBe(true);
}, 60_000);
