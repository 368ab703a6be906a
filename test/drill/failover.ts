/**
 * The failover drill: the generated load balancer, run for real.
 *
 * What it builds: one network namespace per LB peer (the servers in daemonset mode,
 * the LB machines in external mode) and per server, all on one bridge in a switch
 * namespace, with the cluster file's own addresses and interface name. Every LB peer
 * runs the distro's `haproxy` and `keepalived` on the generated files, byte for byte.
 * keepalived sees its folder at /etc/keepalived through a bind mount in its own mount
 * namespace, laid out as on the machine: in external mode the files cloud-init writes,
 * with their modes, in a root-owned 0755 folder; in daemonset mode the ConfigMap volume
 * as the kubelet lays it out (test/kubelet-volume.ts): a 0777 root without the sticky
 * bit, the files with their items' modes in a `..<timestamp>` folder, `..data` and one
 * symlink per key, mounted read-only. Every server runs a stand-in apiserver on :6443.
 * A client namespace opens a connection to the endpoint every 50 ms and holds four
 * long-lived ones.
 *
 * How it differs from production: stand-in apiservers (TCP, answer their name) instead
 * of K3s; a Linux bridge instead of a switch or cloud network; a "crash" is SIGKILL of
 * every process in the namespace plus the link going down and the VIP vanishing with
 * the machine; daemonset mode runs the distro's keepalived rather than the image's,
 * and HAProxy 2.6 from Debian rather than the image's 2.8. The ConfigMap volume differs
 * from the kubelet's (kubernetes/kubernetes pkg/volume/util/atomic_writer.go,
 * `AtomicWriter.Write`; pkg/volume/configmap/configmap.go) in that it lives in the
 * drill's temporary folder rather than under /var/lib/kubelet/pods/<uid>/volumes (both
 * on disk; a configMap volume is no tmpfs), is owned by root:root with no fsGroup
 * chgrp or setgid bit (the pod sets no fsGroup), is written once under a fixed
 * timestamp with no atomic `..data` swap when the ConfigMap changes, and has no SELinux
 * labels. No traffic leaves the lab: the namespaces have no route out.
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import ipaddr from 'ipaddr.js';
import { parse } from 'yaml';
import { LB_NAMES } from '../../src/names';
import { HEALTH_CHECK } from '../../src/render/haproxy-cfg';
import type { ResolvedCluster } from '../../src/cluster-file/resolve';
import { configMapVolumeFiles, mountAtEtcKeepalived, writeKeepalivedDir, type KeepalivedLayout, type VolumeFile } from '../kubelet-volume';
import { NetnsLab, sleep, waitFor } from './lab';

/** The load balancer's bounds, as docs/guides/three-servers.md states them (test/guides.test.ts holds them equal). */
export const BOUNDS = {
  /** HAProxy dead on the holder: its next check fails (1 s apart), it resigns, a backup takes over after its skew. */
  haproxyDeathMs: 1500,
  /** The holder crashed: three missed adverts plus skew, then the backup's gratuitous ARP. */
  crashMs: 2000,
  failedRequestsOnApiserverDeath: 1,
  /** After every apiserver returns: HAProxy's `rise` checks, one interval apart, plus one. */
  recoveryMs: (HEALTH_CHECK.rise + 1) * HEALTH_CHECK.interMs,
  /** Loaded and lossy: the longest two peers may hold the VIP at once (a lost advert's election, undone by the next). */
  splitBrainMs: 500,
} as const;

/**
 * The drill's load, as a busy machine on a bad network sees it: a CPU hog per LB peer
 * (each bounded in time), and a share of the packets every namespace receives dropped
 * at random by nftables (`numgen random mod 100 < N`, IP and ARP; this kernel has no
 * netem), so each packet is lost once with that chance, adverts and ARP included.
 */
export interface DrillLoad {
  readonly cpuHog: boolean;
  readonly lossPercent: number;
}
export const LOADED: DrillLoad = { cpuHog: true, lossPercent: 5 };
/** No hog outlives this, whatever happens to the drill. */
const HOG_MAX_SECONDS = 180;

const PROBE_INTERVAL_MS = 50;
/** A patient client (kubectl waits far longer): slow answers count, only failures fail. */
const PROBE_TIMEOUT_MS = 2500;
const HELD_CONNECTIONS = 4;
const CLIENT_MAX_SECONDS = 240;

