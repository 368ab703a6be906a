import { flagsFor } from '../k3s/flags';
import { parseK3sVersion, supportsS3ConfigSecret } from '../k3s/version';
import {
  CRITICAL_SERVER_KEYS, isRestrictedLabel, NODE_PORT_RANGE, SECRET_KEYS, SERVER_NODE_PORTS,
} from '../k3s/facts';
import { type Finding, pointer, show } from './diagnostics';
import { isValidCron } from './cron';
import { addressFamily, cidrContains, cidrsOverlap, isDnsName, isIp, parseCidrList, type Cidr } from './net';
import { nfsCopyDir, type ResolvedCluster, type ResolvedNode } from './resolve';
import { LB_METRICS } from '../names';
import type { K3sConfigMap } from './types';

/**
 * K3s keys the cluster file owns: setting them through extraConfig would fight the
 * compiler (or, for the lifecycle keys, break joins), so each names its field.
 */
export const OWNED_KEYS: ReadonlyMap<string, string> = new Map([
  ['token-file', '/spec/token/file'],
  ['system-default-registry', '/spec/k3s/systemDefaultRegistry'],
  ['agent-token-file', '/spec/token/agentFile'],
  ['server', '/spec/controlPlane/endpoint and /spec/bootstrapped'],
  ['cluster-init', '/spec/bootstrapped'],
  ['node-name', '/spec/nodes/N/name'],
  ['node-ip', '/spec/nodes/N/address'],
  ['node-external-ip', '/spec/nodes/N/externalAddress'],
  ['node-label', '/spec/nodes/N/labels'],
  ['node-taint', '/spec/nodes/N/taints'],
  ['tls-san', '/spec/controlPlane/dnsNames'],
  ['cluster-cidr', '/spec/network/clusterCidr'],
  ['service-cidr', '/spec/network/serviceCidr'],
  ['cluster-dns', '/spec/network/clusterDns'],
  ['cluster-domain', '/spec/network/clusterDomain'],
  ['flannel-backend', '/spec/network/flannelBackend'],
  ['secrets-encryption', '/spec/secretsEncryption'],
  ['write-kubeconfig-mode', 'nothing: it is always "0600"'],
  ['etcd-snapshot-schedule-cron', '/spec/etcd/snapshots/schedule'],
  ['etcd-snapshot-retention', '/spec/etcd/snapshots/retention'],
  ['etcd-s3', '/spec/etcd/s3'],
  ['etcd-s3-endpoint', '/spec/etcd/s3/endpoint'],
  ['etcd-s3-bucket', '/spec/etcd/s3/bucket'],
  ['etcd-s3-folder', '/spec/etcd/s3/folder'],
  ['etcd-s3-region', '/spec/etcd/s3/region'],
  ['etcd-s3-config-secret', '/spec/etcd/s3/configSecret'],
  ['etcd-s3-insecure', '/spec/etcd/s3/insecure'],
  ['cluster-reset', 'the `seed --restore` command'],
  ['cluster-reset-restore-path', 'the `seed --restore` command'],
]);

/** Server keys that only make sense cluster-wide: per node they break joins or backups. */
const CLUSTER_WIDE_KEYS: ReadonlySet<string> = new Set([...CRITICAL_SERVER_KEYS, 'data-dir', 'etcd-snapshot-dir']);

/** A rule: looks at the resolved cluster, returns what is wrong. */
type Rule = (c: ResolvedCluster) => Finding[];

const nodePtr = (n: ResolvedNode, ...rest: (string | number)[]) => pointer('spec', 'nodes', n.index, ...rest);

const version: Rule = (c) => (parseK3sVersion(c.k3sVersion) ? [] : [{
  code: 'K3S_VERSION', pointer: '/spec/k3s/version',
  message: `found ${show(c.k3sVersion)}; expected a pinned release such as "v1.36.3+k3s1" (vMAJOR.MINOR.PATCH+k3sN), never a channel`,
}]);

