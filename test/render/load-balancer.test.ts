import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { IMAGES } from '../../src/images';
import { LB_NAMES } from '../../src/names';
import { CHECK_SHELL, checkHaproxyCommand } from '../../src/render/check-haproxy';
import { VRRP_PRIORITY, vrrpPriority } from '../../src/render/keepalived-conf';
import { renderHaproxyCfg } from '../../src/render/haproxy-cfg';
import { renderExplain } from '../../src/render/explain';
import { GOOD, goodFixtures, loadCluster, manifestObjects, parseYaml, runCli, tempDir, testAsRoot, treeOf } from '../helpers';
import { configMapVolumeFiles, type VolumeFile } from '../kubelet-volume';
import { cloudInitSchemaFailures, haproxyFailures, keepalivedFailures, kubernetesSchemaFailures, shellcheckFailures, type KeepalivedDir } from '../tools';

const clusters = goodFixtures().map((f) => loadCluster(f));
const example = loadCluster(path.join(GOOD, 'ha.yaml'));
const enterprise = loadCluster(path.join(GOOD, 'enterprise.yaml'));
const lab = loadCluster(path.join(GOOD, 'lab.yaml'));
/** The enterprise cluster with its LB moved onto the servers. */
const enterpriseDaemonset = loadCluster(path.join(GOOD, 'enterprise.yaml'), (t) => t.replace('mode: external', 'mode: daemonset').replace(/ {6}hosts:\n.*\n.*\n/, ''));

const daemonSet = (c: typeof example) => manifestObjects(treeOf(c)).find((o) => o.kind === 'DaemonSet');
const configMapData = (c: typeof example): Record<string, string> => manifestObjects(treeOf(c)).find((o) => o.kind === 'ConfigMap' && o.metadata.name === LB_NAMES.configMap).data;

/** The daemonset's ConfigMap volume, as the pod sees it: item paths with their modes. */
const volumeOf = (c: typeof example) => configMapVolumeFiles(treeOf(c).get('manifests/load-balancer.k8s.yaml') as string, LB_NAMES.daemonSet);

/** The `script` line of a keepalived.conf, split as keepalived splits it (no quote or escape inside the bash word). */
function checkArgv(conf: string): [string, string, string] {
  const m = /^ {2}script "(\S+) (-c) '([^'"\\]*)'"$/m.exec(conf);
  if (!m) throw new Error(`no check of the expected form in:\n${conf}`);
  return [m[1], m[2], m[3]];
}

/**
 * Every haproxy.cfg the fixtures produce, and every keepalived folder as keepalived
 * sees it: the pod's ConfigMap volume in the kubelet's layout (daemonset mode), or
 * the LB machines' files (external mode), grouped by the VRRP interface.
 */
function allLbConfigs() {
  const haproxy = new Map<string, string>();
  const keepalived: { iface: string; dir: KeepalivedDir }[] = [];
  for (const c of [...clusters, enterpriseDaemonset]) {
    const tree = treeOf(c);
    const iface = c.loadBalancer.interface;
    for (const [k, v] of tree) if (k.endsWith('haproxy.cfg')) haproxy.set(`${c.source}:${k}`, v);
    if (c.loadBalancer.mode === 'daemonset') {
      const volume = volumeOf(c);
      haproxy.set(`${c.source}:configmap:haproxy.cfg`, volume.get('haproxy.cfg')?.content as string);
      keepalived.push({ iface, dir: { label: `${c.source}:configmap`, layout: 'kubelet', files: volume } });
    } else if (c.loadBalancer.mode === 'external') {
      const files = new Map([...tree].filter(([k]) => /^lb\/keepalived-.*\.conf$/.test(k)).map(([k, v]) => [k.slice(3), { content: v, mode: 0o644 }]));
      keepalived.push({ iface, dir: { label: `${c.source}:lb`, layout: 'files', files } });
    }
  }
  return { haproxy, keepalived };
}

/** The same folder with one config edited. */
function withConf(dir: KeepalivedDir, edit: (text: string) => string, extra: ReadonlyMap<string, VolumeFile> = new Map()): KeepalivedDir {
  const conf = [...dir.files.keys()].find((k) => k.endsWith('.conf')) as string;
  const files = new Map([...dir.files].filter(([k]) => !k.endsWith('.conf') || k === conf).map(([k, f]) => [k, k === conf ? { ...f, content: edit(f.content) } : f]));
  return { ...dir, files: new Map([...files, ...extra]) };
}

