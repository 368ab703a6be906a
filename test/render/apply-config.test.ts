import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { APPLY_CONFIG_SCRIPT } from '../../src/render/apply-config-script';
import { goodFixtures, hasCommand, loadCluster, tempDir, treeOf } from '../helpers';
import { shellcheckFailures } from '../tools';

/**
 * The apply script run for real against stand-ins for the host's systemctl, k3s, curl
 * and etcdctl (first on PATH). Its gate and lock against etcd served as K3s serves it
 * are the etcd lab's (test/drill/etcd-gate.drill.ts).
 */
const OLD = '# generated\nnode-name: master-2\ncluster-cidr: 10.42.0.0/16\n';
const NEW = '# generated\nnode-name: master-2\ncluster-cidr: 10.42.0.0/16\nnode-label:\n- tier=app\n';
/** A config the stand-in K3s will not come up healthy with. */
const BROKEN = `${NEW}kubelet-arg: [BROKEN]\n`;

const STANDINS: Record<string, string> = {
  // Records each call; a restart makes the written config the running one, after RESTART_SECONDS.
  systemctl: `#!/bin/sh
echo "$*" | sed 's/ --no-block//' >> "$STATE/systemctl.log"
if [ "$1" = restart ]; then
  sleep "\${RESTART_SECONDS:-0}"
  cp "$HOST_ROOT/etc/rancher/k3s/config.yaml" "$STATE/running.yaml"
  cp "$HOST_ROOT/etc/rancher/k3s/registries.yaml" "$STATE/running-registries.yaml" 2>/dev/null || rm -f "$STATE/running-registries.yaml"
  # A unit that fails to start, as a blocking restart would report it.
  if grep -q FAILS_TO_START "$STATE/running.yaml"; then exit 1; fi
fi
exit 0
`,
  // k3s-upgrade's upgrade.sh: records the call; K3S_UPGRADE_BREAKS makes the new K3s unhealthy.
  'upgrade-k3s': `#!/bin/sh
echo "$*" >> "$STATE/upgrade.log"
if [ -n "\${K3S_UPGRADE_BREAKS:-}" ]; then echo BROKEN >> "$STATE/running.yaml"; fi
`,
  // Healthy unless the running config is the broken one.
  k3s: `#!/bin/sh
healthy() { [ -f "$STATE/running.yaml" ] && ! grep -q BROKEN "$STATE/running.yaml" && ! grep -qs BROKEN "$STATE/running-registries.yaml"; }
case "$*" in
  *"get --raw /readyz"*) healthy && echo ok || echo 'readyz check failed' ;;
  *"get node"*) healthy && printf True || printf False ;;
  *"label node"*) echo "$*" >> "$STATE/labels.log" ;;
  *"get cronjob"*) printf '%s' "\${CRONJOB_LAST:-}" ;;
  *"get etcdsnapshotfiles"*) printf '%s' "\${S3_FILES:-}" ;;
  *"etcd-snapshot save"*) echo "$*" >> "$STATE/snapshots.log" ;;
esac
`,
};
/** K3s's /ping for every address but $DOWN. */
const STUB_CURL = `#!/bin/sh
for a; do last=$a; done
case "$last" in
  "\${DOWN:-none}"/*) exit 7 ;;
  */ping) printf pong ;;
esac
`;
/**
 * etcdctl as the script calls it: \`member list\` answers $MEMBER_LIST through any
 * endpoint but $DOWN, \`endpoint health\` says each endpoint but $DOWN is healthy, in
 * etcdctl's words, and \`lock\` prints its key and holds it until SIGTERM (60 s at most),
 * the key a \`get\` then finds.
 * The lock's behaviour against a real etcd is the etcd lab's to show (test/drill/etcd-gate.drill.ts).
 */