/** One LB peer's files at their paths on the machine, and how its daemons start. */
export interface LbPeerFiles {
  readonly name: string;
  readonly address: string;
  /** keepalived.conf's path on the machine, and every file under /etc/keepalived. */
  readonly keepalivedConf: string;
  readonly keepalivedDir: ReadonlyMap<string, VolumeFile>;
  /** How /etc/keepalived is laid out: files from cloud-init, or the pod's ConfigMap volume. */
  readonly layout: KeepalivedLayout;
  readonly haproxyCfg: string;
}

export interface DrillTopology {
  readonly cluster: ResolvedCluster;
  readonly peers: readonly LbPeerFiles[];
}

/** A scenario's row in the drill's table. */
export interface ScenarioResult {
  readonly scenario: string;
  readonly vipBefore: string;
  readonly vipAfter: string;
  /** From the fault until requests succeed again; undefined where nothing failed over. */
  readonly failoverMs?: number;
  readonly failed: number;
  readonly total: number;
  /** Long-lived connections closed under the client. */
  readonly cut: number;
  /** Most peers holding the VIP at one moment (split brain when above 1). */
  readonly maxHolders: number;
  /** The longest stretch with more than one holder, in ms (sampled every 100 ms). */
  readonly splitBrainMs: number;
  /** From the fault until the new holder holds the VIP alone. */
  readonly vipMovedMs?: number;
  readonly bound: string;
  readonly ok: boolean;
}

interface ProbeEvent { kind: 'probe'; start: number; end: number; by: string | null }
interface CutEvent { kind: 'cut'; at: number; by: string }

/**
 * Which scenarios to run: all, or for the known-bad checks the first two (HAProxy
 * killed and the holder's return), and the deaf backup after them.
 */
export type ScenarioSet = 'all' | 'haproxy-only' | 'haproxy-deaf';

/** How long the deaf-backup scenario's backup hears no advert: over three adverts and a skew, so it claims the VIP. */
const DEAF_MS = 1000;

/**
 * Runs the drill; returns one row per scenario. With `load`, every scenario runs a
 * second time on the same lab, loaded. `logDir` keeps every daemon's output and the
 * peers' files; on SIGINT or SIGTERM the drill removes it with the lab.
 */