/** The daemonset's check as this tool shipped it before: a script in the ConfigMap, run from /etc/keepalived. */
const OLD_CHECK = new Map([['check-haproxy.sh', { content: '#!/bin/sh\nexec bash -c \'exec 3<>"/dev/tcp/127.0.0.1/$1"\' check-haproxy 8443 2>/dev/null\n', mode: 0o755 }]]);
const oldCheckLine = (t: string) => t.replace(/^ {2}script .*$/m, '  script "/etc/keepalived/check-haproxy.sh"');

describe('generated LB configuration is accepted by the real tools', () => {
  const { haproxy, keepalived } = allLbConfigs();
  const daemonsetDir = (keepalived.find((k) => k.dir.layout === 'kubelet') as { iface: string; dir: KeepalivedDir });

  test('haproxy -c accepts every haproxy.cfg', async () => {
    expect(haproxy.size).toBeGreaterThanOrEqual(3);
    expect(await haproxyFailures(haproxy)).toEqual([]);
  });

  testAsRoot('keepalived -t accepts every keepalived.conf with its check, in the pod\'s volume layout or the machine\'s, in a namespace that has the interface', async () => {
    const confs = keepalived.flatMap((k) => [...k.dir.files.keys()].filter((f) => f.endsWith('.conf')));
    expect(confs.length).toBeGreaterThanOrEqual(10);
    expect(keepalived.some((k) => k.dir.layout === 'kubelet') && keepalived.some((k) => k.dir.layout === 'files')).toBe(true);
    for (const iface of new Set(keepalived.map((k) => k.iface))) {
      expect(await keepalivedFailures(keepalived.filter((k) => k.iface === iface).map((k) => k.dir), iface)).toEqual([]);
    }
  });

  testAsRoot('fails: keepalived -t drops a check whose program is not there, and that counts', async () => {
    const { dir, iface } = daemonsetDir;
    const failures = await keepalivedFailures([withConf(dir, (t) => t.replace(CHECK_SHELL.daemonset, '/usr/bin/nosuch-bash'))], iface);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/not found|cannot be accessed/i);
  });

  testAsRoot('fails: keepalived -t disables the old check script in the kubelet\'s volume layout (0777 root, no sticky bit), not as plain files', async () => {
    const { dir, iface } = daemonsetDir;
    const old = withConf(dir, oldCheckLine, OLD_CHECK);
    const failures = await keepalivedFailures([old], iface);
    expect(failures).toHaveLength(1);
    // -t prints the verdict; the drill's keepalived logs the reason ("Unsafe permissions").
    expect(failures[0]).toContain('Disabling track script chk_haproxy due to insecure');
    // The same files in a 0755 folder pass: the layout is what keepalived refuses.
    expect(await keepalivedFailures([{ ...old, layout: 'files' }], iface)).toEqual([]);
  });

  testAsRoot('fails: keepalived -t rejects a config whose interface is absent (the check is real)', async () => {
    const { dir } = daemonsetDir;
    const failures = await keepalivedFailures([withConf(dir, (t) => t.replace(/interface \S+/, 'interface nosuch0'))], 'eth0');
    expect(failures).toHaveLength(1);
  });

  test('LB machines\' user-data passes cloud-init\'s schema', async () => {
    const docs = new Map([...treeOf(enterprise)].filter(([k]) => k.startsWith('lb/') && k.endsWith('user-data.yaml')));
    expect([...docs.keys()].sort()).toEqual(['lb/lb-1/user-data.yaml', 'lb/lb-2/user-data.yaml']);
    expect(await cloudInitSchemaFailures(docs)).toEqual([]);
  });
});

describe('haproxy.cfg', () => {
  test('balances TCP over every server\'s :6443 with fast health checks, listening on the LB port', () => {
    const cfg = renderHaproxyCfg(enterprise, 'syslog');
    expect(cfg).toContain('bind :6443');
    for (const s of enterprise.servers) expect(cfg).toContain(`server ${s.name} ${s.address}:6443 check`);
    expect(cfg).toMatch(/mode tcp/);
    expect(cfg).toMatch(/default-server inter 1000ms fall 2 rise 2/); // a dead apiserver is out in ~2 s
    expect(cfg).toContain('option redispatch 1'); // every retry goes to another server
    expect(cfg).toMatch(/timeout connect 1s/); // a crashed server costs a retry 1 s later, not 5 s
    expect(renderHaproxyCfg(example, 'stdout')).toContain('bind :8443');
  });
});