const STUB_ETCDCTL = `#!/bin/sh
endpoints=""
for a; do case "$a" in --endpoints=*) endpoints=\${a#--endpoints=} ;; esac; done
case "$*" in
  *"member list"*)
    case ",$endpoints," in *",\${DOWN:-none},"*) echo "Error: context deadline exceeded" >&2; exit 1 ;; esac
    printf '%s\\n' "$MEMBER_LIST" ;;
  *"endpoint health"*)
    rc=0
    for e in $(echo "$endpoints" | tr , ' '); do
      if [ "$e" = "\${DOWN:-none}" ]; then echo "$e is unhealthy: failed to commit proposal: context deadline exceeded" >&2; rc=1
      else echo "$e is healthy: successfully committed proposal: took = 1.2ms"; fi
    done
    exit $rc ;;
  *"get --keys-only k3s-gitops/server-restart/694d7a1c2b3e4f5a"*)
    echo "k3s-gitops/server-restart/694d7a1c2b3e4f5a" ;;
  *" lock "*)
    echo "lock $endpoints" >> "$STATE/lock.log"
    echo "k3s-gitops/server-restart/694d7a1c2b3e4f5a"
    trap 'echo unlock >> "$STATE/lock.log"; exit 0' TERM
    i=0
    while [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done ;;
esac
`;
/** etcdctl's \`member list -w simple\`: started members by client URL, then any added and never started. */
const memberList = (clients: string[], unstarted: string[] = []) => [
  ...clients.map((url, i) => `${(0x8e9e05c52164694dn + BigInt(i)).toString(16)}, started, master-${i + 1}-0a1b2c3d, ${url.replace('2379', '2380')}, ${url}, false`),
  ...unstarted.map((url, i) => `${(0x1f2e3d4c5b6a7980n + BigInt(i)).toString(16)}, unstarted, , ${url}, , true`),
].join('\n');
const THREE = ['https://10.0.0.11:2379', 'https://10.0.0.12:2379', 'https://10.0.0.13:2379'];

interface Run { status: number | null; stdout: string; stderr: string; state: string; root: string }

interface ApplyOptions {
  role?: 'server' | 'agent'; before?: string; after: string; env?: Record<string, string>; down?: string;
  /** The committed registries.yaml in the Secret, what the node has, and files on the host (credentials). */
  registries?: string; registriesBefore?: string; hostFiles?: Record<string, string>;
}

/** Lays out a job: the host's root, the Secret's files, the stand-ins first on PATH. */
function prepareJob(opts: ApplyOptions) {
  const dir = tempDir('apply-');
  const root = path.join(dir, 'host');
  const state = path.join(dir, 'state');
  const bin = path.join(dir, 'bin');
  const configs = path.join(dir, 'configs');
  for (const d of [path.join(root, 'etc/rancher/k3s'), state, bin, configs]) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(root, 'etc/rancher/k3s/config.yaml'), opts.before ?? OLD, { mode: 0o600 });
  fs.copyFileSync(path.join(root, 'etc/rancher/k3s/config.yaml'), path.join(state, 'running.yaml'));
  fs.writeFileSync(path.join(configs, 'master-2.yaml'), opts.after);
  if (opts.registries !== undefined) fs.writeFileSync(path.join(configs, '_registries.yaml'), opts.registries);
  if (opts.registriesBefore !== undefined) fs.writeFileSync(path.join(root, 'etc/rancher/k3s/registries.yaml'), opts.registriesBefore, { mode: 0o600 });
  for (const [file, text] of Object.entries(opts.hostFiles ?? {})) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), text, { mode: 0o600 });
  }
  for (const [name, text] of Object.entries({ ...STANDINS, curl: STUB_CURL, etcdctl: STUB_ETCDCTL })) fs.writeFileSync(path.join(bin, name), text, { mode: 0o755 });
  const script = path.join(dir, 'apply-config.sh');
  fs.writeFileSync(script, APPLY_CONFIG_SCRIPT, { mode: 0o755 });
  const env = {
    PATH: `${bin}:${process.env.PATH}`, TMPDIR: dir, STATE: state, HOST_ROOT: root, HOST_EXEC: '', ETCDCTL: 'etcdctl', NODE_NAME: 'master-2', ROLE: opts.role ?? 'server', CONFIGS_DIR: configs,
    MEMBER_LIST: memberList(THREE), HEALTH_TIMEOUT: '2', POLL_SECONDS: '0.2', ...(opts.down ? { DOWN: opts.down } : {}), ...opts.env,
  };
  return { dir, script, env, state, root };
}

/**
 * busybox's applets alone, as the job's images have them (busybox:1.36 for config
 * changes, Alpine's busybox in rancher/k3s-upgrade for K3s upgrades).
 */
let busyboxBin: string | undefined;
function busyboxPath(): string {
  if (!busyboxBin) {
    busyboxBin = tempDir('busybox-');
    expect(spawnSync('busybox', ['--install', '-s', busyboxBin]).status).toBe(0);
  }
  return busyboxBin;
}

