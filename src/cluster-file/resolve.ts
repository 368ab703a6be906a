import { posix } from 'node:path';
import { APISERVER_PORT, DATA_DIR, ETCD_DEFAULT_QUOTA_BYTES } from '../k3s/facts';
import { SYSTEM_NAMESPACE } from '../names';
import { urlHost } from './net';
import type {
  BackupNfsTarget, BackupS3Target, ClusterFile, EtcdS3Spec, FlannelBackend, GitOpsEngine, K3sConfigMap, LoadBalancerMode, NodeRole, PackagedComponent, RegistriesSpec,
} from './types';

/** A node with every default applied. `index` is its place in `spec.nodes`. */
export interface ResolvedNode {
  readonly index: number;
  readonly name: string;
  readonly role: NodeRole;
  /** The node's first address: what peers, backends and commands use. */
  readonly address: string;
  /** Every address as written, one per family on a dual-stack node (K3s's `node-ip`). */
  readonly addresses: readonly string[];
  readonly externalAddresses: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
  readonly taints: readonly string[];
  readonly extraConfig: K3sConfigMap;
}

export interface ResolvedLoadBalancer {
  readonly mode: LoadBalancerMode;
  readonly port: number;
  readonly interface: string;
  readonly virtualRouterId: number;
  /** Seconds between VRRPv3 adverts; a backup takes over after three missed ones. */
  readonly advertInterval: number;
  readonly hosts: readonly { readonly name: string; readonly address: string }[];
}

/** etcd quorum arithmetic for a server count. */
export interface Quorum {
  readonly servers: number;
  readonly quorum: number;
  readonly tolerated: number;
}

export interface ResolvedBackupTarget {
  readonly name: string;
  readonly nfs?: Required<BackupNfsTarget>;
  readonly s3?: Required<BackupS3Target>;
}

/** The directory below an NFS export that holds one cluster's copies: `<path>/<folder>`. */
export function nfsCopyDir(nfs: Required<BackupNfsTarget>): string {
  return posix.normalize(`${nfs.path}/${nfs.folder}`);
}

/** The cluster with every default resolved: what renderers and charts consume. */
export interface ResolvedCluster {
  readonly name: string;
  /** The cluster file's path as shown in the generated-by line. */
  readonly source: string;
  readonly k3sVersion: string;
  /** How nodes get K3s: the official installer online, or files staged on the machine. */
  readonly install: 'online' | 'airgap';
  /** K3s's system-default-registry, also the prefix of every image of ours. */
  readonly systemDefaultRegistry?: string;
  /** K3s's registries.yaml for every node, credentials as files on the node. */
  readonly registries?: RegistriesSpec;
  readonly bootstrapped: boolean;
  /** The registration address: VIP, DNS name, or the first server (mode none). */
  readonly endpoint: string;
  /** Whether the cluster file set the endpoint, rather than it defaulting to the first server. */
  readonly endpointSet: boolean;
  /** Where the endpoint accepts API and join traffic. */
  readonly endpointPort: number;
  readonly dnsNames: readonly string[];
  readonly loadBalancer: ResolvedLoadBalancer;
  readonly tokenFile: string;
  /** The agent token's path, where agents keep apart from the server token. */
  readonly agentTokenFile?: string;
  readonly nodes: readonly ResolvedNode[];
  readonly servers: readonly ResolvedNode[];
  readonly agents: readonly ResolvedNode[];
  readonly network: {
    readonly clusterCidr: string;
    readonly serviceCidr: string;
    readonly clusterDns: string;
    readonly clusterDomain: string;
    readonly flannelBackend: FlannelBackend;
  };
  readonly disable: readonly PackagedComponent[];
  readonly secretsEncryption: boolean;
  readonly dataDir: string;
  readonly snapshots: { readonly schedule: string; readonly retention: number; readonly dir: string; readonly name: string };
  readonly etcdS3?: Required<Omit<EtcdS3Spec, 'configSecret' | 'folder'>> & Pick<EtcdS3Spec, 'configSecret' | 'folder'>;
  /** `timeZone` is the IANA zone the copy schedule is read in. */
  readonly backup?: { readonly schedule: string; readonly timeZone: string; readonly targets: readonly ResolvedBackupTarget[] };
  readonly gitops?: { readonly engine: GitOpsEngine; readonly repository: string; readonly branch: string; readonly secretName?: string; readonly upgrades: boolean };
  readonly cloudInit: {
    readonly sshAuthorizedKeys: readonly string[];
    readonly packages: readonly string[];
    readonly preInstallCommands: readonly string[];
    readonly postInstallCommands: readonly string[];
  };
  readonly extraConfig: { readonly servers: K3sConfigMap; readonly agents: K3sConfigMap };
  readonly quorum: Quorum;
  readonly upgrades: { readonly controller: 'bundled' | 'external'; readonly agentConcurrency: number };
  readonly certificates: { readonly warnDays: number };
  /** Alerts and scrape objects for prometheus-operator; `namespace` is where they go. */
  readonly monitoring: { readonly prometheusRules: boolean; readonly namespace: string; readonly labels: Readonly<Record<string, string>>; readonly etcdMetrics: boolean };
  /**
   * etcd's backend quota in bytes: etcd's default, or `quota-backend-bytes` given through
   * `etcd-arg` (a node's own extraConfig replaces the servers' list); the smallest
   * where servers differ, as the one that fills first.
   */
  readonly etcdQuotaBytes: number;
}