describe('keepalived.conf', () => {
  const confs = enterprise.loadBalancer.hosts.map((h) => treeOf(enterprise).get(`lb/keepalived-${h.name}.conf`) as string);
  const field = (text: string, key: string) => (new RegExp(`^\\s*${key} (\\S+)`, 'm').exec(text) ?? [])[1];

  test('every peer BACKUP with nopreempt and distinct descending priorities: a returning peer never takes the VIP back', () => {
    const dsConfs = Object.entries(configMapData(enterpriseDaemonset)).filter(([k]) => k.startsWith('keepalived-')).sort().map(([, v]) => v);
    for (const set of [confs, dsConfs]) {
      expect(set.map((t) => field(t, 'state'))).toEqual(Array(set.length).fill('BACKUP'));
      for (const t of set) expect(t).toMatch(/^\s*nopreempt$/m);
      const priorities = set.map((t) => Number(field(t, 'priority')));
      expect([...priorities].sort((a, b) => b - a)).toEqual(priorities);
      expect(new Set(priorities).size).toBe(priorities.length);
    }
  });

  test('the check connects to HAProxy and has no weight, so a failing holder goes to FAULT and resigns at once', () => {
    for (const t of confs) {
      expect(t).toContain(`script "/usr/bin/bash -c 'exec 2>/dev/null 3<>/dev/tcp/127.0.0.1/6443'"`);
      expect(t).not.toMatch(/pidof/); // Debian's pidof is killall5, which keepalived < 2.3 runs under its own name
      const check = /vrrp_script chk_haproxy \{[^}]*\}/.exec(t)?.[0] ?? '';
      expect(check).not.toMatch(/^\s*weight/m);
      expect(field(check, 'interval')).toBe('1');
      expect(field(check, 'fall')).toBe('1');
      expect(field(t, 'version')).toBe('3');
      expect(field(t, 'advert_int')).toBe('0.2');
    }
  });

  test('advertInterval from the cluster file, in hundredths: anything else is refused naming the field and what is allowed', () => {
    const withAdvert = (value: string) => (t: string) => t.replace('virtualRouterId: 60', `virtualRouterId: 60\n      advertInterval: ${value}`);
    for (const value of ['1', '0.35', '0.29']) {
      const c = loadCluster(path.join(GOOD, 'enterprise.yaml'), withAdvert(value));
      expect(field(treeOf(c).get('lb/keepalived-lb-1.conf') as string, 'advert_int')).toBe(value);
    }
    const dir = tempDir();
    const text = fs.readFileSync(path.join(GOOD, 'enterprise.yaml'), 'utf8');
    for (const [value, why] of [['0.005', 'must be >= 0.01'], ['41', 'must be <= 40.95'], ['0.255', 'must be a multiple of 0.01'], ['"1"', 'found a string']]) {
      const file = path.join(dir, 'cluster.yaml');
      fs.writeFileSync(file, withAdvert(value)(text));
      const r = runCli(['validate', file]);
      expect({ status: r.status, out: r.stderr }).toEqual({ status: 1, out: expect.stringContaining('/spec/controlPlane/loadBalancer/advertInterval') });
      expect(r.stderr).toContain(why);
    }
  });

  test('the holder outranks every backup: bonus over the spread of the most peers allowed, below the owner priority 255', () => {
    const most = Array.from({ length: 20 }, (_, i) => vrrpPriority(i));
    expect(Math.min(...most)).toBeGreaterThan(0);
    expect(vrrpPriority(0) - vrrpPriority(19)).toBeLessThan(VRRP_PRIORITY.holderBonus);
    expect(vrrpPriority(0) + VRRP_PRIORITY.holderBonus).toBeLessThan(255);
    for (const t of confs) {
      const holder = /vrrp_script chk_vip_holder \{[^}]*\}/.exec(t)?.[0] ?? '';
      expect(holder).toContain(`script "/usr/bin/bash -c '/sbin/ip addr show dev ens192 | /bin/grep -qwF 172.16.0.100'"`);
      expect([field(holder, 'weight'), field(holder, 'rise'), field(holder, 'fall')]).toEqual(['100', '3', '1']);
      expect(holder).toMatch(/^\s*init_fail$/m);
      expect(t).toMatch(/track_script \{\s*chk_haproxy\s*chk_vip_holder\s*\}/);
    }
  });

  test('the check runs a binary of the image or distribution, never a file of ours, so script security accepts it in a 0777 volume', () => {
    // keepalived refuses a root script on a path with a group/world-writable directory
    // (no sticky bit) or a symlinked one; /bin is a symlink on merged-/usr Debian.
    expect(checkArgv(confs[0])[0]).toBe(CHECK_SHELL.external);
    expect(CHECK_SHELL.external.startsWith('/usr/')).toBe(true);
    for (const t of Object.values(configMapData(example)).filter((v) => v.includes('vrrp_script'))) {
      expect(checkArgv(t)[0]).toBe(CHECK_SHELL.daemonset);
      expect(t).not.toContain('/etc/keepalived/');
    }
    expect(Object.keys(configMapData(example)).filter((k) => !k.endsWith('.conf') && k !== 'haproxy.cfg')).toEqual([]);
  });

  test('the check passes shellcheck as bash and tests that HAProxy accepts connections on the LB port', async () => {
    const [, , body] = checkArgv(confs[0]);
    expect(body).toBe(checkHaproxyCommand(6443));
    expect(checkArgv(configMapData(example)['keepalived-master-1.conf'])[2]).toBe(checkHaproxyCommand(8443));
    expect(await shellcheckFailures(new Map([['check', body]]), 'bash')).toEqual([]);
  });

  test('the check exits 0 while something accepts on the port and 1 once nothing does, silently', async () => {
    const [shell, flag, body] = checkArgv(confs[0]);
    const server = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const check = () => new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(shell, [flag, body.replace('/6443', `/${port}`)], { timeout: 5000 }, (err, _out, stderr) => resolve({ code: err ? Number(err.code) : 0, stderr }));
    });
    expect(await check()).toEqual({ code: 0, stderr: '' });
    await new Promise((r) => server.close(r));
    expect(await check()).toEqual({ code: 1, stderr: '' });
  });

  test('holds the endpoint VIP on the configured interface and router id, talking unicast to its peers', () => {
    for (const [i, t] of confs.entries()) {
      expect(t).toMatch(/virtual_ipaddress \{\n\s+172\.16\.0\.100\n/);
      expect(field(t, 'interface')).toBe('ens192');
      expect(field(t, 'virtual_router_id')).toBe('60');
      expect(field(t, 'unicast_src_ip')).toBe(enterprise.loadBalancer.hosts[i].address);
      expect(t).toContain('chk_haproxy');
      expect(t).not.toMatch(/auth_pass/); // a VRRPv2 password is a clear-text secret in Git
    }
  });
});