function applyConfig(opts: ApplyOptions & { busybox?: boolean }): Run {
  const job = prepareJob(opts);
  const [shell, env] = opts.busybox ? ['busybox', { ...job.env, PATH: `${path.dirname(job.script)}/bin:${busyboxPath()}` }] : ['sh', job.env];
  const r = spawnSync(shell, [...(opts.busybox ? ['sh'] : []), job.script], { encoding: 'utf8', timeout: 60_000, env });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, state: job.state, root: job.root };
}

/** Runs the job and sends it SIGTERM once it has written the new config (within 20 s), and with `again` a second one 100 ms later. */
function applyConfigInterrupted(opts: ApplyOptions, again = false): Promise<Run> {
  const job = prepareJob(opts);
  return new Promise((resolve, reject) => {
    const child = spawn('sh', [job.script], { env: job.env });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`the job did not write within 20 s:\n${stdout}${stderr}`)); }, 20_000);
    let signalled = false;
    child.stdout.on('data', (d) => {
      stdout += d;
      // Once, as the kubelet does at a job's deadline.
      if (!signalled && stdout.includes('restarting k3s')) {
        signalled = true;
        setTimeout(() => child.kill('SIGTERM'), 500);
        if (again) setTimeout(() => child.kill('SIGTERM'), 600);
      }
    });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('exit', (code, signal) => { clearTimeout(timer); resolve({ status: code ?? (signal ? 128 : null), stdout, stderr, state: job.state, root: job.root }); });
  });
}
const read = (f: string) => (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '');
const config = (r: Run) => read(path.join(r.root, 'etc/rancher/k3s/config.yaml'));
const restarts = (r: Run) => read(path.join(r.state, 'systemctl.log')).split('\n').filter(Boolean);