/** K3s's own defaults, and ours where K3s has none. */
export const DEFAULTS = {
  tokenFile: '/etc/rancher/k3s/token',
  certificateWarnDays: 30,
  loadBalancerMode: 'none' as LoadBalancerMode,
  daemonsetPort: 8443,
  externalPort: APISERVER_PORT,
  vrrpInterface: 'eth0',
  virtualRouterId: 51,
  // 0.2 s: a crashed holder replaced in 0.5-0.8 s (3 adverts + skew), well inside the
  // 2 s bound; HAProxy's death takes up to the check's second, whatever the adverts.
  // The drill found no flapping at 0.2 with CPU hogs and 5 % loss: a backup missing
  // three adverts in a row (one per 1,600 s per backup at 5 % loss) claims the VIP for
  // one round trip, as the holder outranks it. 0.1 would halve the time between such
  // claims for a crash failover only 0.3 s faster, which the gratuitous ARP and the
  // client's retry then dominate.
  advertIntervalSeconds: 0.2,
  clusterCidr: '10.42.0.0/16',
  serviceCidr: '10.43.0.0/16',
  clusterDns: '10.43.0.10',
  clusterDomain: 'cluster.local',
  flannelBackend: 'vxlan' as FlannelBackend,
  snapshotSchedule: '0 */12 * * *',
  snapshotRetention: 5,
  s3Region: 'us-east-1',
  branch: 'main',
  backupTimeZone: 'Etc/UTC',
  monitoringNamespace: SYSTEM_NAMESPACE,
  etcdQuotaBytes: ETCD_DEFAULT_QUOTA_BYTES,
} as const;

const smallest = (values: readonly number[]) => (values.length > 0 ? values.reduce((a, b) => Math.min(a, b)) : undefined);

/** `quota-backend-bytes` in a list of `etcd-arg` values (`name=value`, dashes optional), if set. */
function quotaFromEtcdArgs(value: unknown): number | undefined {
  const args = Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
  let quota: number | undefined;
  for (const arg of args) {
    const m = /^(?:--)?quota-backend-bytes=(\d+)$/.exec(String(arg).trim());
    // etcd takes the last of a repeated flag; 0 means its default.
    if (m) quota = Number(m[1]) > 0 ? Number(m[1]) : undefined;
  }
  return quota;
}

/** A node's addresses: one, or one per family comma-separated, as K3s's `node-ip` takes them. */
const addressList = (text: string): string[] => text.split(',').map((a) => a.trim());

/** Quorum for n etcd members: a majority; the rest may fail. */
export function quorumFor(servers: number): Quorum {
  const quorum = Math.floor(servers / 2) + 1;
  return { servers, quorum, tolerated: Math.max(0, servers - quorum) };
}

/**
 * Applies every default, once. Input is a schema-valid cluster file; the result is
 * what every later stage works on.
 */