describe('the daemonset load balancer', () => {
  const ds = daemonSet(enterprise.loadBalancer.mode === 'daemonset' ? enterprise : enterpriseDaemonset);
  const spec = ds.spec.template.spec;

  test('manifests validate against the Kubernetes schemas', () => {
    expect(kubernetesSchemaFailures(manifestObjects(treeOf(enterpriseDaemonset)))).toEqual([]);
    expect(kubernetesSchemaFailures(manifestObjects(treeOf(example)))).toEqual([]);
  });

  test('runs on every server: host network, control-plane affinity, tolerating the servers\' taints', () => {
    expect(spec.hostNetwork).toBe(true);
    expect(JSON.stringify(spec.affinity)).toContain('node-role.kubernetes.io/control-plane');
    const keys = spec.tolerations.map((t: { key: string }) => t.key);
    expect(keys).toEqual(expect.arrayContaining(['CriticalAddonsOnly', 'node-role.kubernetes.io/control-plane']));
    for (const t of spec.tolerations) expect(t.operator).toBe('Exists');
  });

  test('is system-node-critical, rolls one node at a time, and pins its images', () => {
    expect(spec.priorityClassName).toBe('system-node-critical');
    expect(ds.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
    const images = spec.containers.map((c: { image: string }) => c.image).sort();
    expect(images).toEqual([IMAGES.haproxy, IMAGES.keepalived].sort());
    for (const image of images) expect(image).toMatch(/:[0-9][^:]*$/);
  });

  test('grants keepalived only what VRRP needs; never privileged, never contradictory', () => {
    const byName = Object.fromEntries(spec.containers.map((c: { name: string }) => [c.name, c]));
    expect(byName.keepalived.securityContext.capabilities).toEqual({ drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] });
    expect(byName.haproxy.securityContext.capabilities).toEqual({ drop: ['ALL'] });
    expect(byName.haproxy.securityContext.runAsNonRoot).toBe(true);
    for (const c of spec.containers) {
      const sc = c.securityContext;
      expect(sc.privileged).toBe(false);
      // Kubernetes rejects allowPrivilegeEscalation: false with privileged or CAP_SYS_ADMIN.
      if (sc.allowPrivilegeEscalation === false) expect(sc.capabilities.add ?? []).not.toContain('SYS_ADMIN');
      expect(sc.readOnlyRootFilesystem).toBe(true);
    }
    expect(spec.shareProcessNamespace).toBeUndefined(); // the check connects over the host network
    expect(spec.automountServiceAccountToken).toBe(false);
  });

  test('listens on the LB port, never 6443, and carries a config hash so changes roll the pods', () => {
    const haproxy = spec.containers.find((c: { name: string }) => c.name === 'haproxy');
    expect(haproxy.ports[0].containerPort).toBe(enterpriseDaemonset.loadBalancer.port);
    expect(haproxy.ports[0].containerPort).not.toBe(6443);
    expect(ds.spec.template.metadata.annotations['k3s-gitops.dev/config-hash']).toMatch(/^[0-9a-f]{16}$/);
  });

  test('one keepalived config per server, chosen by the pod\'s node name', () => {
    expect(Object.keys(configMapData(example)).sort()).toEqual(['haproxy.cfg', 'keepalived-master-1.conf', 'keepalived-master-2.conf', 'keepalived-master-3.conf']);
    // keepalived skips an executable config file; the volume holds nothing it runs.
    const volume = daemonSet(example).spec.template.spec.volumes.find((v: { configMap?: unknown }) => v.configMap).configMap;
    for (const item of volume.items) expect([item.key, item.mode]).toEqual([item.key, 0o644]);
    const keepalived = daemonSet(example).spec.template.spec.containers.find((c: { name: string }) => c.name === 'keepalived');
    expect(keepalived.command.join(' ')).toContain('keepalived-${NODE_NAME}.conf');
    expect(keepalived.env[0].valueFrom.fieldRef.fieldPath).toBe('spec.nodeName');
  });
});