const quorum: Rule = (c) => {
  const n = c.servers.length;
  if (n === 0) return [{ code: 'NO_SERVER', pointer: '/spec/nodes', message: 'no node has role "server"; a cluster needs 1, 3 or 5 servers' }];
  if (n === 1) return [{ code: 'SINGLE_SERVER', severity: 'warning', pointer: '/spec/nodes', message: 'one server: no HA, lab only; losing it loses the control plane. Use 3 servers (tolerates 1 failure)' }];
  if (n % 2 === 0) {
    const q = c.quorum;
    return [{
      code: 'EVEN_SERVERS', pointer: '/spec/nodes',
      message: `${n} servers: etcd quorum is ${q.quorum}, so it tolerates ${q.tolerated} failure(s), the same as ${n - 1}; an even count adds a member that must stay up without adding tolerance. Use ${n - 1} or ${n + 1} servers`,
    }];
  }
  return [];
};

const uniqueness: Rule = (c) => {
  const findings: Finding[] = [];
  const names = new Map<string, string>();
  const addresses = new Map<string, string>();
  const claim = (map: Map<string, string>, key: string, where: string, code: string, what: string) => {
    const first = map.get(key);
    if (first !== undefined) findings.push({ code, pointer: where, message: `${what} ${show(key)} is already used at ${first}; each must be unique` });
    else map.set(key, where);
  };
  for (const n of c.nodes) {
    claim(names, n.name, nodePtr(n, 'name'), 'DUPLICATE_NAME', 'name');
    claim(addresses, n.address, nodePtr(n, 'address'), 'DUPLICATE_ADDRESS', 'address');
  }
  c.loadBalancer.hosts.forEach((h, i) => {
    claim(names, h.name, pointer('spec', 'controlPlane', 'loadBalancer', 'hosts', i, 'name'), 'DUPLICATE_NAME', 'name');
    claim(addresses, h.address, pointer('spec', 'controlPlane', 'loadBalancer', 'hosts', i, 'address'), 'DUPLICATE_ADDRESS', 'address');
  });
  const targets = new Map<string, string>();
  c.backup?.targets.forEach((t, i) => claim(targets, t.name, pointer('spec', 'backup', 'targets', i, 'name'), 'DUPLICATE_NAME', 'backup target name'));
  return findings;
};

const addresses: Rule = (c) => {
  const findings: Finding[] = [];
  const needIp = (value: string, where: string) => {
    if (!isIp(value)) findings.push({ code: 'INVALID_ADDRESS', pointer: where, message: `found ${show(value)}; expected an IPv4 or IPv6 address` });
  };
  const addressList = (list: readonly string[], where: string) => {
    list.forEach((a) => needIp(a, where));
    const families = list.map(addressFamily);
    if (list.length > 2 || (families.length === 2 && families[0] === families[1])) {
      findings.push({ code: 'ADDRESS_FAMILY', pointer: where, message: `found ${show(list.join(','))}; a node has one address, or one IPv4 and one IPv6 address (dual-stack), comma-separated` });
    }
  };
  for (const n of c.nodes) {
    addressList(n.addresses, nodePtr(n, 'address'));
    if (n.externalAddresses.length > 0) addressList(n.externalAddresses, nodePtr(n, 'externalAddress'));
  }
  c.loadBalancer.hosts.forEach((h, i) => needIp(h.address, pointer('spec', 'controlPlane', 'loadBalancer', 'hosts', i, 'address')));
  c.backup?.targets.forEach((t, i) => {
    if (t.nfs && !isIp(t.nfs.server) && !isDnsName(t.nfs.server)) {
      findings.push({ code: 'INVALID_ADDRESS', pointer: pointer('spec', 'backup', 'targets', i, 'nfs', 'server'), message: `found ${show(t.nfs.server)}; expected an IP address or DNS name` });
    }
  });
  return findings;
};

