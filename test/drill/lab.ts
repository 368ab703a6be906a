import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { isAlive } from '../../src/compile';

const run = promisify(execFile);

/** Every namespace a lab makes is named `k3gd-<pid>-<host>`, so a dead run's are found by pid. */
const PREFIX = 'k3gd-';
const SWITCH = 'sw';
const BRIDGE = 'br0';

/** Runs a command with a timeout; rejects with its stderr. */
export async function sh(cmd: string, args: readonly string[], timeoutMs = 10_000): Promise<string> {
  const { stdout } = await run(cmd, args, { timeout: timeoutMs });
  return stdout;
}

async function listNamespaces(): Promise<string[]> {
  const out = await sh('ip', ['netns', 'list']);
  return out.split('\n').map((l) => l.split(' ')[0]).filter((n) => n.startsWith(PREFIX));
}

/** Kills every process inside a namespace, then deletes it. */
async function destroyNamespace(ns: string): Promise<void> {
  const pids = (await sh('ip', ['netns', 'pids', ns]).catch(() => '')).split('\n').map(Number).filter((p) => p > 0);
  for (const pid of pids) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
}

/**
 * A private L2 segment of network namespaces: one "switch" namespace holds a bridge,
 * and every host is a namespace with one veth on it. No namespace has a default route
 * or any link to the machine's own network, so traffic never leaves the lab.
 *
 * The lab owns what it makes: namespaces by name, processes by pid, and its log
 * folder. `close()` removes the namespaces and processes (the caller reads the logs,
 * then removes the folder); a watchdog process removes all three if this process dies
 * without closing (SIGKILL, an interrupted or crashed test run), and the next lab
 * removes any namespace a dead run left.
 */
export class NetnsLab {
  readonly id = `${PREFIX}${process.pid}-`;
  readonly logDir: string;
  private readonly namespaces: string[] = [];
  private readonly processes = new Set<ChildProcess>();
  private watchdog?: ChildProcess;
  private ports = 0;

  constructor(logDir: string) {
    this.logDir = logDir;
  }

  /** Creates the switch, after clearing what dead runs left behind. */
  async open(): Promise<void> {
    for (const ns of await listNamespaces()) {
      const pid = Number(ns.slice(PREFIX.length).split('-')[0]);
      if (pid !== process.pid && !isAlive(pid)) await destroyNamespace(ns);
    }
    const script = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done
for ns in $(ip netns list | awk '{print $1}' | grep '^${this.id}'); do
  for p in $(ip netns pids "$ns"); do kill -9 "$p"; done
  ip netns del "$ns"
done
rm -rf -- "$1"`;
    this.watchdog = spawn('sh', ['-c', script, 'lab-watchdog', this.logDir], { detached: true, stdio: 'ignore' });
    this.watchdog.unref();
    const sw = await this.namespace(SWITCH);
    await sh('ip', ['-n', sw, 'link', 'add', BRIDGE, 'type', 'bridge']);
    await sh('ip', ['-n', sw, 'link', 'set', BRIDGE, 'up']);
  }

  private async namespace(name: string): Promise<string> {
    const ns = `${this.id}${name}`;
    await sh('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** A host on the segment: a namespace whose `iface` has the given addresses (CIDR form). */
  async addHost(name: string, iface: string, cidrs: readonly string[]): Promise<string> {
    const ns = await this.namespace(name);
    const sw = `${this.id}${SWITCH}`;
    const port = `p${this.ports++}`;
    await sh('ip', ['-n', sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', iface, 'netns', ns]);
    await sh('ip', ['-n', sw, 'link', 'set', port, 'master', BRIDGE, 'up']);
    for (const cidr of cidrs) await sh('ip', ['-n', ns, 'addr', 'add', cidr, 'dev', iface]);
    await sh('ip', ['-n', ns, 'link', 'set', iface, 'up']);
    return ns;
  }

  /**
   * Starts a long-running process inside a namespace (`ip netns exec` execs it, so the
   * child's pid is the process's own). Output goes to `<logDir>/<log>.log`.
   */
  spawn(ns: string, log: string, cmd: string, args: readonly string[]): ChildProcess {
    const file = path.join(this.logDir, `${log}.log`);
    const out = fs.openSync(file, 'a');
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    return this.track(child, file);
  }

  /** Keeps the child for close(), and notes in its log how it ended. */
  private track(child: ChildProcess, log: string): ChildProcess {
    this.processes.add(child);
    child.on('exit', (code, signal) => {
      this.processes.delete(child);
      // The log's folder may be gone already: test/setup.ts removes it after the file's tests.
      try { fs.appendFileSync(log, `[drill] pid ${child.pid} exited: code ${code} signal ${signal}\n`); } catch { /* gone */ }
    });
    return child;
  }

  /** Starts a process whose stdout the caller reads (stderr goes to the log). */
  spawnPiped(ns: string, log: string, cmd: string, args: readonly string[]): ChildProcess {
    const file = path.join(this.logDir, `${log}.log`);
    const err = fs.openSync(file, 'a');
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', err] });
    fs.closeSync(err);
    return this.track(child, file);
  }

  /** Runs a short command inside a namespace. */
  exec(ns: string, cmd: string, args: readonly string[]): Promise<string> {
    return sh('ip', ['netns', 'exec', ns, cmd, ...args]);
  }

  /** The pids of every process inside a namespace. */
  async pids(ns: string): Promise<number[]> {
    return (await sh('ip', ['netns', 'pids', ns])).split('\n').map(Number).filter((p) => p > 0);
  }

  /**
   * SIGKILLs every process in a namespace, as a machine crash does, until none is
   * left: keepalived's parent respawns a child killed before it, and that orphan would
   * go on sending adverts. At most 20 rounds.
   */
  async killAll(ns: string): Promise<void> {
    for (let round = 0; round < 20; round++) {
      const pids = await this.pids(ns);
      if (pids.length === 0) return;
      for (const pid of pids) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
      }
      await sleep(20);
    }
    throw new Error(`processes in ${ns} survive SIGKILL`);
  }

  /** Stops every process and removes every namespace this lab made. Safe to call twice. */
  async close(): Promise<void> {
    for (const child of this.processes) child.kill('SIGKILL');
    for (const ns of this.namespaces.splice(0).reverse()) await destroyNamespace(ns);
    this.watchdog?.kill('SIGKILL');
  }
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `probe` every `everyMs` until it returns a value, at most `timeoutMs`; undefined on timeout. */
export async function waitFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number, everyMs = 100): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(everyMs);
  }
  return undefined;
}