describe('modes', () => {
  test('external: files for the LB machines, no LB objects in the cluster', () => {
    const tree = treeOf(enterprise);
    expect([...tree.keys()].filter((k) => k.startsWith('lb/')).sort()).toEqual([
      'lb/haproxy.cfg', 'lb/keepalived-lb-1.conf', 'lb/keepalived-lb-2.conf', 'lb/lb-1/user-data.yaml', 'lb/lb-2/user-data.yaml',
    ]);
    expect(manifestObjects(tree).find((o) => o.kind === 'DaemonSet')).toBeUndefined();
    const ud = parseYaml(tree.get('lb/lb-1/user-data.yaml') as string);
    expect(ud.packages).toEqual(['haproxy', 'keepalived', 'iproute2']);
    // The check is keepalived.conf's own line: no script file to install or keep executable.
    expect(ud.write_files.map((f: { path: string }) => f.path).sort()).toEqual(['/etc/haproxy/haproxy.cfg', '/etc/keepalived/keepalived.conf']);
    expect(ud.write_files.find((f: { path: string }) => f.path === '/etc/haproxy/haproxy.cfg').content).toBe(tree.get('lb/haproxy.cfg'));
    expect(ud.write_files.find((f: { path: string }) => f.path === '/etc/keepalived/keepalived.conf').content).toBe(tree.get('lb/keepalived-lb-1.conf'));
  });

  test('none: no LB objects or files, and explain says the API depends on one machine', () => {
    const tree = treeOf(lab);
    expect([...tree.keys()].some((k) => k.startsWith('lb/'))).toBe(false);
    expect(manifestObjects(tree).some((o) => o.kind === 'DaemonSet')).toBe(false);
    expect(renderExplain(lab)).toContain('when master is down, the API is down');
  });
});