const endpoint: Rule = (c) => {
  const findings: Finding[] = [];
  const where = '/spec/controlPlane/endpoint';
  if (!c.endpointSet && (c.servers.length > 1 || c.loadBalancer.mode !== 'none')) {
    const why = c.servers.length > 1 ? `${c.servers.length} servers need a fixed registration address` : `loadBalancer mode "${c.loadBalancer.mode}" needs the address it holds`;
    findings.push({ code: 'ENDPOINT_REQUIRED', pointer: '/spec/controlPlane', message: `${why} (a VIP or DNS name) in controlPlane.endpoint; without one, every node depends on the first server` });
    return findings;
  }
  if (!isIp(c.endpoint) && !isDnsName(c.endpoint)) {
    findings.push({ code: 'INVALID_ADDRESS', pointer: where, message: `found ${show(c.endpoint)}; expected an IP address or DNS name` });
  } else if (c.loadBalancer.mode !== 'none' && !isIp(c.endpoint)) {
    findings.push({ code: 'ENDPOINT_NOT_IP', pointer: where, message: `found ${show(c.endpoint)}; loadBalancer mode "${c.loadBalancer.mode}" holds the endpoint as a keepalived VIP, which must be an IP address` });
  }
  if (c.servers.length > 1 || c.loadBalancer.mode !== 'none') {
    const owner = c.nodes.find((n) => n.address === c.endpoint) ?? c.loadBalancer.hosts.find((h) => h.address === c.endpoint);
    if (owner) findings.push({ code: 'ENDPOINT_IS_NODE', pointer: where, message: `endpoint ${show(c.endpoint)} is the address of ${owner.name}; it must be a VIP or name that survives that machine` });
  }
  return findings;
};

const network: Rule = (c) => {
  const findings: Finding[] = [];
  const parsed: Record<string, Cidr[] | undefined> = {};
  for (const [field, value] of [['clusterCidr', c.network.clusterCidr], ['serviceCidr', c.network.serviceCidr]] as const) {
    parsed[field] = parseCidrList(value);
    if (!parsed[field]) findings.push({ code: 'INVALID_CIDR', pointer: `/spec/network/${field}`, message: `found ${show(value)}; expected network CIDRs such as "10.42.0.0/16" (comma-separated for dual-stack), with no host bits set` });
  }
  const pods = parsed.clusterCidr;
  const services = parsed.serviceCidr;
  if (pods && services && pods.some((p) => services.some((s) => cidrsOverlap(p, s)))) {
    findings.push({ code: 'CIDR_OVERLAP', pointer: '/spec/network/serviceCidr', message: `serviceCidr ${c.network.serviceCidr} overlaps clusterCidr ${c.network.clusterCidr}; pod and service ranges must be disjoint` });
  }
  if (!isIp(c.network.clusterDns)) {
    findings.push({ code: 'INVALID_ADDRESS', pointer: '/spec/network/clusterDns', message: `found ${show(c.network.clusterDns)}; expected an IP address inside serviceCidr` });
  } else if (services && !services.some((s) => cidrContains(s, c.network.clusterDns))) {
    findings.push({ code: 'DNS_OUTSIDE_SERVICE_CIDR', pointer: '/spec/network/clusterDns', message: `clusterDns ${c.network.clusterDns} is outside serviceCidr ${c.network.serviceCidr}; CoreDNS's Service IP must come from the service range` });
  }
  for (const n of c.nodes) {
    for (const address of n.addresses) {
      const range = [...(pods ?? []), ...(services ?? [])].find((b) => cidrContains(b, address));
      if (range) findings.push({ code: 'ADDRESS_IN_CLUSTER_CIDR', pointer: nodePtr(n, 'address'), message: `node address ${address} lies inside the cluster's own range ${range[0].toString()}/${range[1]}; node, pod and service networks must be disjoint` });
    }
  }
  return [...findings, ...(pods && services ? addressFamilies(c, pods, services) : [])];
};

const familyNames = (families: ReadonlySet<string>) => [...families].sort().map((f) => (f === 'ipv4' ? 'IPv4' : 'IPv6')).join(' and ') || 'none';
const sameFamilies = (a: ReadonlySet<string>, b: ReadonlySet<string>) => a.size === b.size && [...a].every((f) => b.has(f));

/**
 * K3s refuses to start a node whose node-ip families differ from cluster-cidr's:
 * "cluster-cidr: ... and node-ip: ..., must share the same IP version (IPv4, IPv6 or
 * dual-stack)" (k3s-io/k3s pkg/agent/run.go). Pod and service ranges must match too.
 */
