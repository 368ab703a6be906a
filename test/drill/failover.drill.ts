import * as fs from 'node:fs';
import * as path from 'node:path';
import { GOOD, ROOT, describeAsRoot, loadCluster, tempDir, treeOf } from '../helpers';
import { requireTool } from '../tools';
import { LOADED, drillTopology, formatTable, runFailoverDrill, type DrillLoad, type DrillTopology, type ScenarioResult, type ScenarioSet } from './failover';

/**
 * The failover drill (see failover.ts for what it builds and how it differs from
 * production) on the shipped example (daemonset mode) and an external-mode cluster,
 * then on two load balancers this tool shipped before, to show the drill catches a
 * check that never succeeds and one that keepalived refuses to run.
 */
const example = loadCluster(path.join(ROOT, 'clusters', 'example.yaml'));
const external = loadCluster(path.join(GOOD, 'enterprise.yaml'));

/** Runs the drill and prints its table; the daemons' logs stay until this file ends. */
async function drill(title: string, topology: DrillTopology, set: ScenarioSet = 'all', load?: DrillLoad): Promise<{ rows: ScenarioResult[]; logs: string }> {
  const logs = tempDir('drill-');
  const rows = await runFailoverDrill(topology, logs, set, load);
  // Printed every run: the drill's figures are its measurement.
  process.stdout.write(`\n${formatTable(title, rows)}\n(daemon logs: ${logs}, removed when this file's tests end)\n`);
  return { rows, logs };
}

/** A topology whose peers' keepalived.conf is edited: a known-bad variant of the generated one. */
function withKeepalivedConf(topology: DrillTopology, edit: (conf: string) => string): DrillTopology {
  return {
    ...topology,
    peers: topology.peers.map((p) => ({
      ...p,
      keepalivedDir: new Map([...p.keepalivedDir].map(([k, f]) => [k, k === path.basename(p.keepalivedConf) ? { ...f, content: edit(f.content) } : f])),
    })),
  };
}

/** What keepalived logs when it drops a check (notify.c `check_script_secure`, vrrp/vrrp.c `check_track_script_secure`). */
const CHECK_DROPPED = /Unsafe permissions|Disabling track script|Wrong file type|cannot be accessed|not executable/;

/** Every line of every keepalived log of a run that says the check was dropped. */
function checkDropped(logs: string): string[] {
  return fs.readdirSync(logs).filter((f) => f.startsWith('keepalived-'))
    .flatMap((f) => fs.readFileSync(path.join(logs, f), 'utf8').split('\n').filter((l) => CHECK_DROPPED.test(l)).map((l) => `${f}: ${l}`));
}