describe('kubeconfig', () => {
  const k3sYaml = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: LS0tdGVzdC1jYS0tLQ==
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: LS0tdGVzdC1jZXJ0LS0t
    client-key-data: LS0tdGVzdC1rZXktLS0=
`;

  test('points a K3s kubeconfig at the endpoint and names it after the cluster', () => {
    const r = runCli(['kubeconfig', path.join(GOOD, 'ha.yaml')], { input: k3sYaml });
    expect(r.status).toBe(0);
    const out = parseYaml(r.stdout);
    expect(out.clusters[0].cluster.server).toBe('https://10.0.0.100:8443');
    expect(out.clusters[0].cluster['certificate-authority-data']).toBe('LS0tdGVzdC1jYS0tLQ==');
    expect(out['current-context']).toBe('example');
    expect(out.contexts[0]).toEqual({ name: 'example', context: { cluster: 'example', user: 'example' } });
    expect(out.users[0].name).toBe('example');
  });

  test('fails: input that is not a kubeconfig exits 1', () => {
    const r = runCli(['kubeconfig', path.join(GOOD, 'ha.yaml')], { input: 'hello: world\n' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('not a kubeconfig');
  });
});

describe('failover through the real haproxy binary', () => {
  /** Three stand-in apiservers on loopback, each answering its own name. */
  async function standIn(name: string): Promise<{ server: net.Server; port: number; sockets: Set<net.Socket> }> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.end(`${name}\n`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return { server, port: (server.address() as net.AddressInfo).port, sockets };
  }

  function freePort(): Promise<number> {
    return new Promise((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address() as net.AddressInfo;
        s.close(() => resolve(port));
      });
    });
  }

  /** One request through the LB: resolves with the answering backend, or undefined on failure. */
  function request(port: number): Promise<string | undefined> {
    return new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      let data = '';
      const timer = setTimeout(() => { socket.destroy(); resolve(undefined); }, 3000);
      socket.on('data', (d) => { data += d; });
      socket.on('close', () => { clearTimeout(timer); resolve(data.trim() || undefined); });
      socket.on('error', () => undefined);
    });
  }

  let haproxy: ChildProcess | undefined;
  const backends: Awaited<ReturnType<typeof standIn>>[] = [];
  afterAll(() => {
    haproxy?.kill('SIGKILL');
    for (const b of backends) b.server.close();
  });

  test('serves while any backend lives, fails when none does', async () => {
    for (const s of example.servers) backends.push(await standIn(s.name));
    const lbPort = await freePort();
    // The generated configuration, with addresses rewritten to loopback.
    let cfg = renderHaproxyCfg(example, 'stdout').replace(`bind :${example.loadBalancer.port}`, `bind 127.0.0.1:${lbPort}`);
    example.servers.forEach((s, i) => { cfg = cfg.replace(`${s.address}:6443`, `127.0.0.1:${backends[i].port}`); });
    const file = path.join(tempDir('failover-'), 'haproxy.cfg');
    fs.writeFileSync(file, cfg);
    haproxy = spawn('haproxy', ['-db', '-f', file], { stdio: 'ignore' });

    let first: string | undefined;
    for (let i = 0; i < 50 && !first; i++) {
      first = await request(lbPort);
      if (!first) await new Promise((r) => setTimeout(r, 100));
    }
    expect(first).toBeDefined();

    const round = async () => Promise.all(Array.from({ length: 12 }, () => request(lbPort)));
    const healthy = await round();
    expect(healthy.every((r) => r !== undefined)).toBe(true);
    expect(new Set(healthy).size).toBe(3); // round robin reaches every server

    // Kill master-1: every request still succeeds, answered by the others.
    await new Promise((r) => backends[0].server.close(r));
    const degraded = await round();
    expect(degraded.every((r) => r === 'master-2' || r === 'master-3')).toBe(true);

    for (const b of backends.slice(1)) await new Promise((r) => b.server.close(r));
    const dead = await round();
    expect(dead.every((r) => r === undefined)).toBe(true);
  }, 30000);
});