function addressFamilies(c: ResolvedCluster, pods: Cidr[], services: Cidr[]): Finding[] {
  const findings: Finding[] = [];
  const podFamilies = new Set(pods.map((p) => p[0].kind()));
  const serviceFamilies = new Set(services.map((p) => p[0].kind()));
  if (!sameFamilies(podFamilies, serviceFamilies)) {
    findings.push({ code: 'ADDRESS_FAMILY', pointer: '/spec/network/serviceCidr', message: `serviceCidr is ${familyNames(serviceFamilies)} but clusterCidr is ${familyNames(podFamilies)}; both must cover the same families` });
  }
  for (const n of c.nodes) {
    const families = new Set(n.addresses.map(addressFamily).filter((f): f is 'ipv4' | 'ipv6' => f !== undefined));
    if (families.size > 0 && !sameFamilies(families, podFamilies)) {
      findings.push({ code: 'ADDRESS_FAMILY', pointer: nodePtr(n, 'address'), message: `${n.name} has ${familyNames(families)} address(es) but clusterCidr ${c.network.clusterCidr} is ${familyNames(podFamilies)}; K3s refuses to start a node whose node-ip families differ from cluster-cidr's. Give the node one address per family the cluster has, comma-separated` });
    }
  }
  return findings;
}

const schedules: Rule = (c) => {
  const findings: Finding[] = [];
  const check = (value: string, where: string) => {
    if (!isValidCron(value)) findings.push({ code: 'INVALID_CRON', pointer: where, message: `found ${show(value)}; expected a 5-field cron schedule such as "0 */6 * * *" (minute hour day-of-month month day-of-week)` });
  };
  check(c.snapshots.schedule, '/spec/etcd/snapshots/schedule');
  if (c.backup) check(c.backup.schedule, '/spec/backup/schedule');
  return findings;
};

const loadBalancer: Rule = (c) => {
  const findings: Finding[] = [];
  const lb = c.loadBalancer;
  const where = '/spec/controlPlane/loadBalancer';
  if (lb.mode === 'daemonset') {
    const owner = SERVER_NODE_PORTS.get(lb.port);
    if (owner) findings.push({ code: 'LB_PORT_CONFLICT', pointer: `${where}/port`, message: `port ${lb.port} is taken by K3s's ${owner} on every server node, where the daemonset load balancer runs; pick a free port such as 8443` });
    else if (lb.port >= NODE_PORT_RANGE.min && lb.port <= NODE_PORT_RANGE.max) findings.push({ code: 'LB_PORT_CONFLICT', pointer: `${where}/port`, message: `port ${lb.port} is in the NodePort range ${NODE_PORT_RANGE.min}-${NODE_PORT_RANGE.max}, which kube-proxy owns on every node; pick a port such as 8443` });
  }
  if (lb.mode === 'external' && lb.hosts.length === 0) {
    findings.push({ code: 'LB_HOSTS_REQUIRED', pointer: `${where}/hosts`, message: 'mode "external" needs the LB machines in hosts: [{name, address}], two or more for HA' });
  } else if (lb.mode === 'external' && lb.hosts.length === 1) {
    findings.push({ code: 'LB_SINGLE_HOST', severity: 'warning', pointer: `${where}/hosts`, message: 'one LB machine: the endpoint dies with it; add a second host for keepalived to fail over to' });
  }
  if (lb.mode !== 'none' && isIp(c.endpoint)) {
    // keepalived speaks VRRP in the VIP's family: every peer needs an address of it.
    const family = addressFamily(c.endpoint);
    const peers = lb.mode === 'external'
      ? lb.hosts.map((h, i) => ({ name: h.name, addresses: [h.address], at: pointer('spec', 'controlPlane', 'loadBalancer', 'hosts', i, 'address') }))
      : c.servers.map((s) => ({ name: s.name, addresses: s.addresses, at: nodePtr(s, 'address') }));
    const lacksFamily = (addresses: readonly string[]) => addresses.every(isIp) && !addresses.some((a) => addressFamily(a) === family);
    for (const p of peers.filter((peer) => lacksFamily(peer.addresses))) {
      findings.push({ code: 'ADDRESS_FAMILY', pointer: p.at, message: `${p.name} holds the VIP ${c.endpoint} with keepalived, which talks to its peers in the VIP's family; give it an ${family === 'ipv4' ? 'IPv4' : 'IPv6'} address` });
    }
  }
  if (lb.mode !== 'external' && lb.hosts.length > 0) {
    findings.push({ code: 'LB_HOSTS_UNUSED', pointer: `${where}/hosts`, message: `hosts lists LB machines, but mode is "${lb.mode}"; hosts are used only with mode "external"` });
  }
  return findings;
};

