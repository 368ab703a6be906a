/**
 * The etcd lab: a cluster's servers' etcd as K3s runs it embedded, for the day-2 gate
 * and restart lock to run against.
 *
 * What it builds: one network namespace per server at the server's own address from
 * the cluster file (on the NetnsLab bridge: no route out), each running Debian's etcd
 * with K3s's layout and settings (k3s-io/k3s pkg/etcd/etcd.go cluster(),
 * listenClientHTTPURLs; pkg/daemons/control/deps/deps.go for the files): member name
 * `<node>-<8 hex>`; TLS with client-certificate auth on client and peer URLs, the files
 * at `<root>/var/lib/rancher/k3s/server/tls/etcd/` (server-ca.crt, peer-ca.crt,
 * server-client.crt, peer-server-client.crt, client.crt and their keys); peers on
 * https://<address>:2380; the client URL https://<address>:2379 and https://127.0.0.1:2379
 * serving gRPC only; an HTTP listener on https://127.0.0.1:2382 alone; metrics on
 * http://127.0.0.1:2381; heartbeat 500 ms and election timeout 5 s.
 *
 * How it differs from K3s's etcd:
 * - Debian's etcd and etcdctl are 3.4; K3s embeds 3.5 or later, and the job's image
 *   carries etcdctl 3.5. The v3 gRPC API the gate and lock use (MemberList, Range,
 *   LeaseGrant/KeepAlive, Txn, Watch) is the same.
 * - etcd 3.4 has no `--listen-client-http-urls`: it listens on <address>:12379 and
 *   127.0.0.1:2382 (HTTP and gRPC on both), and grpc-only-proxy.js stands on :2379,
 *   passing only TLS connections whose ALPN offers h2 alone, as gRPC clients do (see
 *   its top for what it lets through that K3s would not). So 2382 also answers gRPC here.
 * - One client certificate for every member (K3s too shares the cluster's CA and
 *   client certificate across servers, but each server's serving certificates are its own
 *   here as there).
 * - A "K3s restart" is the stand-in systemctl killing and restarting the member's etcd;
 *   no apiserver, kubelet or supervisor runs.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { NetnsLab, sh, sleep } from './lab';

/** K3s's etcd files on a server, below its data dir (pkg/daemons/control/deps/deps.go). */
export const ETCD_TLS = '/var/lib/rancher/k3s/server/tls/etcd';
/** Where the lab's etcd 3.4 really listens for clients, behind the gRPC-only proxy on 2379. */
const HIDDEN_CLIENT_PORT = 12379;

export interface EtcdMember {
  /** The node's name, and the member's as K3s names it (`<node>-<8 hex>`). */
  readonly node: string;
  readonly name: string;
  readonly address: string;
  readonly ns: string;
  /** The server's root: certificates at `<root>${ETCD_TLS}`, config.yaml at `<root>/etc/rancher/k3s/`. */
  readonly root: string;
  /** Starts (or restarts) this member's etcd; its pid goes to `<dir>/etcd.pid`. */
  readonly startScript: string;
  readonly dir: string;
  readonly clientUrl: string;
}

function openssl(cwd: string, ...args: string[]): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** An EC P-256 key and certificate signed by `ca`, with the given extensions, as K3s makes them. */
function issue(dir: string, name: string, subject: string, ca: string, ext: string): void {
  fs.writeFileSync(path.join(dir, `${name}.ext`), ext);
  openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
  openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', '1', '-extfile', `${name}.ext`);
  fs.rmSync(path.join(dir, `${name}.csr`));
  fs.rmSync(path.join(dir, `${name}.ext`));
}

export class EtcdLab {
  readonly members: EtcdMember[] = [];
  private readonly pki: string;

  constructor(private readonly lab: NetnsLab, private readonly dir: string, private readonly servers: readonly { name: string; address: string }[], private readonly iface = 'eth0') {
    this.pki = path.join(dir, 'pki');
  }

