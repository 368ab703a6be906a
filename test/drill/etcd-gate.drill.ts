import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { APPLY_CONFIG_SCRIPT, RESTART_LOCK } from '../../src/render/apply-config-script';
import { ROOT, describeAsRoot, loadCluster, tempDir } from '../helpers';
import { requireTool } from '../tools';
import { ETCD_TLS, EtcdLab, killGroup, type EtcdMember, type Job } from './etcd-lab';
import { NetnsLab, sleep } from './lab';

/**
 * The day-2 gate and restart lock (src/render/apply-config-script.ts) run for real
 * against the etcd lab: the example cluster's three servers' etcd as K3s serves it
 * (see etcd-lab.ts for what it builds and how it differs from K3s). Each job is the
 * real script in a server's namespace, with Debian's etcdctl and stand-ins for the
 * host's systemctl (a restart takes the server's etcd member down and brings it back,
 * as restarting K3s does) and k3s (readyz, node Ready, labels). Timestamps come from
 * this process as each line arrives.
 */
const example = loadCluster(path.join(ROOT, 'clusters', 'example.yaml'));
const servers = example.servers.map((s) => ({ name: s.name, address: s.addresses[0] }));

const dir = tempDir('etcd-lab-');
const lab = new NetnsLab(fs.mkdtempSync(path.join(dir, 'logs-')));
const etcd = new EtcdLab(lab, dir, servers);
const script = path.join(dir, 'apply-config.sh');
const bin = path.join(dir, 'bin');

const STANDINS: Record<string, string> = {
  systemctl: `#!/bin/sh
echo "$*" | sed 's/ --no-block//' >> "$STATE/systemctl.log"
if [ "$1" = restart ]; then
  cp "$HOST_ROOT/etc/rancher/k3s/config.yaml" "$STATE/running.yaml"
  # K3s restarting takes its embedded etcd member with it, for RESTART_DOWN seconds.
  kill -9 "$(cat "$MEMBER_DIR/etcd.pid")" 2>/dev/null || true
  setsid sh -c 'sleep "$1"; exec sh "$2"' restart "\${RESTART_DOWN:-1}" "$MEMBER_DIR/start-etcd.sh" </dev/null >/dev/null 2>&1 &
fi
`,
  k3s: `#!/bin/sh
case "$*" in
  *"get --raw /readyz"*) grep -qs BROKEN "$STATE/running.yaml" || echo ok ;;
  *"get node"*) printf True ;;
  *"label node"*) echo "$*" >> "$STATE/labels.log" ;;
esac
`,
};

let jobs = 0;
/** A config change on member `m`'s server: a fresh committed config, and the job started. */
function startJob(m: EtcdMember, env: Record<string, string> = {}, opts: { broken?: boolean; timeoutMs?: number } = {}): Job & { state: string } {
  const n = ++jobs;
  const jobDir = path.join(m.dir, `job-${n}`);
  const configs = path.join(jobDir, 'configs');
  const state = path.join(jobDir, 'state');
  for (const d of [configs, state]) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(m.root, 'etc/rancher/k3s/config.yaml'), `node-name: ${m.node}\n# before job ${n}\n`, { mode: 0o600 });
  fs.writeFileSync(path.join(configs, `${m.node}.yaml`), `node-name: ${m.node}\n# job ${n}\n${opts.broken ? '# BROKEN\n' : ''}`);
  const job = etcd.runJob(m, script, {
    // The script's own temporary files (the lock client's log) stay in the job's folder, even when the job is SIGKILLed.
    PATH: `${bin}:${process.env.PATH}`, TMPDIR: state, STATE: state, MEMBER_DIR: m.dir, HOST_ROOT: m.root, HOST_EXEC: '', ETCDCTL: 'etcdctl', ETCD_TLS,
    NODE_NAME: m.node, ROLE: 'server', CONFIGS_DIR: configs, HEALTH_TIMEOUT: '60', POLL_SECONDS: '0.5', LOCK_TTL: '10', ...env,
  }, opts.timeoutMs ?? 90_000);
  return Object.assign(job, { state });
}

/** A job's exit code and its output, so a failed expectation shows why: match with `exit(code)`. */
async function ended(job: Job): Promise<string> {
  return `exit ${await job.done}\n${job.stdout}${job.stderr}`;
}
const exit = (code: number) => expect.stringMatching(new RegExp(`^exit ${code}\n`));

/** When a job's line containing `text` came, in ms, or undefined. */
const at = (job: Job, text: string) => job.lines.find((l) => l.line.includes(text))?.at;