export function resolveCluster(file: ClusterFile, source: string): ResolvedCluster {
  const spec = file.spec;
  const nodes: ResolvedNode[] = spec.nodes.map((n, index) => ({
    index,
    name: n.name,
    role: n.role,
    address: addressList(n.address)[0],
    addresses: addressList(n.address),
    externalAddresses: n.externalAddress ? addressList(n.externalAddress) : [],
    labels: n.labels ?? {},
    taints: n.taints ?? [],
    extraConfig: n.extraConfig ?? {},
  }));
  const servers = nodes.filter((n) => n.role === 'server');
  const lb = spec.controlPlane?.loadBalancer;
  const mode = lb?.mode ?? DEFAULTS.loadBalancerMode;
  const port = lb?.port ?? (mode === 'daemonset' ? DEFAULTS.daemonsetPort : DEFAULTS.externalPort);
  const endpoint = spec.controlPlane?.endpoint ?? servers[0]?.address ?? nodes[0].address;
  const serverExtra = spec.extraConfig?.servers ?? {};
  const dataDir = typeof serverExtra['data-dir'] === 'string' ? serverExtra['data-dir'] : DATA_DIR;
  const snapshotDir = typeof serverExtra['etcd-snapshot-dir'] === 'string' ? serverExtra['etcd-snapshot-dir'] : `${dataDir}/server/db/snapshots`;
  const s3 = spec.etcd?.s3;
  return {
    name: file.metadata.name,
    source,
    k3sVersion: spec.k3s.version,
    install: spec.k3s.install ?? (spec.k3s.airgap ? 'airgap' : 'online'),
    ...(spec.k3s.systemDefaultRegistry ? { systemDefaultRegistry: spec.k3s.systemDefaultRegistry } : {}),
    ...(spec.registries && (Object.keys(spec.registries.mirrors ?? {}).length > 0 || Object.keys(spec.registries.configs ?? {}).length > 0) ? { registries: spec.registries } : {}),
    bootstrapped: spec.bootstrapped ?? false,
    endpoint,
    endpointSet: spec.controlPlane?.endpoint !== undefined && spec.controlPlane.endpoint !== null,
    endpointPort: mode === 'none' ? APISERVER_PORT : port,
    dnsNames: spec.controlPlane?.dnsNames ?? [],
    loadBalancer: {
      mode,
      port,
      interface: lb?.interface ?? DEFAULTS.vrrpInterface,
      virtualRouterId: lb?.virtualRouterId ?? DEFAULTS.virtualRouterId,
      advertInterval: lb?.advertInterval ?? DEFAULTS.advertIntervalSeconds,
      hosts: lb?.hosts ?? [],
    },
    tokenFile: spec.token?.file ?? DEFAULTS.tokenFile,
    ...(spec.token?.agentFile ? { agentTokenFile: spec.token.agentFile } : {}),
    nodes,
    servers,
    agents: nodes.filter((n) => n.role === 'agent'),
    network: {
      clusterCidr: spec.network?.clusterCidr ?? DEFAULTS.clusterCidr,
      serviceCidr: spec.network?.serviceCidr ?? DEFAULTS.serviceCidr,
      clusterDns: spec.network?.clusterDns ?? DEFAULTS.clusterDns,
      clusterDomain: spec.network?.clusterDomain ?? DEFAULTS.clusterDomain,
      flannelBackend: spec.network?.flannelBackend ?? DEFAULTS.flannelBackend,
    },
    disable: [...(spec.disable ?? [])].sort(),
    secretsEncryption: spec.secretsEncryption ?? false,
    dataDir,
    snapshots: {
      schedule: spec.etcd?.snapshots?.schedule ?? DEFAULTS.snapshotSchedule,
      retention: spec.etcd?.snapshots?.retention ?? DEFAULTS.snapshotRetention,
      dir: snapshotDir,
      name: typeof serverExtra['etcd-snapshot-name'] === 'string' ? serverExtra['etcd-snapshot-name'] : 'etcd-snapshot',
    },
    ...(s3 ? {
      etcdS3: {
        endpoint: s3.endpoint, bucket: s3.bucket, region: s3.region ?? DEFAULTS.s3Region, insecure: s3.insecure ?? false,
        ...(s3.folder ? { folder: s3.folder } : {}), ...(s3.configSecret ? { configSecret: s3.configSecret } : {}),
      },
    } : {}),
    ...(spec.backup ? {
      backup: {
        schedule: spec.backup.schedule,
        timeZone: spec.backup.timeZone ?? DEFAULTS.backupTimeZone,
        targets: spec.backup.targets.map((t) => ({
          name: t.name,
          // Several clusters share one NAS export: each keeps its copies in a folder of its own.
          ...(t.nfs ? { nfs: { server: t.nfs.server, path: t.nfs.path, folder: t.nfs.folder ?? file.metadata.name } } : {}),
          ...(t.s3 ? {
            s3: {
              endpoint: t.s3.endpoint, bucket: t.s3.bucket, region: t.s3.region ?? DEFAULTS.s3Region,
              folder: t.s3.folder ?? file.metadata.name, credentialsSecret: t.s3.credentialsSecret,
            },
          } : {}),
        })),
      },
    } : {}),
    ...(spec.gitops ? { gitops: { engine: spec.gitops.engine, repository: spec.gitops.repository, branch: spec.gitops.branch ?? DEFAULTS.branch, upgrades: spec.gitops.upgrades ?? true, ...(spec.gitops.secretName ? { secretName: spec.gitops.secretName } : {}) } } : {}),
    cloudInit: {
      sshAuthorizedKeys: spec.cloudInit?.sshAuthorizedKeys ?? [],
      packages: spec.cloudInit?.packages ?? [],
      preInstallCommands: spec.cloudInit?.preInstallCommands ?? [],
      postInstallCommands: spec.cloudInit?.postInstallCommands ?? [],
    },
    extraConfig: { servers: serverExtra, agents: spec.extraConfig?.agents ?? {} },
    quorum: quorumFor(servers.length),
    upgrades: { controller: spec.upgrades?.controller ?? 'bundled', agentConcurrency: spec.upgrades?.agentConcurrency ?? 1 },
    certificates: { warnDays: spec.certificates?.warnDays ?? DEFAULTS.certificateWarnDays },
    monitoring: {
      prometheusRules: spec.monitoring?.prometheusRules ?? false,
      namespace: spec.monitoring?.namespace ?? DEFAULTS.monitoringNamespace,
      labels: spec.monitoring?.labels ?? {},
      etcdMetrics: spec.monitoring?.etcdMetrics ?? false,
    },
    etcdQuotaBytes: smallest(servers.map((s) => quotaFromEtcdArgs(s.extraConfig['etcd-arg'] ?? serverExtra['etcd-arg']) ?? DEFAULTS.etcdQuotaBytes)) ?? DEFAULTS.etcdQuotaBytes,
  };
}