describe('the day-2 apply script', () => {
  test('passes shellcheck', async () => {
    expect(await shellcheckFailures(new Map([['apply-config.sh', APPLY_CONFIG_SCRIPT]]))).toEqual([]);
  });

  test('unchanged config: exit 0, no restart, the node labelled with the hash of the file it runs', () => {
    const r = applyConfig({ after: OLD });
    expect(r.status).toBe(0);
    expect(restarts(r)).toEqual([]);
    const hash = createHash('sha256').update(OLD).digest('hex').slice(0, 16);
    expect(read(path.join(r.state, 'labels.log'))).toContain(`label node master-2 k3s-gitops.io/config-hash=${hash} --overwrite`);
  });

  test('changed config: written atomically 0600 keeping the previous one, k3s restarted once, healthy, labelled', () => {
    const r = applyConfig({ after: NEW });
    expect(r.status).toBe(0);
    expect(config(r)).toBe(NEW);
    expect(fs.statSync(path.join(r.root, 'etc/rancher/k3s/config.yaml')).mode & 0o777).toBe(0o600);
    expect(read(path.join(r.root, 'etc/rancher/k3s/config.yaml.k3s-gitops-previous'))).toBe(OLD);
    expect(fs.existsSync(path.join(r.root, 'etc/rancher/k3s/config.yaml.k3s-gitops-new'))).toBe(false);
    expect(restarts(r)).toEqual(['restart k3s']);
    expect(read(path.join(r.state, 'labels.log'))).toContain(createHash('sha256').update(NEW).digest('hex').slice(0, 16));
  });

  test('fails: a config that never becomes healthy is rolled back, K3s restarted on it, and the job fails saying so', () => {
    const r = applyConfig({ after: BROKEN });
    expect(r.status).toBe(1);
    expect(config(r)).toBe(OLD);
    expect(restarts(r)).toEqual(['restart k3s', 'restart k3s']);
    expect(read(path.join(r.state, 'running.yaml'))).toBe(OLD);
    expect(r.stderr).toContain('did not become healthy within 2s; rolled back');
    expect(read(path.join(r.state, 'labels.log'))).toBe('');
  });

  test('fails: a server halts before touching anything when an etcd member is not healthy', () => {
    const r = applyConfig({ after: NEW, down: 'https://10.0.0.13:2379' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('etcd member(s) not healthy: master-3-0a1b2c3d (https://10.0.0.13:2379); restarting master-2 now could lose quorum. Nothing was changed');
    expect(config(r)).toBe(OLD);
    expect(restarts(r)).toEqual([]);
  });

  test('fails: a node is not moved to a new server URL that does not answer /ping yet, and nothing changes', () => {
    const before = `${OLD}server: https://192.168.56.10:6443\n`;
    const after = `${NEW}server: https://192.168.56.100:6443\n`;
    const r = applyConfig({ role: 'agent', before, after, down: 'https://192.168.56.100:6443' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('the new server URL https://192.168.56.100:6443 does not answer /ping yet; nothing was changed');
    expect(config(r)).toBe(before);
    expect(restarts(r)).toEqual([]);
    const once = applyConfig({ role: 'agent', before, after });
    expect(once.status).toBe(0);
    expect(once.stdout).toContain('the new server URL https://192.168.56.100:6443 answers');
    expect(config(once)).toBe(after);
  });

  test('the gate checks the members etcd lists: a server in the spec but not booted yet does not block', () => {
    const r = applyConfig({ after: NEW, down: 'https://10.0.0.13:2379', env: { MEMBER_LIST: memberList(THREE.slice(0, 2)) } });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('every etcd member is healthy: master-1-0a1b2c3d master-2-0a1b2c3d');
  });

  test('fails: a member added but never started counts against quorum, and halts the server', () => {
    const r = applyConfig({ after: NEW, env: { MEMBER_LIST: memberList(THREE.slice(0, 2), ['https://10.0.0.13:2380']) } });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('etcd member(s) not healthy: https://10.0.0.13:2380 (added, never started)');
    expect(restarts(r)).toEqual([]);
  });

  test('fails: an etcd error answer is no member list, not a member that never started', () => {
    const r = applyConfig({ after: NEW, env: { MEMBER_LIST: '{"level":"warn","msg":"retrying of unary invoker failed","error":"etcdserver: request timed out"}' } });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('did not list the members ({"level":"warn"');
    expect(config(r)).toBe(OLD);
  });

  test('fails: no member list from the local etcd member: nothing changes', () => {
    const r = applyConfig({ after: NEW, down: 'https://127.0.0.1:2379' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('the local etcd member at https://127.0.0.1:2379 did not list the members (Error: context deadline exceeded); nothing was changed');
    expect(config(r)).toBe(OLD);
  });

  test('fails: K3s that fails to start on the new config is rolled back even though its restart reported failure', () => {
    const r = applyConfig({ after: `${NEW}# FAILS_TO_START BROKEN\n` });
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('systemctl restart k3s failed; waiting for health all the same');
    expect(r.stderr).toContain('rolled back to the previous one');
    expect(config(r)).toBe(OLD);
  });

  test('fails: a job killed after writing, retried: the committed config is in place but unhealthy, so the earlier one goes back', () => {
    const r = applyConfig({ before: BROKEN, after: BROKEN, hostFiles: { '/etc/rancher/k3s/config.yaml.k3s-gitops-previous': OLD } });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('the committed config.yaml is in place but master-2 is not healthy; rolled back to the one before');
    expect(config(r)).toBe(OLD);
    expect(restarts(r)).toEqual(['restart k3s']);
    expect(read(path.join(r.state, 'labels.log'))).toBe('');
  });

  test('agents restart k3s-agent, with no etcd gate and no restart lock', () => {
    const r = applyConfig({ role: 'agent', after: NEW, down: 'https://10.0.0.13:2379' });
    expect(r.status).toBe(0);
    expect(restarts(r)).toEqual(['restart k3s-agent']);
    expect(read(path.join(r.state, 'lock.log'))).toBe('');
  });

  test('a server restarts holding the restart lock, taken through every member and released once healthy', () => {
    const r = applyConfig({ after: NEW });
    expect(r.status).toBe(0);
    expect(read(path.join(r.state, 'lock.log'))).toBe('lock https://10.0.0.11:2379,https://10.0.0.12:2379,https://10.0.0.13:2379\nunlock\n');
    expect(r.stdout).toMatch(/holds the cluster-wide restart lock[^]*every etcd member is healthy[^]*restarting k3s/);
  });

  test('fails: a config that failed on a node is not applied there again until a commit changes it, and says which', () => {
    const first = applyConfig({ after: BROKEN });
    expect(first.status).toBe(1);
    const mark = read(path.join(first.root, 'etc/rancher/k3s/config.yaml.k3s-gitops-failed'));
    const hash = createHash('sha256').update(BROKEN).digest('hex').slice(0, 16);
    expect(mark).toMatch(new RegExp(`^config.yaml ${hash} registries.yaml none failed at \\d{4}-\\d\\d-\\d\\dT`));
    // The retry, on the same node: fails at once, no restart, no lock.
    const retry = applyConfig({ after: BROKEN, hostFiles: { '/etc/rancher/k3s/config.yaml.k3s-gitops-failed': mark } });
    expect(retry.status).toBe(1);
    expect(retry.stderr).toContain(`the committed config.yaml ${hash} registries.yaml none failed its health check on this node at`);
    expect(retry.stderr).toContain('not applied again until a commit changes it (or remove /etc/rancher/k3s/config.yaml.k3s-gitops-failed on master-2 to retry it)');
    expect(restarts(retry)).toEqual([]);
    expect(read(path.join(retry.state, 'lock.log'))).toBe('');
    // A commit that changes it goes ahead, and clears the mark.
    const fixed = applyConfig({ after: NEW, hostFiles: { '/etc/rancher/k3s/config.yaml.k3s-gitops-failed': mark } });
    expect(fixed.status).toBe(0);
    expect(fs.existsSync(path.join(fixed.root, 'etc/rancher/k3s/config.yaml.k3s-gitops-failed'))).toBe(false);
  });

  test('fails: SIGTERM during the health wait (the job\'s deadline) puts the previous config back before the job ends', async () => {
    const r = await applyConfigInterrupted({ after: BROKEN, env: { HEALTH_TIMEOUT: '30', POLL_SECONDS: '0.2' } });
    expect(r.status).toBe(143);
    expect(r.stdout).toContain('stopped before master-2 was healthy with the new config.yaml; putting the previous one back');
    expect(config(r)).toBe(OLD);
    expect(restarts(r)).toEqual(['restart k3s', 'restart k3s']);
    expect(read(path.join(r.state, 'lock.log'))).toContain('unlock');
  });

  test('fails: a second SIGTERM during that rollback does not cut it short', async () => {
    // Each restart takes half a second, so the second signal comes while the rollback restarts K3s.
    const r = await applyConfigInterrupted({ after: BROKEN, env: { HEALTH_TIMEOUT: '30', POLL_SECONDS: '0.2', RESTART_SECONDS: '0.5' } }, true);
    expect(r.status).toBe(143);
    expect(config(r)).toBe(OLD);
    expect(restarts(r)).toEqual(['restart k3s', 'restart k3s']);
  });
});

test('no node-side script or command in any tree asks etcd over HTTP: K3s serves only gRPC on 2379', () => {
  for (const file of goodFixtures()) {
    for (const [name, text] of treeOf(loadCluster(file))) {
      // An HTTP client on a line naming etcd's port or its HTTP paths (/health, the /v3 JSON gateway).
      const http = text.split('\n').filter((line) => /curl|wget/.test(line) && /:2379|\/health\b|\/v3\//.test(line));
      expect({ file: `${path.basename(file)}: ${name}`, http }).toEqual({ file: `${path.basename(file)}: ${name}`, http: [] });
    }
  }
});

describe('in busybox alone, the shell and tools of the job\'s images', () => {
  beforeAll(() => { if (!hasCommand('busybox')) throw new Error('busybox is not installed; run .ci/run'); });

  test('a changed config: lock, gate, write, restart, healthy, labelled', () => {
    const r = applyConfig({ after: NEW, busybox: true });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(config(r)).toBe(NEW);
    expect(r.stdout).toContain('every etcd member is healthy: master-1-0a1b2c3d master-2-0a1b2c3d master-3-0a1b2c3d');
    expect(read(path.join(r.state, 'lock.log'))).toContain('unlock');
  });

  test('fails: a member never started, and a config not healthy: rolled back and marked, then not re-applied', () => {
    expect(applyConfig({ after: NEW, busybox: true, env: { MEMBER_LIST: memberList(THREE.slice(0, 2), ['https://10.0.0.13:2380']) } }).stderr).toContain('https://10.0.0.13:2380 (added, never started)');
    const first = applyConfig({ after: BROKEN, busybox: true });
    expect(first.status).toBe(1);
    expect(config(first)).toBe(OLD);
    const mark = read(path.join(first.root, 'etc/rancher/k3s/config.yaml.k3s-gitops-failed'));
    const retry = applyConfig({ after: BROKEN, busybox: true, hostFiles: { '/etc/rancher/k3s/config.yaml.k3s-gitops-failed': mark } });
    expect(retry.stderr).toContain('failed its health check on this node at');
    expect(restarts(retry)).toEqual([]);
  });

  test('a K3s upgrade under the lock', () => {
    const r = applyConfig({ after: OLD, busybox: true, env: { K3S_UPGRADE: '1', UPGRADE_COMMAND: 'upgrade-k3s upgrade' } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(read(path.join(r.state, 'upgrade.log'))).toBe('upgrade\n');
  });
});

describe('registries.yaml rolls out with config.yaml, filled with the node\'s own credentials', () => {
  const COMMITTED = '# generated\nconfigs:\n  registry.example.internal:5000:\n    auth:\n      password: k3s-gitops-file:/etc/rancher/k3s/registry/password\n      username: k3s-gitops-file:/etc/rancher/k3s/registry/username\nmirrors:\n  docker.io:\n    endpoint:\n      - https://registry.example.internal:5000\n';
  const CREDENTIALS = { '/etc/rancher/k3s/registry/username': 'puller\n', '/etc/rancher/k3s/registry/password': 'pa"ss\\word\n' };
  const FILLED = COMMITTED.replace('k3s-gitops-file:/etc/rancher/k3s/registry/password', '"pa\\"ss\\\\word"').replace('k3s-gitops-file:/etc/rancher/k3s/registry/username', '"puller"');
  const registries = (r: Run) => read(path.join(r.root, 'etc/rancher/k3s/registries.yaml'));

  test('a changed registries.yaml alone is written 0600 with the credentials filled in, K3s restarted once', () => {
    const r = applyConfig({ after: OLD, registries: COMMITTED, hostFiles: CREDENTIALS });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(registries(r)).toBe(FILLED);
    expect(fs.statSync(path.join(r.root, 'etc/rancher/k3s/registries.yaml')).mode & 0o777).toBe(0o600);
    expect(config(r)).toBe(OLD);
    expect(restarts(r)).toEqual(['restart k3s']);
    expect(r.stdout).toContain('registries.yaml written');
    expect(fs.readdirSync(path.join(r.root, 'etc/rancher/k3s')).filter((f) => f.includes('k3s-gitops-filled') || f.includes('k3s-gitops-new'))).toEqual([]);
  });

  test('filled and unchanged: no restart', () => {
    const r = applyConfig({ after: OLD, registries: COMMITTED, registriesBefore: FILLED, hostFiles: CREDENTIALS });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('config.yaml and registries.yaml unchanged; no restart');
    expect(restarts(r)).toEqual([]);
  });

  test('fails: a credential file missing on the node changes nothing', () => {
    const r = applyConfig({ after: NEW, registries: COMMITTED, hostFiles: { '/etc/rancher/k3s/registry/username': 'puller\n' } });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('registry credential /etc/rancher/k3s/registry/password is missing');
    expect(r.stderr).toContain('nothing was changed');
    expect(config(r)).toBe(OLD);
    expect(restarts(r)).toEqual([]);
  });

  test('a registries.yaml this tool wrote goes when the cluster file drops registries; one it did not write stays', () => {
    const r = applyConfig({ after: OLD, registriesBefore: FILLED.replace('# generated', '# generated by k3s-gitops from clusters/x.yaml; do not edit') });
    expect(r.status).toBe(0);
    expect(fs.existsSync(path.join(r.root, 'etc/rancher/k3s/registries.yaml'))).toBe(false);
    expect(read(path.join(r.root, 'etc/rancher/k3s/registries.yaml.k3s-gitops-previous'))).toContain('puller');
    expect(restarts(r)).toEqual(['restart k3s']);
    const own = applyConfig({ after: OLD, registriesBefore: 'mirrors: {}\n' });
    expect(registries(own)).toBe('mirrors: {}\n');
    expect(restarts(own)).toEqual([]);
  });

  test('fails: a credential that is empty, or holds a control character, is refused; a CR from Windows is dropped', () => {
    expect(applyConfig({ after: OLD, registries: COMMITTED, hostFiles: { ...CREDENTIALS, '/etc/rancher/k3s/registry/password': '\n' } }).stderr).toContain('registry credential /etc/rancher/k3s/registry/password is empty');
    expect(applyConfig({ after: OLD, registries: COMMITTED, hostFiles: { ...CREDENTIALS, '/etc/rancher/k3s/registry/password': 'a\tb\n' } }).stderr).toContain('holds a control character');
    const crlf = applyConfig({ after: OLD, registries: COMMITTED, hostFiles: { ...CREDENTIALS, '/etc/rancher/k3s/registry/username': 'puller\r\n' } });
    expect(crlf.status).toBe(0);
    expect(registries(crlf)).toContain('username: "puller"\n');
  });

  test('fails: a registries.yaml K3s is not healthy with is rolled back with config.yaml; a node that had none has none again', () => {
    const r = applyConfig({ after: NEW, registries: `${COMMITTED}# BROKEN\n`, hostFiles: CREDENTIALS });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('the new config.yaml registries.yaml did not become healthy');
    expect(config(r)).toBe(OLD);
    expect(fs.existsSync(path.join(r.root, 'etc/rancher/k3s/registries.yaml'))).toBe(false);
    expect(restarts(r)).toEqual(['restart k3s', 'restart k3s']);
  });
});

describe('a K3s upgrade of a server (K3S_UPGRADE): the lock, quorum, a recent off-node copy, a snapshot, the upgrade, health', () => {
  const iso = (secondsAgo: number) => new Date(Date.now() - secondsAgo * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
  const gate = (env: Record<string, string>) => applyConfig({ after: OLD, env: { K3S_UPGRADE: '1', UPGRADE_COMMAND: 'upgrade-k3s upgrade', SNAPSHOT_NAME: 'pre-v1.37.0-k3s1', OFFSITE_MAX_AGE_SECONDS: '43200', ...env } });
  const upgraded = (r: Run) => read(path.join(r.state, 'upgrade.log'));
  const snapshots = (r: Run) => read(path.join(r.state, 'snapshots.log'));
  const backups = { BACKUP_NAMESPACE: 'k3s-gitops-system', BACKUP_CRONJOBS: 'etcd-backup-nas' };

  test('a backup CronJob that succeeded an hour ago lets the upgrade start, after a snapshot named for the version', () => {
    const r = gate({ ...backups, CRONJOB_LAST: iso(3600) });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/newest off-node copy of etcd: 36\d\ds old/);
    expect(snapshots(r)).toContain('etcd-snapshot save --name pre-v1.37.0-k3s1');
    expect(upgraded(r)).toBe('upgrade\n');
    expect(r.stdout).toContain('healthy after the K3s upgrade');
    expect(read(path.join(r.state, 'lock.log'))).toBe('lock https://10.0.0.11:2379,https://10.0.0.12:2379,https://10.0.0.13:2379\nunlock\n');
  });

  test('fails: a K3s upgrade the server is not healthy after fails the job (the Plan halts), the lock released', () => {
    const r = gate({ ...backups, CRONJOB_LAST: iso(60), K3S_UPGRADE_BREAKS: '1' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('master-2 is not healthy within 2s of the K3s upgrade; the new binary stays');
    expect(read(path.join(r.state, 'lock.log'))).toContain('unlock');
  });

  test('fails: a member down halts the upgrade before the snapshot and the binary swap', () => {
    const r = gate({ ...backups, CRONJOB_LAST: iso(60), DOWN: 'https://10.0.0.13:2379' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('etcd member(s) not healthy: master-3-0a1b2c3d (https://10.0.0.13:2379)');
    expect(snapshots(r)).toBe('');
    expect(upgraded(r)).toBe('');
  });

  test('fails: the newest copy older than the bound halts the upgrade before any snapshot or change', () => {
    const r = gate({ ...backups, CRONJOB_LAST: iso(2 * 86400) });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/the newest off-node copy of etcd is 1728\d\ds old, over the 43200s bound/);
    expect(snapshots(r)).toBe('');
    expect(upgraded(r)).toBe('');
    expect(restarts(r)).toEqual([]);
  });

  test('K3s\'s own S3 uploads count when ready to use; a failed one does not', () => {
    expect(gate({ S3_SNAPSHOTS: '1', S3_FILES: `${iso(90000)}=true ${iso(60)}=false` }).status).toBe(1);
    expect(gate({ S3_SNAPSHOTS: '1', S3_FILES: `${iso(90000)}=true ${iso(60)}=true` }).status).toBe(0);
  });

  test('fails: no off-node copy at all (a CronJob that never succeeded)', () => {
    const r = gate({ ...backups, CRONJOB_LAST: '' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('no off-node copy of etcd found');
    expect(snapshots(r)).toBe('');
  });
});