const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;
const TAINT = /^([^=:]+)(=([^:]*))?:(NoSchedule|PreferNoSchedule|NoExecute)$/;

const labelsAndTaints: Rule = (c) => {
  const findings: Finding[] = [];
  for (const n of c.nodes) {
    for (const [key, value] of Object.entries(n.labels)) {
      const where = nodePtr(n, 'labels', key);
      if (!QUALIFIED_NAME.test(key) || key.split('/')[0].length > 253) {
        findings.push({ code: 'INVALID_LABEL', pointer: where, atKey: true, message: `label key ${show(key)} is not a valid Kubernetes label key ([prefix/]name, name at most 63 characters)` });
      } else if (isRestrictedLabel(key)) {
        findings.push({ code: 'RESTRICTED_LABEL', pointer: where, atKey: true, message: `label ${show(key)} is in a kubernetes.io/k8s.io namespace the kubelet may not set on itself; the node would be refused at registration. Allowed there: node.kubernetes.io/*, kubelet.kubernetes.io/*, topology.kubernetes.io/zone|region and a few well-known keys; or use your own prefix` });
      }
      if (!LABEL_VALUE.test(value)) findings.push({ code: 'INVALID_LABEL', pointer: where, message: `label value ${show(value)} is not valid: at most 63 letters, digits, "-", "_" or ".", starting and ending alphanumeric` });
    }
    n.taints.forEach((taint, i) => {
      const m = TAINT.exec(taint);
      const valid = m && QUALIFIED_NAME.test(m[1]) && LABEL_VALUE.test(m[3] ?? '');
      if (!valid) findings.push({ code: 'INVALID_TAINT', pointer: nodePtr(n, 'taints', i), message: `found ${show(taint)}; expected key[=value]:Effect with Effect one of NoSchedule, PreferNoSchedule, NoExecute` });
    });
  }
  return findings;
};

/** Checks one extraConfig map against K3s's flags for a role and the keys we own. */
function checkExtraConfig(map: K3sConfigMap, role: 'server' | 'agent', where: string, perNode: boolean): Finding[] {
  const findings: Finding[] = [];
  const flags = flagsFor(role);
  for (const [key, value] of Object.entries(map)) {
    const at = `${where}${pointer(key)}`;
    if (SECRET_KEYS.has(key)) {
      findings.push({ code: 'SECRET_IN_CONFIG', pointer: at, atKey: true, message: `"${key}" carries a secret, and dist/ is committed to Git; the join token is read from token.file, S3 keys from etcd.s3.configSecret` });
    } else if (!flags.has(key)) {
      const other = role === 'agent' && flagsFor('server').has(key);
      findings.push({ code: 'UNKNOWN_K3S_FLAG', pointer: at, atKey: true, message: other ? `"${key}" is a server-only flag; K3s agents ignore it silently, so it cannot go in agent config` : `"${key}" is not a K3s ${role} flag (K3s config keys are the long flag names of \`k3s ${role} --help\`)` });
    } else if (OWNED_KEYS.has(key) && !(perNode && role === 'server' && key === 'disable')) {
      findings.push({ code: 'OWNED_KEY', pointer: at, atKey: true, message: `"${key}" is set by the compiler from ${OWNED_KEYS.get(key)}; set it there` });
    } else if (perNode && role === 'server' && CLUSTER_WIDE_KEYS.has(key)) {
      findings.push({ code: 'NODE_CRITICAL_KEY', pointer: at, atKey: true, message: `"${key}" must be identical on every server, or joining servers fail; set it in extraConfig.servers instead of on one node` });
    } else if (perNode && role === 'server' && key === 'disable') {
      // K3s needs the same packaged components on every server: a server without one
      // deletes the manifests the others deploy ("Critical Configuration Values", docs/cli/server.md).
      findings.push({ code: 'NODE_CRITICAL_KEY', pointer: at, atKey: true, message: `"disable: ${[value].flat().join(',')}" must be identical on every server; put it in spec.disable` });
    }
  }
  return findings;
}

const extraConfig: Rule = (c) => [
  ...checkExtraConfig(c.extraConfig.servers, 'server', '/spec/extraConfig/servers', false),
  ...checkExtraConfig(c.extraConfig.agents, 'agent', '/spec/extraConfig/agents', false),
  ...c.nodes.flatMap((n) => checkExtraConfig(n.extraConfig, n.role, nodePtr(n, 'extraConfig'), true)),
];