/** `https://host:port` of the endpoint. */
export function endpointUrl(c: ResolvedCluster): string {
  return `https://${urlHost(c.endpoint)}:${c.endpointPort}`;
}

/**
 * Where a node registers. Before bootstrap, in daemonset and none modes, the VIP does
 * not answer yet (keepalived runs on the cluster being built), so joins go straight
 * to the founding server's apiserver. External LB machines exist on their own, so
 * their endpoint serves from the first minute. After bootstrap every node joins
 * through the endpoint, so a rebuilt first server rejoins rather than refounds.
 * Undefined for the node that founds the cluster, which joins nothing.
 */
export function joinUrl(c: ResolvedCluster, node: ResolvedNode): string | undefined {
  const founder = c.servers[0];
  if (!c.bootstrapped) {
    if (node === founder) return undefined;
    if (c.loadBalancer.mode === 'external') return endpointUrl(c);
    return `https://${urlHost(founder.address)}:${APISERVER_PORT}`;
  }
  // A single server cannot join itself through an endpoint that is itself.
  if (node.role === 'server' && c.servers.length === 1 && c.endpoint === node.address) return undefined;
  return endpointUrl(c);
}

/** Whether a node gets `cluster-init: true`: only the founder, only before bootstrap. */
/** The token file a node joins with: agents use the agent token where there is one. */
export function nodeTokenFile(c: ResolvedCluster, node: ResolvedNode): string {
  return node.role === 'agent' && c.agentTokenFile ? c.agentTokenFile : c.tokenFile;
}

export function foundsCluster(c: ResolvedCluster, node: ResolvedNode): boolean {
  return !c.bootstrapped && node === c.servers[0];
}