  /** Makes the certificates and namespaces, starts every member and its proxy, waits until all are healthy (30 s at most). */
  async start(): Promise<void> {
    fs.mkdirSync(this.pki, { recursive: true });
    for (const ca of ['server-ca', 'peer-ca']) {
      openssl(this.pki, 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${ca}.key`, '-out', `${ca}.crt`, '-days', '1', '-subj', `/CN=etcd-${ca}`);
    }
    issue(this.pki, 'client', '/CN=etcd-client', 'server-ca', 'extendedKeyUsage=clientAuth\n');
    const cluster = this.servers.map((s, i) => `${s.name}-${memberSuffix(i)}=https://${s.address}:2380`).join(',');
    for (const [i, s] of this.servers.entries()) {
      const dir = path.join(this.dir, s.name);
      const root = path.join(dir, 'root');
      const tls = path.join(root, ETCD_TLS);
      fs.mkdirSync(tls, { recursive: true });
      fs.mkdirSync(path.join(root, 'etc/rancher/k3s'), { recursive: true });
      for (const f of ['server-ca.crt', 'peer-ca.crt', 'client.crt', 'client.key']) fs.copyFileSync(path.join(this.pki, f), path.join(tls, f));
      for (const f of ['server-ca.crt', 'server-ca.key', 'peer-ca.crt', 'peer-ca.key']) fs.copyFileSync(path.join(this.pki, f), path.join(tls, `.${f}`));
      issue(tls, 'server-client', `/CN=etcd-server-${s.name}`, '.server-ca', `subjectAltName=IP:${s.address},IP:127.0.0.1,DNS:localhost,DNS:${s.name}\nextendedKeyUsage=serverAuth,clientAuth\n`);
      issue(tls, 'peer-server-client', `/CN=etcd-peer-${s.name}`, '.peer-ca', `subjectAltName=IP:${s.address},IP:127.0.0.1,DNS:localhost,DNS:${s.name}\nextendedKeyUsage=serverAuth,clientAuth\n`);
      for (const f of fs.readdirSync(tls).filter((f) => f.startsWith('.'))) fs.rmSync(path.join(tls, f));
      const ns = await this.lab.addHost(s.name, this.iface, [`${s.address}/24`]);
      const name = `${s.name}-${memberSuffix(i)}`;
      const startScript = path.join(dir, 'start-etcd.sh');
      const args = [
        '--name', name, '--data-dir', path.join(root, 'var/lib/rancher/k3s/server/db/etcd'),
        '--listen-client-urls', `https://${s.address}:${HIDDEN_CLIENT_PORT},https://127.0.0.1:2382`,
        '--advertise-client-urls', `https://${s.address}:2379`,
        '--listen-peer-urls', `https://${s.address}:2380`, '--initial-advertise-peer-urls', `https://${s.address}:2380`,
        '--initial-cluster', cluster, '--initial-cluster-state', 'new',
        '--listen-metrics-urls', 'http://127.0.0.1:2381',
        '--heartbeat-interval', '500', '--election-timeout', '5000',
        '--client-cert-auth', '--trusted-ca-file', `${tls}/server-ca.crt`, '--cert-file', `${tls}/server-client.crt`, '--key-file', `${tls}/server-client.key`,
        '--peer-client-cert-auth', '--peer-trusted-ca-file', `${tls}/peer-ca.crt`, '--peer-cert-file', `${tls}/peer-server-client.crt`, '--peer-key-file', `${tls}/peer-server-client.key`,
      ];
      fs.writeFileSync(startScript, `#!/bin/sh\necho $$ > "${dir}/etcd.pid"\nexec etcd ${args.map((a) => `'${a}'`).join(' ')} >> "${dir}/etcd.log" 2>&1\n`, { mode: 0o755 });
      const member: EtcdMember = { node: s.name, name, address: s.address, ns, root, startScript, dir, clientUrl: `https://${s.address}:2379` };
      this.members.push(member);
      this.lab.spawn(ns, `${s.name}-proxy`, process.execPath, [path.join(__dirname, 'grpc-only-proxy.js'), `${s.address}:${HIDDEN_CLIENT_PORT}`, `${s.address}:2379`, '127.0.0.1:2379']);
      this.lab.spawn(ns, `${s.name}-etcd-start`, 'sh', [startScript]);
    }
    await this.waitHealthy(this.members, 30_000);
  }

  /**
   * etcdctl inside a member's namespace with K3s's client certificate: its stdout and
   * stderr together (etcdctl 3.4 prints `endpoint health` results on stderr), and
   * whether it exited 0.
   */
  etcdctl(m: EtcdMember, args: readonly string[], timeoutMs = 15_000): Promise<{ ok: boolean; out: string }> {
    const tls = path.join(m.root, ETCD_TLS);
    return new Promise((resolve) => {
      execFile('ip', ['netns', 'exec', m.ns, 'etcdctl', '--dial-timeout=2s', `--cacert=${tls}/server-ca.crt`, `--cert=${tls}/client.crt`, `--key=${tls}/client.key`, ...args], { timeout: timeoutMs }, (err, stdout, stderr) => resolve({ ok: !err, out: `${stdout}${stderr}` }));
    });
  }

  /** Waits until every one of `which` answers healthy (polls 4 times a second). */
  async waitHealthy(which: readonly EtcdMember[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      last = (await this.etcdctl(which[0], ['--endpoints', which.map((m) => m.clientUrl).join(','), 'endpoint', 'health'], 10_000)).out;
      if (which.every((m) => last.includes(`${m.clientUrl} is healthy`))) return;
      await sleep(250);
    }
    throw new Error(`etcd members ${which.map((m) => m.node).join(', ')} not healthy within ${timeoutMs} ms:\n${last}`);
  }

  /** SIGKILLs a member's etcd, as a crashed K3s leaves it. */
  stopMember(m: EtcdMember): void {
    const pid = Number(fs.readFileSync(path.join(m.dir, 'etcd.pid'), 'utf8'));
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }

  /** Starts a stopped member's etcd again on its data. */
  startMember(m: EtcdMember): ChildProcess {
    return this.lab.spawn(m.ns, `${m.node}-etcd-start`, 'sh', [m.startScript]);
  }

  /** Takes a member's link down (up with `up`): the member runs, and nobody reaches it. */
  async link(m: EtcdMember, state: 'up' | 'down'): Promise<void> {
    await sh('ip', ['-n', m.ns, 'link', 'set', this.iface, state]);
  }

  /** Makes `m` the leader (etcdctl move-leader finds the current one among all members). */
  async moveLeader(m: EtcdMember): Promise<void> {
    const id = (await this.memberList(m)).split('\n').find((l) => l.split(', ')[2] === m.name)?.split(', ')[0];
    const moved = await this.etcdctl(m, ['--endpoints', this.members.map((x) => x.clientUrl).join(','), 'move-leader', id ?? 'unknown']);
    if (!moved.ok && !moved.out.includes('already leader')) throw new Error(`move-leader to ${m.name}: ${moved.out}`);
  }

  /** The member list as etcdctl prints it (`-w simple`), asked through `via`. */
  async memberList(via: EtcdMember): Promise<string> {
    return (await this.etcdctl(via, ['--endpoints', via.clientUrl, 'member', 'list', '-w', 'simple'])).out;
  }

  /**
   * Runs a job script inside a member's namespace as its own process group (so a test
   * can SIGKILL the whole job, as the kubelet kills a pod), with a hard timeout.
   */
  runJob(m: EtcdMember, script: string, env: NodeJS.ProcessEnv, timeoutMs: number): Job {
    const child = spawn('ip', ['netns', 'exec', m.ns, 'sh', script], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const job: Job = { child, stdout: '', stderr: '', lines: [], done: undefined as unknown as Promise<number | null> };
    const stamp = (text: string) => { for (const line of text.split('\n').filter(Boolean)) job.lines.push({ at: Date.now(), line }); };
    child.stdout?.on('data', (d) => { job.stdout += d; stamp(String(d)); });
    child.stderr?.on('data', (d) => { job.stderr += d; stamp(String(d)); });
    const timer = setTimeout(() => killGroup(child), timeoutMs);
    job.done = new Promise((resolve) => child.on('exit', (code, signal) => { clearTimeout(timer); resolve(code ?? (signal ? -1 : null)); }));
    return job;
  }
}

/** A job running in the lab: its output, each line stamped with when it came. */
export interface Job {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly lines: { at: number; line: string }[];
  done: Promise<number | null>;
}

/** SIGKILLs a detached child's whole process group. */
export function killGroup(child: ChildProcess): void {
  try { process.kill(-(child.pid as number), 'SIGKILL'); } catch { /* already gone */ }
}

/** A stable member-name suffix, as K3s's 8 hex digits of a UUID. */
const memberSuffix = (i: number) => (0x0a1b2c3d + i).toString(16).padStart(8, '0');