/** `host` or `host:port`, as K3s and the AWS CLI take an S3 endpoint and K3s a registry; `plainHttp` says how to get http. */
function hostPortProblem(endpoint: string, plainHttp: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint)) return `has a scheme; write host[:port] (${plainHttp})`;
  const m = /^(\[[^\]]+\]|[^:/]+)(:(\d{1,5}))?$/.exec(endpoint);
  if (!m) return 'is not host[:port]';
  const host = m[1].startsWith('[') ? m[1].slice(1, -1) : m[1];
  if (!isIp(host) && !isDnsName(host)) return 'has a host that is neither an IP address nor a DNS name';
  if (m[3] !== undefined && (Number(m[3]) < 1 || Number(m[3]) > 65535)) return 'has a port outside 1-65535';
  return undefined;
}

/**
 * S3 endpoints are host[:port]: K3s hands `etcd-s3-endpoint` to its S3 client as is
 * (`minio.New(endpoint, ...)`, k3s-io/k3s pkg/etcd/s3/s3.go) and picks the scheme from
 * `etcd-s3-insecure`, so "https://..." is refused (k3s-io/k3s#8924). And only some
 * releases read `etcd-s3-config-secret`.
 */
const s3: Rule = (c) => {
  const findings: Finding[] = [];
  const endpoint = (value: string, where: string) => {
    const problem = hostPortProblem(value, 'for plain HTTP, set insecure: true');
    if (problem) findings.push({ code: 'S3_ENDPOINT', pointer: where, message: `S3 endpoint ${show(value)} ${problem}; for example "s3.eu-west-1.amazonaws.com" or "minio.example.internal:9000"` });
  };
  if (c.etcdS3) endpoint(c.etcdS3.endpoint, '/spec/etcd/s3/endpoint');
  c.backup?.targets.forEach((t, i) => { if (t.s3) endpoint(t.s3.endpoint, pointer('spec', 'backup', 'targets', i, 's3', 'endpoint')); });
  const version = parseK3sVersion(c.k3sVersion);
  if (c.etcdS3?.configSecret && version && !supportsS3ConfigSecret(version)) {
    findings.push({ code: 'S3_CONFIG_SECRET_UNSUPPORTED', pointer: '/spec/etcd/s3/configSecret', message: `K3s ${c.k3sVersion} does not read etcd-s3-config-secret; it came in v1.28.13+k3s1, v1.29.8+k3s1, v1.30.4+k3s1 and every release after. Upgrade, or drop configSecret and give the node AWS_* keys in its environment` });
  }
  return findings;
};

/** Kubernetes reads a CronJob's `timeZone` as an IANA zone name. */
const TIME_ZONE = /^(UTC|Etc\/[A-Za-z0-9+-]+|[A-Z][A-Za-z_-]+(\/[A-Za-z0-9_+-]+){1,2})$/;

const timeZone: Rule = (c) => (c.backup && !TIME_ZONE.test(c.backup.timeZone) ? [{
  code: 'INVALID_TIME_ZONE', pointer: '/spec/backup/timeZone',
  message: `found ${show(c.backup.timeZone)}; expected an IANA time zone such as "Etc/UTC" or "Europe/Berlin", the zone the servers' clocks use if copies should follow K3s's snapshots`,
}] : []);

const backupTargets: Rule = (c) => (c.backup?.targets ?? []).flatMap((t, i) => ((t.nfs ? 1 : 0) + (t.s3 ? 1 : 0) === 1 ? [] : [{
  code: 'BACKUP_TARGET_KIND', pointer: pointer('spec', 'backup', 'targets', i),
  message: `target ${show(t.name)} must have exactly one of nfs or s3`,
}]));

/** One place a cluster's off-node copies live, where a job lists them and prunes to a count. */
export interface CopyLocation {
  /** Equal for two locations that are the same place. */
  readonly key: string;
  /** The place, as messages name it. */
  readonly where: string;
  /** The field that puts the copies there. */
  readonly pointer: string;
}

