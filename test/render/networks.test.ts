import * as path from 'node:path';
import { renderHaproxyCfg } from '../../src/render/haproxy-cfg';
import { GOOD, loadCluster, manifestObjects, parseYaml, testAsRoot, treeOf } from '../helpers';
import { LB_NAMES } from '../../src/names';
import { configMapVolumeFiles } from '../kubelet-volume';
import { haproxyFailures, keepalivedFailures } from '../tools';

const ipv6 = loadCluster(path.join(GOOD, 'ipv6.yaml'));
const dual = loadCluster(path.join(GOOD, 'dual-stack.yaml'));
const example = loadCluster(path.join(GOOD, 'ha.yaml'));

describe('IPv6 and dual-stack', () => {
  test('node-ip and node-external-ip carry both addresses of a dual-stack node', () => {
    const config = parseYaml(treeOf(dual).get('nodes/ds-1/config.yaml') as string);
    expect(config['node-ip']).toBe('10.1.0.11,fd00:1::11');
    expect(config['node-external-ip']).toBe('203.0.113.11,2001:db8::11');
    expect(config['cluster-cidr']).toBe('10.42.0.0/16,fd00:42::/56');
    expect(parseYaml(treeOf(ipv6).get('nodes/v6-2/config.yaml') as string)['node-ip']).toBe('fd00:10::12');
  });

  test('HAProxy listens on both families where the cluster has IPv6, on IPv4 alone where it has none; haproxy -c accepts each', async () => {
    const configs = new Map([['ipv6', renderHaproxyCfg(ipv6, 'stdout')], ['dual', renderHaproxyCfg(dual, 'syslog')], ['ipv4', renderHaproxyCfg(example, 'stdout')]]);
    expect(configs.get('ipv6')).toContain('bind :::8443 v4v6');
    expect(configs.get('ipv6')).toContain('server v6-1 [fd00:10::11]:6443 check');
    expect(configs.get('dual')).toContain('bind :::6443 v4v6');
    expect(configs.get('ipv4')).toContain('bind :8443\n');
    expect(await haproxyFailures(configs)).toEqual([]);
  });

  test('keepalived holds an IPv6 VIP with IPv6 peers', () => {
    const data = manifestObjects(treeOf(ipv6)).find((o) => o.kind === 'ConfigMap' && o.data?.['haproxy.cfg']).data as Record<string, string>;
    const conf = data['keepalived-v6-1.conf'];
    expect(conf).toMatch(/virtual_ipaddress \{\n\s+fd00:10::100\n/);
    expect(conf).toMatch(/unicast_src_ip fd00:10::11\n/);
    expect(conf).toMatch(/unicast_peer \{\n\s+fd00:10::12\n\s+fd00:10::13\n/);
    const volume = configMapVolumeFiles(treeOf(ipv6).get('manifests/load-balancer.k8s.yaml') as string, LB_NAMES.daemonSet);
    expect(volume.get('keepalived-v6-1.conf')?.content).toBe(conf);
  });

  testAsRoot('keepalived -t accepts the IPv6 VIP\'s config in the pod\'s volume', async () => {
    const volume = configMapVolumeFiles(treeOf(ipv6).get('manifests/load-balancer.k8s.yaml') as string, LB_NAMES.daemonSet);
    expect(await keepalivedFailures([{ label: 'ipv6:configmap', layout: 'kubelet', files: volume }], 'eth0')).toEqual([]);
  });

  test('a dual-stack LB peer talks VRRP from its address in the VIP\'s family', () => {
    const asDaemonset = loadCluster(path.join(GOOD, 'dual-stack.yaml'), (t) => t.replace('mode: external', 'mode: daemonset').replace(/ {6}hosts:\n.*\n.*\n/, ''));
    const data = manifestObjects(treeOf(asDaemonset)).find((o) => o.kind === 'ConfigMap' && o.data?.['haproxy.cfg']).data as Record<string, string>;
    expect(data['keepalived-ds-2.conf']).toMatch(/unicast_src_ip 10\.1\.0\.12\n/);
    expect(data['keepalived-ds-2.conf']).toMatch(/unicast_peer \{\n\s+10\.1\.0\.11\n\s+10\.1\.0\.13\n/);
  });
});

describe('disaster paths that the cluster file reaches', () => {
  test('servers install the NFS client where a backup target is NFS; agents do not', () => {
    expect(parseYaml(treeOf(example).get('nodes/master-1/user-data.yaml') as string).packages).toContain('nfs-common');
    expect(parseYaml(treeOf(example).get('nodes/worker-1/user-data.yaml') as string).packages).toBeUndefined();
    expect(parseYaml(treeOf(ipv6).get('nodes/v6-1/user-data.yaml') as string).packages).toBeUndefined();
  });

  test('backup CronJobs mount a snapshot folder that may not exist yet, on the schedule\'s own time zone', () => {
    const berlin = loadCluster(path.join(GOOD, 'ha.yaml'), (t) => t.replace('schedule: "30 */6 * * *"', 'schedule: "30 */6 * * *"\n    timeZone: Europe/Berlin'));
    for (const [c, zone] of [[example, 'Etc/UTC'], [berlin, 'Europe/Berlin']] as const) {
      const cron = manifestObjects(treeOf(c)).find((o) => o.kind === 'CronJob');
      expect(cron.spec.timeZone).toBe(zone);
      const hostPath = cron.spec.jobTemplate.spec.template.spec.volumes.find((v: { hostPath?: unknown }) => v.hostPath).hostPath;
      expect(hostPath.type).toBe('DirectoryOrCreate');
    }
    expect(treeOf(berlin).get('RUNBOOK.md')).toContain('in Europe/Berlin');
  });

  test('every upgrade Plan tolerates every taint, so no tainted node is skipped', () => {
    const enterprise = loadCluster(path.join(GOOD, 'enterprise.yaml'), (t) => t.replace('{ name: app-1, role: agent, address: 172.16.1.21,', '{ name: app-1, role: agent, address: 172.16.1.21, taints: ["gpu=true:NoSchedule"],'));
    const plans = parseYaml(`[${(treeOf(enterprise).get('upgrades/plans/plans.k8s.yaml') as string).split(/^---$/m).map((d) => JSON.stringify(parseYaml(d))).join(',')}]`);
    const planObjects = plans.filter((p: { kind: string }) => p.kind === 'Plan');
    expect(planObjects.map((p: { metadata: { name: string } }) => p.metadata.name)).toEqual(['k3s-gitops-config-servers', 'k3s-gitops-config-agents', 'k3s-server', 'k3s-agent']);
    for (const plan of planObjects) expect(plan.spec.tolerations).toEqual([{ operator: 'Exists' }]);
  });
});
