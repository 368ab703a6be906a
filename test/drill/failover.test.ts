import * as fs from 'node:fs';
import * as path from 'node:path';
import { GOOD, ROOT, loadCluster, tempDir, treeOf } from '../helpers';
import { requireTool } from '../tools';
import { drillTopology, formatTable, runFailoverDrill, type DrillTopology, type ScenarioResult } from './failover';

/**
 * The failover drill (see failover.ts for what it builds and how it differs from
 * production) on the shipped example (daemonset mode) and an external-mode cluster,
 * then once on the load balancer this tool shipped before, to show the drill catches
 * a check that never succeeds.
 */
const example = loadCluster(path.join(ROOT, 'clusters', 'example.yaml'));
const external = loadCluster(path.join(GOOD, 'enterprise.yaml'));

beforeAll(() => {
  for (const tool of ['ip', 'haproxy', 'keepalived']) requireTool(tool);
});

async function drill(title: string, topology: DrillTopology, set: 'all' | 'haproxy-only' = 'all'): Promise<ScenarioResult[]> {
  const logs = tempDir('drill-');
  const rows = await runFailoverDrill(topology, logs, set);
  // Printed every run: the drill's figures are its measurement.
  process.stdout.write(`\n${formatTable(title, rows)}\n(daemon logs: ${logs})\n`);
  return rows;
}

test('daemonset mode (clusters/example.yaml): every scenario within its bound', async () => {
  const rows = await drill('failover drill: clusters/example.yaml (daemonset)', drillTopology(example, treeOf(example)));
  expect(rows.filter((r) => !r.ok)).toEqual([]);
  expect(rows.length).toBe(7);
}, 180_000);

test('external mode (enterprise.yaml): every scenario within its bound', async () => {
  const rows = await drill('failover drill: test/fixtures/good/enterprise.yaml (external)', drillTopology(external, treeOf(external)));
  expect(rows.filter((r) => !r.ok)).toEqual([]);
}, 180_000);

/**
 * keepalived.conf as this tool generated it before: `pidof haproxy` with a weight,
 * a MASTER that preempts. On Debian the check never succeeds (pidof is killall5), so
 * every priority drops alike and the VIP stays on a holder whose HAProxy is dead.
 */
function withOldCheck(conf: string): string {
  return conf
    .replace(/vrrp_script chk_haproxy \{[^}]*\}/, 'vrrp_script chk_haproxy {\n  script "/bin/pidof haproxy"\n  interval 2\n  fall 2\n  rise 2\n  weight -30\n}')
    .replace(/ {2}nopreempt\n/, '');
}

test('fails: the drill breaks its failover bound on the old keepalived check', async () => {
  const current = drillTopology(external, treeOf(external));
  const old: DrillTopology = {
    ...current,
    peers: current.peers.map((p) => ({
      ...p,
      keepalivedDir: new Map([...p.keepalivedDir].map(([k, f]) => [k, k === path.basename(p.keepalivedConf) ? { ...f, content: withOldCheck(f.content) } : f])),
    })),
  };
  expect(fs.existsSync('/bin/pidof')).toBe(true);
  const rows = await drill('failover drill on the old check (expected to break its bound)', old, 'haproxy-only');
  const killed = rows.find((r) => r.scenario.startsWith('HAProxy killed'));
  expect(killed?.ok).toBe(false);
}, 120_000);
