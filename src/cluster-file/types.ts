/**
 * The cluster file, as users write it (`clusters/<name>.yaml`). Field names and
 * defaults are a public contract: renaming or dropping one breaks users' files; defaults are applied in `resolve.ts` only.
 */

/** A raw K3s config.yaml value, passed through as written. */
export type K3sConfigValue = string | number | boolean | string[];

/** Raw K3s config.yaml keys (flag names without dashes). */
export type K3sConfigMap = { readonly [flag: string]: K3sConfigValue };

/** The cluster file's root. */
export interface ClusterFile {
  readonly apiVersion: 'k3s-gitops/v1alpha1';
  readonly kind: 'Cluster';
  readonly metadata: { readonly name: string };
  readonly spec: ClusterSpec;
}

export interface ClusterSpec {
  readonly k3s: K3sSpec;
  /** @default false - the first server founds the cluster with `cluster-init` */
  readonly bootstrapped?: boolean;
  /** @default - mode none, endpoint the first server */
  readonly controlPlane?: ControlPlaneSpec;
  /** @default - { file: /etc/rancher/k3s/token } */
  readonly token?: TokenSpec;
  readonly nodes: readonly NodeSpec[];
  /** @default - K3s's own network defaults */
  readonly network?: NetworkSpec;
  /** Packaged components to leave out. @default [] */
  readonly disable?: readonly PackagedComponent[];
  /** @default false */
  readonly secretsEncryption?: boolean;
  /** @default - K3s's snapshot defaults, no S3 */
  readonly etcd?: EtcdSpec;
  /** @default - no off-node copies */
  readonly backup?: BackupSpec;
  /** @default - no GitOps objects */
  readonly gitops?: GitOpsSpec;
  /** @default - no extra user-data */
  readonly cloudInit?: CloudInitSpec;
  /** @default - none */
  readonly extraConfig?: ExtraConfigSpec;
  /** @default - none: nodes pull from the registries images name */
  readonly registries?: RegistriesSpec;
  /** @default - { controller: bundled, agentConcurrency: 1 } */
  readonly upgrades?: UpgradesSpec;
  /** @default - { warnDays: 30 } */
  readonly certificates?: CertificatesSpec;
  /** @default - no alerts, no scrape objects */
  readonly monitoring?: MonitoringSpec;
}

/**
 * Alerts and scrape objects for a Prometheus run by prometheus-operator (the
 * kube-prometheus-stack convention): PrometheusRule, PodMonitor and ServiceMonitor
 * objects in manifests/, which need the operator's CRDs in the cluster.
 */
export interface MonitoringSpec {
  /** PrometheusRule objects for etcd, backups, certificates, day 2 and the load balancer. @default false */
  readonly prometheusRules?: boolean;
  /** Where the monitoring objects go. @default - the tool's namespace, k3s-gitops-system */
  readonly namespace?: string;
  /** Labels on every monitoring object: what the Prometheus's rule and monitor selectors match. @default {} */
  readonly labels?: { readonly [key: string]: string };
  /** K3s's `etcd-expose-metrics` on servers, and a ServiceMonitor for each server's :2381. @default false */
  readonly etcdMetrics?: boolean;
}

export interface CertificatesSpec {
  /** The expiry alarm fails when a K3s certificate expires within this many days. @default 30 */
  readonly warnDays?: number;
}

export interface UpgradesSpec {
  /** `bundled`: the tree installs system-upgrade-controller; `external`: the cluster has one. @default bundled */
  readonly controller?: 'bundled' | 'external';
  /** How many agents apply a config or upgrade at once. @default 1 */
  readonly agentConcurrency?: number;
}

export interface K3sSpec {
  /** A pinned release, `vMAJOR.MINOR.PATCH+k3sN`. */
  readonly version: string;
  /** `online`: the official installer downloads K3s; `airgap`: binary, script and images are staged on the machine. @default online */
  readonly install?: 'online' | 'airgap';
  /** The earlier spelling of `install: airgap`. @deprecated */
  readonly airgap?: boolean;
  /** K3s's `system-default-registry`: the registry every system image, K3s's and ours, is pulled from. */
  readonly systemDefaultRegistry?: string;
}

/** K3s's registries.yaml (docs/installation/private-registry.md), credentials as files on the node. */
export interface RegistriesSpec {
  readonly mirrors?: Readonly<Record<string, RegistryMirrorSpec>>;
  readonly configs?: Readonly<Record<string, RegistryConfigSpec>>;
}

export interface RegistryMirrorSpec {
  readonly endpoint: readonly string[];
  readonly rewrite?: Readonly<Record<string, string>>;
}

export interface RegistryConfigSpec {
  readonly auth?: RegistryAuthSpec;
  readonly tls?: { readonly ca_file?: string; readonly cert_file?: string; readonly key_file?: string; readonly insecure_skip_verify?: boolean };
}

/**
 * Where each credential sits on the node (`k3s-gitops seed --registry-credential` puts
 * it there). K3s's inline keys are accepted by the schema only to be refused by name.
 */
export interface RegistryAuthSpec {
  readonly username_file?: string;
  readonly password_file?: string;
  readonly auth_file?: string;
  readonly username?: string;
  readonly password?: string;
  readonly auth?: string;
  readonly token?: string;
  readonly identity_token?: string;
}

export type LoadBalancerMode = 'daemonset' | 'external' | 'none';