export async function runFailoverDrill(topology: DrillTopology, logDir: string, set: ScenarioSet = 'all', load?: DrillLoad): Promise<ScenarioResult[]> {
  const lab = new NetnsLab(logDir);
  const onSignal = () => {
    void lab.close().then(() => {
      fs.rmSync(logDir, { recursive: true, force: true });
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await lab.open();
    return await new Drill(lab, topology, logDir).run(set, load);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await lab.close();
  }
}

/** The smallest prefix (from /24 down) that puts every address on one segment. */
function segmentPrefix(addresses: readonly string[]): number {
  const parsed = addresses.map((a) => ipaddr.IPv4.parse(a));
  for (let bits = 24; bits >= 8; bits--) {
    if (parsed.every((a) => a.match(parsed[0], bits))) return bits;
  }
  throw new Error(`addresses ${addresses.join(', ')} share no /8`);
}

/** An address on the segment that no node, peer or VIP uses: the client's. */
function freeAddress(used: ReadonlySet<string>, near: string): string {
  const octets = ipaddr.IPv4.parse(near).octets;
  for (let last = 250; last > 1; last--) {
    const candidate = [...octets.slice(0, 3), last].join('.');
    if (!used.has(candidate)) return candidate;
  }
  throw new Error('no free address for the client');
}

class Drill {
  private readonly c: ResolvedCluster;
  private readonly ns = new Map<string, string>();
  private readonly haproxy = new Map<string, ChildProcess>();
  private readonly probes: ProbeEvent[] = [];
  private readonly cuts: CutEvent[] = [];
  private readonly holderSamples: { at: number; holders: string[] }[] = [];
  private monitoring = false;
  private prefix = 24;
  /** The load the scenarios run under now; undefined when unloaded. */
  private load?: DrillLoad;

  constructor(private readonly lab: NetnsLab, private readonly topology: DrillTopology, private readonly logDir: string) {
    this.c = topology.cluster;
  }

  private get iface(): string { return this.c.loadBalancer.interface; }

  async run(set: ScenarioSet, load?: DrillLoad): Promise<ScenarioResult[]> {
    try {
      await this.build();
      const results = await this.scenarios(set);
      if (load) {
        await this.startLoad(load);
        results.push(...(await this.scenarios(set)).map((r) => ({ ...r, scenario: `${r.scenario}, loaded` })));
      }
      return results;
    } finally {
      // Also when a scenario throws: the monitor loop must not outlive the drill.
      this.monitoring = false;
    }
  }

  private async scenarios(set: ScenarioSet): Promise<ScenarioResult[]> {
    const results: ScenarioResult[] = [];
    results.push(await this.steady());
    results.push(...await this.haproxyKilled());
    if (set !== 'haproxy-only') results.push(await this.backupDeaf());
    if (set === 'all') {
      results.push(await this.apiserverKilled());
      results.push(...await this.holderCrashed());
      results.push(await this.allApiserversKilled());
    }
    return results;
  }

  private async startLoad(load: DrillLoad): Promise<void> {
    this.load = load;
    if (load.lossPercent > 0) {
      const rules = `table inet drill_loss {
  chain input { type filter hook input priority 0; iifname "${this.iface}" numgen random mod 100 < ${load.lossPercent} drop; }
}
table arp drill_loss {
  chain input { type filter hook input priority 0; numgen random mod 100 < ${load.lossPercent} drop; }
}
`;
      const file = path.join(this.logDir, 'loss.nft');
      fs.writeFileSync(file, rules);
      for (const ns of this.ns.values()) await this.lab.exec(ns, 'nft', ['-f', file]);
    }
    for (const p of this.topology.peers) this.startHog(p.name);
    // The hogs and the loss settle in before the first loaded scenario measures.
    await sleep(2000);
  }

  private startHog(peer: string): void {
    if (!this.load?.cpuHog) return;
    this.lab.spawn(this.nsOf(peer), `cpu-hog-${peer}`, 'timeout', [String(HOG_MAX_SECONDS), 'sh', '-c', 'while :; do :; done']);
  }

  private async build(): Promise<void> {
    const { peers } = this.topology;
    const serverAddresses = this.c.servers.map((s) => s.address);
    const used = new Set([...serverAddresses, ...peers.map((p) => p.address), this.c.endpoint]);
    const client = freeAddress(used, this.c.endpoint);
    this.prefix = segmentPrefix([...used, client]);
    const hosts = new Map<string, string>();
    for (const p of peers) hosts.set(p.name, p.address);
    for (const s of this.c.servers) hosts.set(s.name, s.address);
    for (const [name, address] of hosts) this.ns.set(name, await this.lab.addHost(name, this.iface, [`${address}/${this.prefix}`]));
    this.ns.set('client', await this.lab.addHost('client', this.iface, [`${client}/${this.prefix}`]));
    for (const s of this.c.servers) this.startApiserver(s.name);
    for (const p of peers) this.startLb(p);

    const clientProc = this.lab.spawnPiped(this.nsOf('client'), 'client', process.execPath, [
      path.join(__dirname, 'probe-client.js'), this.c.endpoint, String(this.c.loadBalancer.port),
      String(PROBE_INTERVAL_MS), String(PROBE_TIMEOUT_MS), String(HELD_CONNECTIONS), String(CLIENT_MAX_SECONDS),
    ]);
    let buffer = '';
    clientProc.stdout?.on('data', (d) => {
      buffer += d;
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        const e = JSON.parse(line);
        if (e.kind === 'probe') this.probes.push(e);
        else if (e.kind === 'cut') this.cuts.push(e);
      }
    });
    this.monitoring = true;
    void this.monitor();
    const ready = await waitFor(async () => {
      const holders = this.lastHolders();
      const recent = this.probes.slice(-5);
      return holders.length === 1 && recent.length === 5 && recent.every((p) => p.by) ? true : undefined;
    }, 20_000);
    if (!ready) throw new Error(`the load balancer never came up: holders ${this.lastHolders().join(',') || 'none'}; logs in ${this.logDir}`);
  }

  private nsOf(name: string): string {
    const ns = this.ns.get(name);
    if (!ns) throw new Error(`no namespace for ${name}`);
    return ns;
  }

  private startApiserver(server: string): void {
    this.lab.spawn(this.nsOf(server), `apiserver-${server}`, process.execPath, [path.join(__dirname, 'standin-apiserver.js'), server]);
  }

  /**
   * Writes the peer's files into its own folder, fresh (a returning machine starts
   * again from its files), then starts HAProxy and keepalived on them.
   */
  private startLb(peer: LbPeerFiles): void {
    const root = path.join(this.logDir, 'peers', peer.name);
    const etc = path.join(root, 'keepalived');
    const run = path.join(root, 'run');
    fs.rmSync(etc, { recursive: true, force: true });
    writeKeepalivedDir(etc, peer.layout, peer.keepalivedDir);
    fs.mkdirSync(run, { recursive: true, mode: 0o755 });
    const cfg = path.join(root, 'haproxy.cfg');
    fs.writeFileSync(cfg, peer.haproxyCfg);
    this.startHaproxy(peer.name, cfg);
    const ns = this.nsOf(peer.name);
    // keepalived reads its folder at its real path: a bind mount in the mount namespace
    // that `ip netns exec` gives each command, invisible outside.
    this.lab.spawn(ns, `keepalived-${peer.name}`, 'sh', ['-c', `${mountAtEtcKeepalived(peer.layout)} && exec "$@"`, etc,
      'keepalived', '--dont-fork', '--log-console', '--log-detail', '--vrrp', '-f', peer.keepalivedConf,
      `--pid=${run}/keepalived.pid`, `--vrrp_pid=${run}/vrrp.pid`, `--checkers_pid=${run}/checkers.pid`]);
  }

  private startHaproxy(peer: string, cfg = path.join(this.logDir, 'peers', peer, 'haproxy.cfg')): void {
    this.haproxy.set(peer, this.lab.spawn(this.nsOf(peer), `haproxy-${peer}`, 'haproxy', ['-db', '-f', cfg]));
  }

  private async holders(): Promise<string[]> {
    const held = await Promise.all(this.topology.peers.map(async (p) => {
      const out = await this.lab.exec(this.nsOf(p.name), 'ip', ['-o', '-4', 'addr', 'show', 'dev', this.iface]).catch(() => '');
      return out.includes(` ${this.c.endpoint}/`) ? p.name : undefined;
    }));
    return held.filter((h): h is string => h !== undefined);
  }

  /** Samples who holds the VIP every 100 ms for as long as the drill runs, 15 minutes at most. */
  private async monitor(): Promise<void> {
    const deadline = Date.now() + 15 * 60_000;
    while (this.monitoring && Date.now() < deadline) {
      this.holderSamples.push({ at: Date.now(), holders: await this.holders() });
      await sleep(100);
    }
  }

  private lastHolders(): string[] {
    return this.holderSamples.at(-1)?.holders ?? [];
  }

  /** The one holder now, waiting out a transition (at most 10 s). */
  private async holder(): Promise<string> {
    const one = await waitFor(async () => (this.lastHolders().length === 1 ? this.lastHolders()[0] : undefined), 10_000);
    return one ?? `none (${this.lastHolders().join(',')})`;
  }

  private window(from: number, to: number) {
    const probes = this.probes.filter((p) => p.start >= from && p.start < to);
    const failed = probes.filter((p) => !p.by);
    const lastFailed = failed.at(-1);
    const recovered = lastFailed ? probes.find((p) => p.start > lastFailed.start && p.by) : undefined;
    const samples = this.holderSamples.filter((s) => s.at >= from && s.at < to);
    let splitBrainMs = 0;
    let splitSince: number | undefined;
    for (const s of samples) {
      if (s.holders.length > 1) splitSince ??= s.at;
      else splitSince = undefined;
      if (splitSince !== undefined) splitBrainMs = Math.max(splitBrainMs, s.at - splitSince + 100);
    }
    return {
      total: probes.length,
      failed: failed.length,
      /** When requests succeed again after the last failure in the window. */
      recoveredAt: recovered?.start,
      cut: this.cuts.filter((e) => e.at >= from && e.at < to).length,
      maxHolders: Math.max(0, ...samples.map((s) => s.holders.length)),
      splitBrainMs,
      /** Every peer that held the VIP alone at some moment of the window, from `since` on. */
      soleHolders: (since = from) => new Set(samples.filter((s) => s.at >= since && s.holders.length === 1).map((s) => s.holders[0])),
      /** The first moment `peer` held the VIP alone. */
      soleHolderAt: (peer: string) => samples.find((s) => s.holders.length === 1 && s.holders[0] === peer)?.at,
    };
  }

  /**
   * A scenario's row. Unloaded, never two holders (unless the scenario allows some);
   * loaded, two only briefly. Either way no peer but the ones the scenario expects ever
   * holds the VIP alone: no spurious move.
   */
  private row(scenario: string, vipBefore: string, vipAfter: string, w: ReturnType<Drill['window']>, bound: string, ok: boolean, times: { failoverMs?: number; vipMovedMs?: number } = {}, splitAllowedMs = 0, electedAt?: number): ScenarioResult {
    const stable = w.splitBrainMs <= Math.max(splitAllowedMs, this.load ? BOUNDS.splitBrainMs : 0) && (this.load !== undefined || splitAllowedMs > 0 || w.maxHolders <= 1);
    // A failover's election may pass through another healthy peer first (two backups'
    // skews differ by milliseconds, which a loaded machine blurs); from the new holder's
    // first moment alone, nobody else may hold the VIP alone.
    const onlyExpected = [...w.soleHolders(electedAt)].every((h) => h === vipBefore || h === vipAfter);
    return { scenario, vipBefore, vipAfter, failed: w.failed, total: w.total, cut: w.cut, maxHolders: w.maxHolders, splitBrainMs: w.splitBrainMs, bound, ok: ok && stable && onlyExpected, ...times };
  }

  /**
   * Unloaded, not one request may fail where the VIP stays. Loaded, requests fail for
   * the network's sake (a SYN lost twice outlasts the probe's timeout), so what counts
   * is the VIP: it stays put.
   */
  private calm(w: ReturnType<Drill['window']>, before: string, after: string): boolean {
    return after === before && (this.load !== undefined || (w.failed === 0 && w.cut === 0));
  }

  private async steady(): Promise<ScenarioResult> {
    const from = Date.now();
    const before = await this.holder();
    await sleep(this.load ? 6000 : 2000);
    const w = this.window(from, Date.now());
    const after = await this.holder();
    return this.row('steady state', before, after, w, this.load ? 'VIP stays' : 'no failed request, one holder', this.calm(w, before, after));
  }

  /**
   * Waits until the last 10 requests succeeded: the outage is over. Only requests old
   * enough to have timed out count, as a failure is known only then.
   */
  private async settled(since: number, timeoutMs: number): Promise<void> {
    await waitFor(async () => {
      const known = Date.now() - PROBE_TIMEOUT_MS - 200;
      const recent = this.probes.filter((p) => p.start > since && p.start < known).sort((a, b) => a.start - b.start).slice(-10);
      return recent.length === 10 && recent.every((p) => p.by) ? true : undefined;
    }, timeoutMs);
  }

  private async apiserverKilled(): Promise<ScenarioResult> {
    const before = await this.holder();
    // Not the holder's own machine, so the VIP has no reason to move.
    const victim = this.c.servers.find((s) => s.name !== before) ?? this.c.servers[0];
    const from = Date.now();
    await this.killProcess(this.nsOf(victim.name), 'standin-apiserver.js');
    await sleep(3000);
    this.startApiserver(victim.name);
    await sleep(HEALTH_CHECK.interMs * (HEALTH_CHECK.rise + 1));
    const w = this.window(from, Date.now());
    const after = await this.holder();
    return this.row(`apiserver on ${victim.name} killed, restored`, before, after, w,
      this.load ? 'VIP stays' : `<= ${BOUNDS.failedRequestsOnApiserverDeath} failed request, VIP stays`,
      after === before && (this.load !== undefined || w.failed <= BOUNDS.failedRequestsOnApiserverDeath));
  }

  private async killProcess(ns: string, match: string): Promise<void> {
    for (const pid of await this.lab.pids(ns)) {
      let cmdline: string;
      try {
        cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      } catch {
        continue; // exited since it was listed: keepalived's check script lives a few milliseconds
      }
      if (cmdline.includes(match)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // exited in between
        }
      }
    }
  }

  /**
   * A fault on the holder; then the machine returns. Measured twice: until requests
   * succeed again (`failoverMs`; slow answers count, only failures fail) and until the
   * new holder holds the VIP alone (`vipMovedMs`). Loaded, requests fail now and then
   * for the lossy network's sake, not the VIP's.
   */
  private async failover(name: string, boundMs: number, fault: (holder: string) => Promise<void>, recover: (holder: string) => Promise<void>): Promise<ScenarioResult[]> {
    const before = await this.holder();
    const from = Date.now();
    await fault(before);
    if (this.load) await waitFor(async () => (this.lastHolders().length === 1 && this.lastHolders()[0] !== before ? true : undefined), 15_000);
    // Loaded too, so the row counts the requests of the whole outage; a lossy network's
    // stray failures can keep it from settling, and the VIP is what counts there.
    await this.settled(from, 15_000);
    const after = await this.holder();
    const w = this.window(from, Date.now());
    const failoverMs = w.recoveredAt !== undefined ? w.recoveredAt - from : (w.failed > 0 ? Infinity : 0);
    const movedAt = w.soleHolderAt(after);
    const vipMovedMs = movedAt !== undefined ? movedAt - from : undefined;
    const moved = after !== before && !after.startsWith('none');
    // The bounds hold unloaded, for requests and the VIP both; loaded, what counts is
    // that the VIP moves, once, and the figures are printed.
    const failoverOk = moved && (this.load !== undefined || (vipMovedMs !== undefined && vipMovedMs <= boundMs && failoverMs <= boundMs));
    const rows = [this.row(`${name} on holder`, before, after, w, this.load ? 'VIP moves' : `VIP moves, <= ${boundMs} ms`, failoverOk, { failoverMs, ...(vipMovedMs !== undefined ? { vipMovedMs } : {}) }, 0, movedAt)];

    const back = Date.now();
    await recover(before);
    // Long enough for keepalived there to start, pass its two checks (1 s apart) and then
    // either hear the holder or, deaf, claim the VIP after three adverts and a skew.
    await sleep(4500);
    const w2 = this.window(back, Date.now());
    const final = await this.holder();
    // A returning server's apiserver rejoins HAProxy's rotation as it starts, which can
    // cost a request, as a dead one does (the suite's other worker loads the machine).
    const returned = this.load !== undefined || (w2.cut === 0 && w2.failed <= BOUNDS.failedRequestsOnApiserverDeath);
    rows.push(this.row(`${before} returns`, after, final, w2, this.load ? 'VIP stays' : `VIP stays, no connection cut, <= ${BOUNDS.failedRequestsOnApiserverDeath} failed request`, final === after && returned));
    return rows;
  }

  /**
   * The top peer, a backup, hears no advert for DEAF_MS (a stalled machine, a flapping
   * link): it claims the VIP, and must step back as soon as it hears the holder again,
   * though it outranks it. Without the holder's bonus it would keep the VIP.
   */
  private async backupDeaf(): Promise<ScenarioResult> {
    const [top] = this.topology.peers;
    if (await this.holder() === top.name) {
      // The first election can pick the top peer again; the deaf one must outrank the holder.
      this.haproxy.get(top.name)?.kill('SIGKILL');
      await waitFor(async () => (this.lastHolders().length === 1 && this.lastHolders()[0] !== top.name ? true : undefined), 15_000);
      this.startHaproxy(top.name);
      await sleep(3000);
    }
    const before = await this.holder();
    const backup = top;
    const ns = this.nsOf(backup.name);
    const from = Date.now();
    const deaf = path.join(this.logDir, 'deaf.nft');
    fs.writeFileSync(deaf, 'table inet drill_deaf {\n  chain input { type filter hook input priority -10; meta l4proto vrrp drop; }\n}\n');
    await this.lab.exec(ns, 'nft', ['-f', deaf]);
    await sleep(DEAF_MS);
    await this.lab.exec(ns, 'nft', ['delete', 'table', 'inet', 'drill_deaf']);
    await sleep(3000);
    const w = this.window(from, Date.now());
    const after = await this.holder();
    // It holds the VIP too from its claim until it hears the holder: DEAF_MS less three
    // adverts, plus a sample. No claim seen means the scenario tested nothing.
    return this.row(`${backup.name} deaf to adverts ${DEAF_MS} ms`, before, after, w, `it claims the VIP, which stays on ${before}; two holders < ${DEAF_MS} ms`, after === before && w.maxHolders >= 2, {}, DEAF_MS);
  }

  private haproxyKilled(): Promise<ScenarioResult[]> {
    return this.failover('HAProxy killed', BOUNDS.haproxyDeathMs,
      async (holder) => { this.haproxy.get(holder)?.kill('SIGKILL'); },
      async (holder) => { this.startHaproxy(holder); });
  }

  private holderCrashed(): Promise<ScenarioResult[]> {
    return this.failover('crash', BOUNDS.crashMs,
      async (holder) => {
        const ns = this.nsOf(holder);
        // The machine falls off the network first, then everything on it is gone.
        await this.lab.exec(ns, 'ip', ['link', 'set', this.iface, 'down']);
        await this.lab.killAll(ns);
        // The VIP dies with the machine.
        await this.lab.exec(ns, 'ip', ['addr', 'del', `${this.c.endpoint}/32`, 'dev', this.iface]).catch(() => undefined);
      },
      async (holder) => {
        await this.lab.exec(this.nsOf(holder), 'ip', ['link', 'set', this.iface, 'up']);
        if (this.c.servers.some((s) => s.name === holder)) this.startApiserver(holder);
        const peer = this.topology.peers.find((p) => p.name === holder);
        if (peer) this.startLb(peer);
        this.startHog(holder);
      });
  }

  private async allApiserversKilled(): Promise<ScenarioResult> {
    const before = await this.holder();
    const from = Date.now();
    for (const s of this.c.servers) await this.killProcess(this.nsOf(s.name), 'standin-apiserver.js');
    await sleep(3000);
    const restored = Date.now();
    for (const s of this.c.servers) this.startApiserver(s.name);
    await this.settled(restored, 18_000);
    const w = this.window(from, Date.now());
    const after = await this.holder();
    const recoveryMs = w.recoveredAt !== undefined ? w.recoveredAt - restored : undefined;
    const ok = after === before && (this.load !== undefined || (recoveryMs !== undefined && recoveryMs <= BOUNDS.recoveryMs));
    return this.row('every apiserver killed, restored', before, after, w, this.load ? 'VIP stays' : `serves <= ${BOUNDS.recoveryMs} ms after restore, VIP stays`, ok, recoveryMs !== undefined ? { failoverMs: recoveryMs } : {});
  }
}