/** An S3 place: endpoints compare without case, folders without their outer slashes. */
function s3Location(endpoint: string, bucket: string, folder: string): Pick<CopyLocation, 'key' | 'where'> {
  const prefix = folder.split('/').filter(Boolean).join('/');
  return { key: `s3 ${endpoint.toLowerCase()} ${bucket} ${prefix}`, where: `s3://${bucket}/${prefix ? `${prefix}/` : ''} at ${endpoint}` };
}

/**
 * Every place a cluster's copies live and are pruned: its NFS folders, its S3 target
 * folders, and K3s's own upload (K3s prunes it to the retention count too, listing
 * every object under `<folder>/<etcd-snapshot-name>`: k3s-io/k3s pkg/etcd/s3
 * `SnapshotRetention`).
 */
export function copyLocations(c: ResolvedCluster): CopyLocation[] {
  const locations: CopyLocation[] = [];
  c.backup?.targets.forEach((t, i) => {
    if (t.nfs) {
      const dir = nfsCopyDir(t.nfs);
      locations.push({ key: `nfs ${t.nfs.server.toLowerCase()} ${dir}`, where: `NFS ${t.nfs.server}:${dir}`, pointer: pointer('spec', 'backup', 'targets', i, 'nfs') });
    }
    if (t.s3) locations.push({ ...s3Location(t.s3.endpoint, t.s3.bucket, t.s3.folder), pointer: pointer('spec', 'backup', 'targets', i, 's3') });
  });
  if (c.etcdS3) locations.push({ ...s3Location(c.etcdS3.endpoint, c.etcdS3.bucket, c.etcdS3.folder ?? ''), pointer: '/spec/etcd/s3' });
  return locations;
}

/**
 * Clusters of one run whose copies would land in one place: each cluster's job would
 * list the other's copies and prune them to its own retention (SPEC: "a job deletes
 * only its own cluster's files"). The later cluster gets the finding, naming the first.
 * Returns one list of findings per cluster, in order.
 */
export function sharedCopyLocations(clusters: readonly { readonly file: string; readonly cluster: ResolvedCluster }[]): Finding[][] {
  const first = new Map<string, { file: string; cluster: string; pointer: string }>();
  return clusters.map(({ file, cluster }) => {
    const own = copyLocations(cluster);
    const findings = own.flatMap((loc): Finding[] => {
      const other = first.get(loc.key);
      return other ? [{
        code: 'BACKUP_TARGET_SHARED', pointer: loc.pointer,
        message: `${loc.where} is also where cluster "${other.cluster}" (${other.file} ${other.pointer}) keeps its copies: each cluster's job would list and prune the other's; give this one a folder of its own`,
      }] : [];
    });
    for (const loc of own) if (!first.has(loc.key)) first.set(loc.key, { file, cluster: cluster.name, pointer: loc.pointer });
    return findings;
  });
}

/** K3s's inline registry credentials, each with the file key that replaces it. */
export const INLINE_REGISTRY_AUTH: Readonly<Record<string, string>> = {
  username: 'username_file', password: 'password_file', auth: 'auth_file', token: 'auth_file', identity_token: 'auth_file',
};

/**
 * Registries: credentials stay files on the node (dist/ is committed), basic auth comes
 * as a pair, and the system default registry is a registry host, as K3s prefixes it to
 * image names (`<registry>/<image>`).
 */
const registries: Rule = (c) => {
  const findings: Finding[] = [];
  for (const [name, config] of Object.entries(c.registries?.configs ?? {})) {
    const auth = config.auth;
    if (!auth) continue;
    const at = pointer('spec', 'registries', 'configs', name, 'auth');
    for (const [key, fileKey] of Object.entries(INLINE_REGISTRY_AUTH)) {
      if (auth[key as keyof typeof auth] !== undefined) findings.push({ code: 'SECRET_IN_CONFIG', pointer: `${at}/${key}`, atKey: true, message: `registry ${show(name)}: "${key}" is a credential, and dist/ is committed to Git; put it in a file on the node and name it with ${fileKey} (k3s-gitops seed --registry-credential fills it)` });
    }
    const basic = [auth.username_file, auth.password_file].filter(Boolean).length;
    if (basic === 1) findings.push({ code: 'REGISTRY_AUTH', pointer: at, message: `registry ${show(name)}: basic auth needs both username_file and password_file` });
    if (basic > 0 && auth.auth_file) findings.push({ code: 'REGISTRY_AUTH', pointer: at, message: `registry ${show(name)}: give username_file and password_file, or auth_file, not both` });
  }
  const registry = c.systemDefaultRegistry;
  const problem = registry === undefined ? undefined : hostPortProblem(registry, 'a plain-HTTP registry is a mirror endpoint http://... in registries');
  if (problem) findings.push({ code: 'INVALID_REGISTRY', pointer: '/spec/k3s/systemDefaultRegistry', message: `registry ${show(registry as string)} ${problem}; for example "registry.example.internal:5000"` });
  return findings;
};