export interface ControlPlaneSpec {
  /** The fixed registration address (VIP or DNS name). @default - the first server's address (mode none only) */
  readonly endpoint?: string;
  /** More names for every server's tls-san. @default [] */
  readonly dnsNames?: readonly string[];
  /** @default - { mode: none } */
  readonly loadBalancer?: LoadBalancerSpec;
}

export interface LoadBalancerSpec {
  /** @default none */
  readonly mode?: LoadBalancerMode;
  /** Where the LB listens. @default 8443 in daemonset mode, 6443 in external mode */
  readonly port?: number;
  /** The keepalived VRRP interface. @default eth0 */
  readonly interface?: string;
  /** @default 51 */
  readonly virtualRouterId?: number;
  /** Seconds between the VIP holder's VRRPv3 adverts. @default 0.2 */
  readonly advertInterval?: number;
  /** External mode: the LB machines. @default [] */
  readonly hosts?: readonly LoadBalancerHost[];
}

export interface LoadBalancerHost {
  readonly name: string;
  readonly address: string;
}

export interface TokenSpec {
  /** Path of the join token on every node. @default /etc/rancher/k3s/token */
  readonly file?: string;
  /**
   * Path of the agent token: servers accept agents with it (`agent-token-file`) and
   * agents join with it, so no agent holds the server token.
   */
  readonly agentFile?: string;
}

export type NodeRole = 'server' | 'agent';

export interface NodeSpec {
  readonly name: string;
  readonly role: NodeRole;
  /** An IPv4 or IPv6 address; a dual-stack node gives one of each, comma-separated ("10.0.0.11,fd00::11"). */
  readonly address: string;
  /** Public address(es), same form as `address`. @default - none */
  readonly externalAddress?: string;
  /** @default {} */
  readonly labels?: { readonly [key: string]: string };
  /** `key=value:Effect`. @default [] */
  readonly taints?: readonly string[];
  /** Raw K3s keys for this node only, merged last. @default {} */
  readonly extraConfig?: K3sConfigMap;
}

export interface NetworkSpec {
  /** @default 10.42.0.0/16 */
  readonly clusterCidr?: string;
  /** @default 10.43.0.0/16 */
  readonly serviceCidr?: string;
  /** @default 10.43.0.10 */
  readonly clusterDns?: string;
  /** @default cluster.local */
  readonly clusterDomain?: string;
  /** @default vxlan */
  readonly flannelBackend?: FlannelBackend;
}

export type FlannelBackend = 'vxlan' | 'host-gw' | 'wireguard-native' | 'none';
export type PackagedComponent = 'coredns' | 'servicelb' | 'traefik' | 'local-storage' | 'metrics-server' | 'runtimes';

export interface EtcdSpec {
  /** @default - K3s's defaults: every 12 hours, 5 kept */
  readonly snapshots?: SnapshotSpec;
  /** K3s's own upload to S3. @default - none */
  readonly s3?: EtcdS3Spec;
}

export interface SnapshotSpec {
  /** @default "0 *\/12 * * *" */
  readonly schedule?: string;
  /** @default 5 */
  readonly retention?: number;
}

export interface EtcdS3Spec {
  readonly endpoint: string;
  readonly bucket: string;
  /** @default - the bucket's root */
  readonly folder?: string;
  /** @default us-east-1 */
  readonly region?: string;
  /** kube-system Secret holding the S3 settings and keys. @default - keys come from the node's environment */
  readonly configSecret?: string;
  /** Plain HTTP. @default false */
  readonly insecure?: boolean;
}

export interface BackupSpec {
  /** When the copy jobs run. */
  readonly schedule: string;
  /** The IANA time zone `schedule` is read in (K3s reads its snapshot schedule in each server's local time). @default Etc/UTC */
  readonly timeZone?: string;
  readonly targets: readonly BackupTarget[];
}

export interface BackupTarget {
  readonly name: string;
  readonly nfs?: BackupNfsTarget;
  readonly s3?: BackupS3Target;
}

export interface BackupNfsTarget {
  readonly server: string;
  /** The exported directory. */
  readonly path: string;
  /** The folder under the export that holds this cluster's copies, and nothing else's. @default - the cluster's name */
  readonly folder?: string;
}

export interface BackupS3Target {
  readonly endpoint: string;
  readonly bucket: string;
  /** @default us-east-1 */
  readonly region?: string;
  /** @default - the cluster's name */
  readonly folder?: string;
  /** Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. */
  readonly credentialsSecret: string;
}

export type GitOpsEngine = 'flux' | 'argocd';

export interface GitOpsSpec {
  readonly engine: GitOpsEngine;
  readonly repository: string;
  /** @default main */
  readonly branch?: string;
  /** Flux: the Secret in flux-system with the repository's credentials. @default - a public repository */
  readonly secretName?: string;
  /** Apply the upgrades/ Plans (needs system-upgrade-controller). @default true */
  readonly upgrades?: boolean;
}

export interface CloudInitSpec {
  /** @default [] */
  readonly sshAuthorizedKeys?: readonly string[];
  /** Distribution packages to install. @default [] */
  readonly packages?: readonly string[];
  /** Shell commands run before K3s is installed. @default [] */
  readonly preInstallCommands?: readonly string[];
  /** Shell commands run after K3s is installed. @default [] */
  readonly postInstallCommands?: readonly string[];
}

export interface ExtraConfigSpec {
  /** @default {} */
  readonly servers?: K3sConfigMap;
  /** @default {} */
  readonly agents?: K3sConfigMap;
}