/** The drill's table, as printed after every run; docs/guides/three-servers.md shows a run of it. */
export function formatTable(title: string, rows: readonly ScenarioResult[]): string {
  const head = ['scenario', 'VIP before', 'VIP after', 'failover ms', 'VIP moved ms', 'failed/total', 'cut', 'holders', 'split brain ms', 'bound', 'result'];
  const body = rows.map((r) => [r.scenario, r.vipBefore, r.vipAfter, r.failoverMs === undefined ? '-' : String(r.failoverMs), r.vipMovedMs === undefined ? '-' : String(r.vipMovedMs),
    `${r.failed}/${r.total}`, String(r.cut), String(r.maxHolders), String(r.splitBrainMs), r.bound, r.ok ? 'ok' : 'BROKEN']);
  return [`${title}`, `| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`, ...body.map((b) => `| ${b.join(' | ')} |`)].join('\n');
}

/** Reads a write_files entry's mode ("0644") as a number. */
const mode = (permissions: string) => parseInt(permissions, 8);

/** The LB peers of a compiled tree, with the files each machine or pod gets. */
export function drillTopology(c: ResolvedCluster, tree: ReadonlyMap<string, string>): DrillTopology {
  if (c.loadBalancer.mode === 'external') {
    const peers = c.loadBalancer.hosts.map((h) => {
      const userData = parse(tree.get(`lb/${h.name}/user-data.yaml`) as string) as { write_files: { path: string; content: string; permissions: string }[] };
      const at = (p: string) => userData.write_files.find((f) => f.path === p) as { content: string; permissions: string };
      const dir = new Map(userData.write_files.filter((f) => path.dirname(f.path) === '/etc/keepalived')
        .map((f) => [path.basename(f.path), { content: f.content, mode: mode(f.permissions) }]));
      return { name: h.name, address: h.address, keepalivedConf: '/etc/keepalived/keepalived.conf', keepalivedDir: dir, layout: 'files' as const, haproxyCfg: at('/etc/haproxy/haproxy.cfg').content };
    });
    return { cluster: c, peers };
  }
  // The files as the kubelet projects them: each key at its item's path, with its mode.
  const dir = configMapVolumeFiles(tree.get('manifests/load-balancer.k8s.yaml') as string, LB_NAMES.daemonSet);
  const haproxyCfg = dir.get('haproxy.cfg')?.content;
  if (haproxyCfg === undefined) throw new Error('the load balancer volume has no haproxy.cfg');
  const peers = c.servers.map((s) => ({ name: s.name, address: s.address, keepalivedConf: `/etc/keepalived/keepalived-${s.name}.conf`, keepalivedDir: dir, layout: 'kubelet' as const, haproxyCfg }));
  return { cluster: c, peers };
}