/** Each job's stretch from passing the gate to healthy again, printed as a timeline. */
function timeline(title: string, named: [string, Job][], t0: number): { node: string; gate: number; healthy: number }[] {
  const rows = named.map(([node, job]) => {
    const lock = at(job, 'holds the cluster-wide restart lock');
    // The gate that counts is the one run holding the lock.
    const gate = job.lines.find((l) => lock !== undefined && l.at >= lock && l.line.includes('every etcd member is healthy'))?.at;
    return { node, lock, gate, restart: at(job, 'restarting k3s'), healthy: at(job, 'healthy with the new') };
  });
  const s = (t?: number) => (t === undefined ? '-' : `${((t - t0) / 1000).toFixed(1)}s`);
  process.stdout.write(`\n${title}\n${'node'.padEnd(10)} ${'lock'.padStart(7)} ${'gate'.padStart(7)} ${'restart'.padStart(7)} ${'healthy'.padStart(7)}\n${rows.map((r) => `${r.node.padEnd(10)} ${s(r.lock).padStart(7)} ${s(r.gate).padStart(7)} ${s(r.restart).padStart(7)} ${s(r.healthy).padStart(7)}`).join('\n')}\n`);
  return rows.map((r) => ({ node: r.node, gate: r.gate ?? NaN, healthy: r.healthy ?? NaN }));
}

/** Whether two [gate passed, healthy again] stretches overlap. */
const overlap = (a: { gate: number; healthy: number }, b: { gate: number; healthy: number }) => a.gate < b.healthy && b.gate < a.healthy;

