/**
 * Facts about K3s that the rules and renderers rely on, each from the K3s docs.
 */

/**
 * Server keys K3s requires to hold the same value on every server ("Critical
 * Configuration Values", docs/cli/server.md). Setting one per node would make that
 * node fail to join. `disable` is critical only for `servicelb`.
 */
export const CRITICAL_SERVER_KEYS: ReadonlySet<string> = new Set([
  'agent-token', 'cluster-cidr', 'cluster-dns', 'cluster-domain',
  'disable-cloud-controller', 'disable-helm-controller', 'disable-network-policy',
  'egress-selector-mode', 'embedded-registry', 'flannel-backend', 'flannel-external-ip',
  'flannel-ipv6-masq', 'secrets-encryption', 'secrets-encryption-provider', 'service-cidr',
]);

/** Keys whose value is a secret: they must never be written to a committed file. */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  'token', 'agent-token', 'etcd-s3-access-key', 'etcd-s3-secret-key', 'vpn-auth',
  'datastore-endpoint', 'cluster-secret',
]);

/** The packaged components `--disable` accepts. */
export const PACKAGED_COMPONENTS = ['coredns', 'servicelb', 'traefik', 'local-storage', 'metrics-server', 'runtimes'] as const;

/** The flannel backends K3s supports. */
export const FLANNEL_BACKENDS = ['vxlan', 'host-gw', 'wireguard-native', 'none'] as const;

/** The apiserver and supervisor port on every server. */
export const APISERVER_PORT = 6443;

/**
 * TCP ports K3s itself binds on a server node (docs "Networking Requirements" and the
 * component defaults). A load balancer on the servers' host network cannot use them.
 */
export const SERVER_NODE_PORTS: ReadonlyMap<number, string> = new Map([
  [2379, 'etcd client'],
  [2380, 'etcd peer'],
  [2381, 'etcd metrics'],
  [5001, 'embedded registry (spegel)'],
  [6443, 'kube-apiserver and K3s supervisor'],
  [6444, 'K3s agent client load balancer (lb-server-port)'],
  [10010, 'containerd CRI streaming'],
  [10248, 'kubelet healthz'],
  [10249, 'kube-proxy metrics'],
  [10250, 'kubelet'],
  [10256, 'kube-proxy healthz'],
  [10257, 'kube-controller-manager'],
  [10258, 'cloud-controller-manager'],
  [10259, 'kube-scheduler'],
]);

/**
 * Where K3s's embedded etcd serves its metrics, plain HTTP: on loopback always, and
 * also on the node's address with `etcd-expose-metrics` (k3s-io/k3s pkg/etcd/etcd.go,
 * listenMetricsURLs).
 */
export const ETCD_METRICS_PORT = 2381;

/**
 * etcd's backend quota when `quota-backend-bytes` is not given: DefaultQuotaBytes, 2 GiB
 * (etcd-io/etcd server/storage/quota.go). K3s sets no quota of its own; flags for etcd
 * come only from `etcd-arg` (k3s-io/k3s pkg/etcd/etcd.go cluster(), ExtraEtcdArgs). At the
 * quota etcd raises a NOSPACE alarm and refuses every write.
 */
export const ETCD_DEFAULT_QUOTA_BYTES = 2 * 1024 ** 3;

/** The default NodePort range (`service-node-port-range`): kube-proxy owns these ports on every node. */
export const NODE_PORT_RANGE = { min: 30000, max: 32767 } as const;

/**
 * Node labels in the kubernetes.io and k8s.io namespaces that the kubelet may set on
 * itself (NodeRestriction admission); every other label in those namespaces is
 * refused at registration, so the node never joins.
 */
export const ALLOWED_K8S_LABEL_KEYS: ReadonlySet<string> = new Set([
  'kubernetes.io/hostname', 'kubernetes.io/arch', 'kubernetes.io/os',
  'beta.kubernetes.io/instance-type', 'node.kubernetes.io/instance-type',
  'beta.kubernetes.io/arch', 'beta.kubernetes.io/os',
  'failure-domain.beta.kubernetes.io/region', 'failure-domain.beta.kubernetes.io/zone',
  'topology.kubernetes.io/region', 'topology.kubernetes.io/zone',
]);

/** Namespaces under kubernetes.io / k8s.io that are open to the kubelet. */
export const ALLOWED_K8S_LABEL_PREFIXES: readonly string[] = ['kubelet.kubernetes.io/', 'node.kubernetes.io/'];

/** Whether a node label key falls in a namespace the kubelet may not set. */
export function isRestrictedLabel(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash < 0) return false;
  const prefix = key.slice(0, slash);
  const restrictedNamespace = prefix === 'kubernetes.io' || prefix.endsWith('.kubernetes.io')
    || prefix === 'k8s.io' || prefix.endsWith('.k8s.io');
  if (!restrictedNamespace) return false;
  if (ALLOWED_K8S_LABEL_KEYS.has(key)) return false;
  return !ALLOWED_K8S_LABEL_PREFIXES.some((p) => key.startsWith(p));
}

/** Where K3s keeps its state and snapshots by default. */
export const DATA_DIR = '/var/lib/rancher/k3s';
export const CONFIG_PATH = '/etc/rancher/k3s/config.yaml';

/**
 * Server keys fixed when the cluster is created. The pod and service ranges, the
 * cluster DNS address and domain are baked into every node's routes, every Service's
 * ClusterIP and every pod's resolv.conf; K3s lists them among the values that must
 * match on every server ("Critical Configuration Values", docs/cli/server.md) and has
 * no procedure to change them, and its networking docs say dual-stack cannot be added
 * to a cluster created single-stack (docs/networking/basic-network-options.md).
 * Keyed by the cluster file field that sets each.
 */
export const IMMUTABLE_KEYS: ReadonlyMap<string, string> = new Map([
  ['cluster-cidr', '/spec/network/clusterCidr'],
  ['service-cidr', '/spec/network/serviceCidr'],
  ['cluster-dns', '/spec/network/clusterDns'],
  ['cluster-domain', '/spec/network/clusterDomain'],
]);
