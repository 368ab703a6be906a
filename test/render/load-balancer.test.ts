import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { IMAGES } from '../../src/images';
import { LB_NAMES } from '../../src/names';
import { renderCheckHaproxy } from '../../src/render/check-haproxy';
import { renderHaproxyCfg } from '../../src/render/haproxy-cfg';
import { renderExplain } from '../../src/render/explain';
import { GOOD, goodFixtures, loadCluster, manifestObjects, parseYaml, runCli, tempDir, treeOf } from '../helpers';
import { cloudInitSchemaFailures, haproxyFailures, keepalivedFailures, kubernetesSchemaFailures, shellcheckFailures } from '../tools';

const clusters = goodFixtures().map((f) => loadCluster(f));
const example = loadCluster(path.join(GOOD, 'ha.yaml'));
const enterprise = loadCluster(path.join(GOOD, 'enterprise.yaml'));
const lab = loadCluster(path.join(GOOD, 'lab.yaml'));
/** The enterprise cluster with its LB moved onto the servers. */
const enterpriseDaemonset = loadCluster(path.join(GOOD, 'enterprise.yaml'), (t) => t.replace('mode: external', 'mode: daemonset').replace(/ {6}hosts:\n.*\n.*\n/, ''));

const daemonSet = (c: typeof example) => manifestObjects(treeOf(c)).find((o) => o.kind === 'DaemonSet');
const configMapData = (c: typeof example): Record<string, string> => manifestObjects(treeOf(c)).find((o) => o.kind === 'ConfigMap' && o.metadata.name === LB_NAMES.configMap).data;

/** Every haproxy.cfg and keepalived.conf the fixtures produce, in either mode. */
function allLbConfigs() {
  const haproxy = new Map<string, string>();
  const keepalived = new Map<string, { iface: string; text: string }>();
  for (const c of [...clusters, enterpriseDaemonset]) {
    const tree = treeOf(c);
    for (const [k, v] of tree) {
      if (k.endsWith('haproxy.cfg')) haproxy.set(`${c.source}:${k}`, v);
      if (/keepalived-.*\.conf$/.test(k)) keepalived.set(`${c.source}:${k}`, { iface: c.loadBalancer.interface, text: v });
    }
    if (c.loadBalancer.mode === 'daemonset') {
      for (const [k, v] of Object.entries(configMapData(c))) {
        if (k === 'haproxy.cfg') haproxy.set(`${c.source}:configmap:${k}`, v);
        else if (k.endsWith('.conf')) keepalived.set(`${c.source}:configmap:${k}`, { iface: c.loadBalancer.interface, text: v });
      }
    }
  }
  return { haproxy, keepalived };
}

describe('generated LB configuration is accepted by the real tools', () => {
  const { haproxy, keepalived } = allLbConfigs();

  test('haproxy -c accepts every haproxy.cfg', async () => {
    expect(haproxy.size).toBeGreaterThanOrEqual(3);
    expect(await haproxyFailures(haproxy)).toEqual([]);
  });

  test('keepalived -t accepts every keepalived.conf, in a namespace that has the interface', async () => {
    expect(keepalived.size).toBeGreaterThanOrEqual(10);
    const byIface = new Map<string, Map<string, string>>();
    for (const [name, { iface, text }] of keepalived) byIface.set(iface, (byIface.get(iface) ?? new Map()).set(name, text));
    for (const [iface, configs] of byIface) expect(await keepalivedFailures(configs, iface, renderCheckHaproxy(example))).toEqual([]);
  });

  test('fails: keepalived -t drops a check script that is not there, and that counts', async () => {
    const [name, { text, iface }] = [...keepalived][0];
    const failures = await keepalivedFailures(new Map([[name, text.replace('check-haproxy.sh', 'nosuch.sh')]]), iface, renderCheckHaproxy(example));
    expect(failures).toHaveLength(1);
  });

  test('fails: keepalived -t rejects a config whose interface is absent (the check is real)', async () => {
    const [name, { text }] = [...keepalived][0];
    const failures = await keepalivedFailures(new Map([[name, text.replace(/interface \S+/, 'interface nosuch0')]]), 'eth0', renderCheckHaproxy(example));
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
      expect(t).toContain('script "/etc/keepalived/check-haproxy.sh"');
      expect(t).not.toMatch(/pidof/); // Debian's pidof is killall5, which keepalived < 2.3 runs under its own name
      expect(t).not.toMatch(/^\s*weight/m);
      expect(field(t, 'interval')).toBe('1');
      expect(field(t, 'fall')).toBe('2');
      expect(field(t, 'advert_int')).toBe('1');
    }
  });

  test('the check script passes shellcheck and tests that HAProxy accepts connections on the LB port', async () => {
    const script = treeOf(enterprise).get('lb/check-haproxy.sh') as string;
    expect(await shellcheckFailures(new Map([['check-haproxy.sh', script]]))).toEqual([]);
    expect(script).toContain('/dev/tcp/127.0.0.1/$1');
    expect(script).toMatch(/^port=6443$/m);
    expect(configMapData(example)['check-haproxy.sh']).toMatch(/^port=8443$/m);
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
    expect(Object.keys(configMapData(example)).sort()).toEqual(['check-haproxy.sh', 'haproxy.cfg', 'keepalived-master-1.conf', 'keepalived-master-2.conf', 'keepalived-master-3.conf']);
    // keepalived skips an executable config file and runs only an executable check.
    const volume = daemonSet(example).spec.template.spec.volumes.find((v: { configMap?: unknown }) => v.configMap).configMap;
    for (const item of volume.items) expect([item.key, item.mode]).toEqual([item.key, item.key === 'check-haproxy.sh' ? 0o755 : 0o644]);
    const keepalived = daemonSet(example).spec.template.spec.containers.find((c: { name: string }) => c.name === 'keepalived');
    expect(keepalived.command.join(' ')).toContain('keepalived-${NODE_NAME}.conf');
    expect(keepalived.env[0].valueFrom.fieldRef.fieldPath).toBe('spec.nodeName');
  });
});

describe('modes', () => {
  test('external: files for the LB machines, no LB objects in the cluster', () => {
    const tree = treeOf(enterprise);
    expect([...tree.keys()].filter((k) => k.startsWith('lb/')).sort()).toEqual([
      'lb/check-haproxy.sh', 'lb/haproxy.cfg', 'lb/keepalived-lb-1.conf', 'lb/keepalived-lb-2.conf', 'lb/lb-1/user-data.yaml', 'lb/lb-2/user-data.yaml',
    ]);
    expect(manifestObjects(tree).find((o) => o.kind === 'DaemonSet')).toBeUndefined();
    const ud = parseYaml(tree.get('lb/lb-1/user-data.yaml') as string);
    expect(ud.packages).toEqual(['haproxy', 'keepalived']);
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