/** The agent token must be another file, or agents would hold the server token after all. */
function tokens(c: ResolvedCluster): Finding[] {
  if (c.agentTokenFile !== c.tokenFile) return [];
  return [{ code: 'AGENT_TOKEN_FILE', pointer: '/spec/token/agentFile', message: `agentFile is ${show(c.tokenFile)}, the server token's file; give the agent token a file of its own, e.g. /etc/rancher/k3s/agent-token` }];
}

/**
 * The load balancer, backups, certificate checks and every day-2 change reach the
 * cluster only through manifests/ and upgrades/, which only the GitOps engine applies.
 */
const gitops: Rule = (c) => (c.gitops ? [] : [{
  code: 'NO_GITOPS', severity: 'warning', pointer: '/spec',
  message: 'no spec.gitops: nothing applies manifests/ or upgrades/, so the cluster gets no load balancer, no backup or certificate CronJobs and no day-2 changes unless you apply them yourself (kubectl apply -k); add spec.gitops with engine flux or argocd',
}]);

/**
 * Monitoring: its labels are Kubernetes labels; HAProxy's exporter port is not the
 * one the load balancer listens on; `etcd-expose-metrics` is the compiler's once
 * `etcdMetrics` sets it (an extraConfig `false` would leave the ServiceMonitor
 * scraping a port nothing serves).
 */
const monitoring: Rule = (c) => {
  const findings: Finding[] = [];
  for (const [key, value] of Object.entries(c.monitoring.labels)) {
    const where = pointer('spec', 'monitoring', 'labels', key);
    if (!QUALIFIED_NAME.test(key) || key.split('/')[0].length > 253) findings.push({ code: 'INVALID_LABEL', pointer: where, atKey: true, message: `label key ${show(key)} is not a valid Kubernetes label key ([prefix/]name, name at most 63 characters)` });
    if (!LABEL_VALUE.test(value)) findings.push({ code: 'INVALID_LABEL', pointer: where, message: `label value ${show(value)} is not valid: at most 63 letters, digits, "-", "_" or ".", starting and ending alphanumeric` });
  }
  if (c.monitoring.prometheusRules && c.loadBalancer.mode !== 'none' && c.loadBalancer.port === LB_METRICS.port) {
    findings.push({ code: 'LB_PORT_CONFLICT', pointer: '/spec/controlPlane/loadBalancer/port', message: `port ${LB_METRICS.port} is where HAProxy serves its Prometheus exporter with monitoring.prometheusRules; pick another port such as 8443` });
  }
  if (c.monitoring.etcdMetrics) {
    const sources: [K3sConfigMap, string][] = [[c.extraConfig.servers, '/spec/extraConfig/servers'], ...c.servers.map((n): [K3sConfigMap, string] => [n.extraConfig, nodePtr(n, 'extraConfig')])];
    for (const [map, where] of sources) {
      if ('etcd-expose-metrics' in map) findings.push({ code: 'OWNED_KEY', pointer: `${where}${pointer('etcd-expose-metrics')}`, atKey: true, message: '"etcd-expose-metrics" is set by the compiler from /spec/monitoring/etcdMetrics; set it there' });
    }
  }
  return findings;
};

/** Every semantic rule, in the order their findings read best. */
export const RULES: readonly Rule[] = [
  version, quorum, uniqueness, addresses, endpoint, network, schedules, timeZone, loadBalancer, labelsAndTaints, extraConfig, s3, backupTargets, tokens, registries, monitoring, gitops,
];

/** Runs every rule; never stops at the first problem. */
export function checkRules(c: ResolvedCluster): Finding[] {
  return RULES.flatMap((rule) => rule(c));
}