// One describe for the lab's whole life, so it is gone before the next drill in drills.test.ts starts.
describe('the etcd lab', () => {
  beforeAll(async () => {
    for (const tool of ['ip', 'etcd', 'etcdctl', 'openssl', 'curl', 'setsid']) requireTool(tool);
    fs.mkdirSync(bin);
    for (const [name, text] of Object.entries(STANDINS)) fs.writeFileSync(path.join(bin, name), text, { mode: 0o755 });
    fs.writeFileSync(script, APPLY_CONFIG_SCRIPT, { mode: 0o755 });
    await lab.open();
    await etcd.start();
  }, 60_000);

  // The lab's processes go before test/setup.ts removes the lab's directory.
  afterAll(() => lab.close());

  describeAsRoot('the lab serves etcd as K3s does', () => {
    const curl = (m: EtcdMember, url: string) => spawnSync('ip', ['netns', 'exec', m.ns, 'curl', '-sS', '--max-time', '3', '--cacert', `${m.root}${ETCD_TLS}/server-ca.crt`, '--cert', `${m.root}${ETCD_TLS}/client.crt`, '--key', `${m.root}${ETCD_TLS}/client.key`, url], { encoding: 'utf8' });

    test('gRPC on :2379, HTTP only on 127.0.0.1:2382, metrics on 127.0.0.1:2381', async () => {
      const [m1, m2] = etcd.members;
      expect(await etcd.memberList(m2)).toContain(`, started, ${m1.name}, https://${m1.address}:2380, https://${m1.address}:2379, false`);
      expect(curl(m2, `${m1.clientUrl}/health`).stdout).not.toContain('"health"');
      expect(curl(m1, 'https://127.0.0.1:2379/health').stdout).not.toContain('"health"');
      expect(curl(m1, 'https://127.0.0.1:2382/health').stdout).toContain('"health":"true"');
      expect(spawnSync('ip', ['netns', 'exec', m1.ns, 'curl', '-sS', '--max-time', '3', 'http://127.0.0.1:2381/metrics'], { encoding: 'utf8' }).stdout).toContain('etcd_server_has_leader 1');
    });

    test('fails: the gate this tool shipped before (HTTP to :2379) never passes here', () => {
      const m = etcd.members[1];
      const r = spawnSync('ip', ['netns', 'exec', m.ns, 'sh', path.join(__dirname, 'fixtures', 'http-gate.sh')], { encoding: 'utf8', env: { ...process.env, ETCD_TLS: `${m.root}${ETCD_TLS}` }, timeout: 20_000 });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('did not list the members');
    });
  });

  /**
   * A membership change through `via`, retried: etcd refuses one until every member has
   * been connected a while (its strict reconfiguration check), and a member the test
   * restarted just before may need seconds, more on a loaded machine. For 45 s at most,
   * half a second apart; a failure shows etcdctl's last words.
   */
  async function reconfigure(via: EtcdMember, args: string[]): Promise<string> {
    let last = { ok: false, out: '' };
    const deadline = Date.now() + 45_000;
    for (let i = 0; i < 90 && !last.ok && Date.now() < deadline; i++) {
      last = await etcd.etcdctl(via, ['--endpoints', via.clientUrl, ...args]);
      if (!last.ok) await sleep(500);
    }
    expect({ args, ok: last.ok, out: last.ok ? 'ok' : last.out }).toEqual({ args, ok: true, out: 'ok' });
    return last.out;
  }

  describeAsRoot('the quorum gate over gRPC', () => {
    test('every member healthy: the server takes the lock, passes the gate, restarts and is healthy', async () => {
      const job = startJob(etcd.members[1]);
      expect(await ended(job)).toEqual(exit(0));
      expect(job.stdout).toContain(`every etcd member is healthy: ${etcd.members.map((m) => m.name).sort().join(' ')}`);
      expect(job.stdout).toContain('healthy with the new config.yaml');
      await etcd.waitHealthy(etcd.members, 30_000);
    }, 60_000);

    test('fails: one member stopped halts the server, naming that member; nothing changes', async () => {
      const [, m2, m3] = etcd.members;
      etcd.stopMember(m3);
      try {
        await etcd.waitHealthy([etcd.members[0], m2], 30_000);
        const job = startJob(m2);
        expect(await ended(job)).toEqual(exit(1));
        expect(job.stderr).toContain(`etcd member(s) not healthy: ${m3.name} (${m3.clientUrl}); restarting ${m2.node} now could lose quorum. Nothing was changed`);
        expect(fs.existsSync(path.join(job.state, 'systemctl.log'))).toBe(false);
      } finally {
        etcd.startMember(m3);
        await etcd.waitHealthy(etcd.members, 30_000);
      }
    }, 90_000);

    test('fails: a member added and never started (a server that died joining, as K3s adds it: a learner) halts the server', async () => {
      const [m1, m2] = etcd.members;
      for (const learner of [true, false]) {
        const added = await reconfigure(m1, ['member', 'add', 'master-4-deadbeef', '--peer-urls=https://10.0.0.14:2380', ...(learner ? ['--learner'] : [])]);
        const id = /Member ([0-9a-f]+) added/.exec(added)?.[1] as string;
        try {
          const job = startJob(m2);
          expect(await ended(job)).toEqual(exit(1));
          expect(job.stderr).toContain('etcd member(s) not healthy: https://10.0.0.14:2380 (added, never started)');
          expect(fs.existsSync(path.join(job.state, 'systemctl.log'))).toBe(false);
        } finally {
          await reconfigure(m1, ['member', 'remove', id]);
        }
      }
    }, 150_000);

    test('fails: a member nobody reaches (its link down) halts the server within 20 s (two health rounds, each within the 3 s dial and 5 s command timeouts of etcdctl)', async () => {
      const [, m2, m3] = etcd.members;
      await etcd.link(m3, 'down');
      try {
        const t0 = Date.now();
        const job = startJob(m2);
        expect(await ended(job)).toEqual(exit(1));
        const took = Date.now() - t0;
        process.stdout.write(`\ngate with ${m3.node} unreachable: halted after ${(took / 1000).toFixed(1)} s\n`);
        expect(job.stderr).toContain(`etcd member(s) not healthy: ${m3.name} (${m3.clientUrl})`);
        expect(took).toBeLessThan(20_000);
      } finally {
        await etcd.link(m3, 'up');
        await etcd.waitHealthy(etcd.members, 30_000);
      }
    }, 60_000);
  });

  describeAsRoot('the cluster-wide restart lock in etcd', () => {
    test('two servers\' jobs started together never restart at once; the second waits, then passes its own gate', async () => {
      const [m1, m2] = etcd.members;
      const t0 = Date.now();
      const a = startJob(m1, { RESTART_DOWN: '2' });
      const b = startJob(m2, { RESTART_DOWN: '2' });
      expect([await ended(a), await ended(b)]).toEqual([exit(0), exit(0)]);
      const rows = timeline('restart lock: two jobs started together', [[m1.node, a], [m2.node, b]], t0);
      expect(rows.every((r) => Number.isFinite(r.gate) && Number.isFinite(r.healthy))).toBe(true);
      expect(overlap(rows[0], rows[1])).toBe(false);
      expect([a, b].some((j) => j.stdout.includes('waiting for the cluster-wide restart lock, held by'))).toBe(true);
      await etcd.waitHealthy(etcd.members, 30_000);
    }, 120_000);

    test('a waiting job whose lock session ends (its lease gone, as when keep-alives go unanswered through an election) takes the lock again', async () => {
      const [m1, m2, m3] = etcd.members;
      // The holder's member is no leader, so the waiter queues while the holder restarts.
      await etcd.moveLeader(m3);
      const t0 = Date.now();
      const holder = startJob(m1, { RESTART_DOWN: '6' });
      for (let i = 0; i < 100 && at(holder, 'restarting k3s') === undefined; i++) await sleep(100);
      const waiter = startJob(m2, { RESTART_DOWN: '1' });
      for (let i = 0; i < 100 && at(waiter, 'waiting for the cluster-wide restart lock') === undefined; i++) await sleep(100);
      // The waiter's key is the newer of the two under the lock's prefix, named after its
      // lease in hex (JSON's lease field is an int64, past what a JS number holds exactly).
      let kvs: { create_revision: number; key: string }[] = [];
      for (let i = 0; i < 50 && kvs.length < 2; i++) {
        const keys = await etcd.etcdctl(m3, ['--endpoints', m3.clientUrl, 'get', '--prefix', `${RESTART_LOCK}/`, '-w', 'json']);
        kvs = ((JSON.parse(keys.out).kvs ?? []) as typeof kvs).sort((x, y) => x.create_revision - y.create_revision);
        if (kvs.length < 2) await sleep(100);
      }
      expect(kvs).toHaveLength(2);
      const waiterLease = Buffer.from(kvs[1].key, 'base64').toString().slice(RESTART_LOCK.length + 1);
      expect(await etcd.etcdctl(m3, ['--endpoints', m3.clientUrl, 'lease', 'revoke', waiterLease])).toMatchObject({ ok: true });
      expect([await ended(holder), await ended(waiter)]).toEqual([exit(0), exit(0)]);
      expect(waiter.stdout).toMatch(/lost the restart lock before restarting \(Error: (lock lost on init|session expired)\); nothing was changed, taking it again/);
      const rows = timeline('restart lock: the waiter\'s session ended while it waited', [[m1.node, holder], [m2.node, waiter]], t0);
      expect(overlap(rows[0], rows[1])).toBe(false);
      await etcd.waitHealthy(etcd.members, 30_000);
    }, 120_000);

    test('fails over: the holder SIGKILLed (a node crash) frees the lock within its 10 s lease, plus an election timeout', async () => {
      const [m1, m2] = etcd.members;
      // The holder's K3s never gets healthy, so it holds the lock until killed.
      const holder = startJob(m1, { RESTART_DOWN: '0' }, { broken: true });
      for (let i = 0; i < 100 && at(holder, 'restarting k3s') === undefined; i++) await sleep(100);
      expect({ restarting: at(holder, 'restarting k3s') !== undefined, output: holder.stdout + holder.stderr }).toEqual({ restarting: true, output: expect.any(String) });
      const waiter = startJob(m2);
      for (let i = 0; i < 100 && at(waiter, 'waiting for the cluster-wide restart lock') === undefined; i++) await sleep(100);
      expect(waiter.stdout).toContain(`waiting for the cluster-wide restart lock, held by ${m1.node} (config change: config.yaml)`);
      const killedAt = Date.now();
      killGroup(holder.child);
      expect(await ended(waiter)).toEqual(exit(0));
      const freedAfter = (at(waiter, 'holds the cluster-wide restart lock') as number) - killedAt;
      process.stdout.write(`\nrestart lock: holder SIGKILLed, the waiter took the lock ${(freedAfter / 1000).toFixed(1)} s later (lease TTL 10 s)\n`);
      // The lease's TTL, plus an election timeout when a leader was elected meanwhile (the
      // holder's restart can take the leader down): a new leader extends every lease by one
      // (etcd server/etcdserver/raft.go, lessor.Promote), plus the waiter's 0.2 s poll.
      expect(freedAfter).toBeLessThan(10_000 + 5_000 + 2_000);
      // What the killed job left (the broken config in place) the next job on that node puts back.
      await etcd.waitHealthy(etcd.members, 30_000);
    }, 120_000);

    test('the holder\'s own etcd member down longer than the lease (K3s restarting) does not free the lock early', async () => {
      const [m1, m2] = etcd.members;
      const t0 = Date.now();
      const holder = startJob(m1, { RESTART_DOWN: '14' });
      for (let i = 0; i < 100 && at(holder, 'restarting k3s') === undefined; i++) await sleep(100);
      const waiter = startJob(m2, { RESTART_DOWN: '1' });
      expect([await ended(holder), await ended(waiter)]).toEqual([exit(0), exit(0)]);
      const rows = timeline('restart lock: the holder\'s member down 14 s, lease 10 s', [[m1.node, holder], [m2.node, waiter]], t0);
      expect((at(holder, 'healthy with the new') as number) - (at(holder, 'restarting k3s') as number)).toBeGreaterThan(14_000);
      expect(overlap(rows[0], rows[1])).toBe(false);
      expect(await etcd.etcdctl(m2, ['--endpoints', m2.clientUrl, 'get', '--prefix', '--keys-only', RESTART_LOCK])).toEqual({ ok: true, out: '' });
    }, 120_000);
  });
});