describeAsRoot('the failover drill', () => {
  beforeAll(() => {
    for (const tool of ['ip', 'haproxy', 'keepalived']) requireTool(tool);
  });

  test('daemonset mode (clusters/example.yaml): every scenario within its bound, then again loaded (CPU hogs, 5 % loss) without flapping, with keepalived on the kubelet\'s volume layout', async () => {
    const topology = drillTopology(example, treeOf(example));
    expect(topology.peers.every((p) => p.layout === 'kubelet')).toBe(true);
    const { rows, logs } = await drill('failover drill: clusters/example.yaml (daemonset, kubelet volume layout)', topology, 'all', LOADED);
    expect(rows.filter((r) => !r.ok)).toEqual([]);
    expect(rows.length).toBe(16);
    expect(checkDropped(logs)).toEqual([]);
  }, 300_000);

  test('external mode (enterprise.yaml): every scenario within its bound, then again loaded without flapping', async () => {
    const { rows, logs } = await drill('failover drill: test/fixtures/good/enterprise.yaml (external)', drillTopology(external, treeOf(external)), 'all', LOADED);
    expect(rows.filter((r) => !r.ok)).toEqual([]);
    expect(checkDropped(logs)).toEqual([]);
  }, 300_000);

  /**
   * Without the holder's bonus (keepalived.conf before it: chk_vip_holder not tracked), the top peer
   * deaf to adverts for a second claims the VIP and, outranking the holder, keeps it.
   */
  test('fails: without the holder\'s bonus, a backup that missed three adverts takes the VIP from a healthy holder', async () => {
    const unbonused = withKeepalivedConf(drillTopology(external, treeOf(external)), (conf) => conf.replace(/^ {4}chk_vip_holder\n/m, ''));
    for (const p of unbonused.peers) expect(p.keepalivedDir.get(path.basename(p.keepalivedConf))?.content).toMatch(/track_script \{\s*chk_haproxy\s*\}/);
    const { rows } = await drill('failover drill without the holder\'s bonus (expected to lose the VIP to the deaf backup)', unbonused, 'haproxy-deaf');
    const deaf = rows.find((r) => r.scenario.includes('deaf to adverts'));
    expect(deaf?.ok).toBe(false);
    expect(deaf?.vipAfter).not.toBe(deaf?.vipBefore);
  }, 120_000);

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
    const old = withKeepalivedConf(drillTopology(external, treeOf(external)), withOldCheck);
    expect(fs.existsSync('/bin/pidof')).toBe(true);
    const { rows } = await drill('failover drill on the old check (expected to break its bound)', old, 'haproxy-only');
    const killed = rows.find((r) => r.scenario.startsWith('HAProxy killed'));
    expect(killed?.ok).toBe(false);
  }, 120_000);

  /**
   * The daemonset's ConfigMap as this tool shipped it before: the check a script in the
   * volume (item mode 0755), which keepalived runs as root from /etc/keepalived.
   */
  const OLD_CHECK_SCRIPT = `#!/bin/sh
  # generated by k3s-gitops from clusters/example.yaml; do not edit
  # Exit 0 when HAProxy accepts connections on :8443; keepalived runs this every second.
  port=8443
  if command -v bash >/dev/null 2>&1; then
    exec bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' check-haproxy "$port" 2>/dev/null
  fi
  exec nc -z -w 1 127.0.0.1 "$port"
  `;
  const OLD_SCRIPT_LINE = '  script "/etc/keepalived/check-haproxy.sh"';

  /**
   * Under the kubelet's layout the volume's root is 0777 without the sticky bit, so
   * keepalived's script security disables that check, and the VIP stays on a holder
   * whose HAProxy is dead. The same drill passes on today's ConfigMap (the daemonset
   * test above), so the layout, not the lab, makes the difference.
   */
  test('fails: under the kubelet volume layout, the old ConfigMap\'s check script is disabled and the VIP never moves', async () => {
    expect(example.loadBalancer.port).toBe(8443); // the fixture's port
    const current = drillTopology(example, treeOf(example));
    const old: DrillTopology = {
      ...current,
      peers: current.peers.map((p) => ({
        ...p,
        keepalivedDir: new Map([
          ...[...p.keepalivedDir].map(([k, f]) => [k, k.endsWith('.conf') ? { ...f, content: f.content.replace(/^ {2}script .*$/m, OLD_SCRIPT_LINE) } : f] as const),
          ['check-haproxy.sh', { content: OLD_CHECK_SCRIPT, mode: 0o755 }],
        ]),
      })),
    };
    for (const p of old.peers) expect(p.keepalivedDir.get(path.basename(p.keepalivedConf))?.content).toContain(OLD_SCRIPT_LINE);
    const { rows, logs } = await drill('failover drill on the old ConfigMap, kubelet layout (expected to break its bound)', old, 'haproxy-only');
    const killed = rows.find((r) => r.scenario.startsWith('HAProxy killed'));
    expect(killed?.ok).toBe(false);
    expect(killed?.vipAfter).toBe(killed?.vipBefore);
    for (const p of old.peers) {
      const log = fs.readFileSync(path.join(logs, `keepalived-${p.name}.log`), 'utf8');
      // keepalived 2.2 names the resolved path (through ..data), 2.3 and later the path as written.
      expect(log).toMatch(/Unsafe permissions found for script '\/etc\/keepalived\/(\.\.[0-9_.]+\/)?check-haproxy\.sh' - disabling/);
      expect(log).toContain('Disabling track script chk_haproxy due to insecure');
    }
  }, 120_000);
});
