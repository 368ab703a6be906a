/**
 * The config-file keys K3s accepts, per role. A key in config.yaml is a long flag name
 * without the leading dashes; anything else is ignored by agents and rejected by
 * servers only at start-up, on the machine, which is too late.
 *
 * Read from the `k3s server --help` and `k3s agent --help` listings in the K3s docs
 * (k3s-io/docs, docs/cli/server.md at 0243496 and docs/cli/agent.md at 1f023c0, which
 * track the current release line, checked for K3s v1.36.x), plus the server flags
 * those listings omit but the same pages document: `secrets-encryption-provider`,
 * `disable-apiserver`, `disable-controller-manager`, `disable-etcd` (split roles).
 * `config` is left out: it names the file itself.
 */
export const K3S_FLAGS_SOURCE = 'k3s-io/docs docs/cli/server.md@0243496, docs/cli/agent.md@1f023c0 (K3s v1.36 line)';

/** Keys valid in an agent's config.yaml. */
export const AGENT_FLAGS: ReadonlySet<string> = new Set([
  'debug', 'v', 'vmodule', 'log', 'alsologtostderr',
  'token', 'token-file', 'server', 'data-dir',
  'node-name', 'with-node-id', 'node-label', 'node-taint',
  'image-credential-provider-bin-dir', 'image-credential-provider-config',
  'selinux', 'lb-server-port', 'protect-kernel-defaults',
  'container-runtime-endpoint', 'default-runtime', 'image-service-endpoint',
  'pause-image', 'snapshotter', 'private-registry',
  'disable-default-registry-endpoint', 'nonroot-devices',
  'node-ip', 'bind-address', 'node-external-ip', 'node-internal-dns', 'node-external-dns',
  'resolv-conf', 'flannel-iface', 'flannel-conf', 'flannel-cni-conf',
  'kubelet-arg', 'kube-proxy-arg',
  'enable-pprof', 'rootless', 'prefer-bundled-bin', 'docker',
  'vpn-auth', 'vpn-auth-file', 'disable-apiserver-lb',
]);

/** Keys valid in a server's config.yaml (servers run an agent too). */
export const SERVER_FLAGS: ReadonlySet<string> = new Set([
  'debug', 'v', 'vmodule', 'log', 'alsologtostderr',
  'bind-address', 'https-listen-port', 'advertise-address', 'advertise-port',
  'tls-san', 'tls-san-security', 'data-dir',
  'cluster-cidr', 'service-cidr', 'service-node-port-range', 'cluster-dns', 'cluster-domain',
  'flannel-backend', 'flannel-ipv6-masq', 'flannel-external-ip', 'egress-selector-mode',
  'servicelb-namespace',
  'write-kubeconfig', 'write-kubeconfig-mode', 'write-kubeconfig-group',
  'helm-job-image',
  'token', 'token-file', 'agent-token', 'agent-token-file', 'server',
  'cluster-init', 'cluster-reset', 'cluster-reset-restore-path',
  'kube-apiserver-arg', 'etcd-arg', 'kube-controller-manager-arg', 'kube-scheduler-arg',
  'kube-cloud-controller-manager-arg',
  'datastore-endpoint', 'datastore-cafile', 'datastore-certfile', 'datastore-keyfile',
  'etcd-expose-metrics', 'etcd-disable-snapshots', 'etcd-snapshot-name',
  'etcd-snapshot-schedule-cron', 'etcd-snapshot-retention', 'etcd-snapshot-dir',
  'etcd-snapshot-compress',
  'etcd-s3', 'etcd-s3-endpoint', 'etcd-s3-endpoint-ca', 'etcd-s3-skip-ssl-verify',
  'etcd-s3-access-key', 'etcd-s3-secret-key', 'etcd-s3-bucket', 'etcd-s3-region',
  'etcd-s3-folder', 'etcd-s3-proxy', 'etcd-s3-config-secret', 'etcd-s3-insecure',
  'etcd-s3-timeout',
  'default-local-storage-path',
  'disable', 'disable-scheduler', 'disable-cloud-controller', 'disable-kube-proxy',
  'disable-network-policy', 'disable-helm-controller',
  'disable-apiserver', 'disable-controller-manager', 'disable-etcd',
  'embedded-registry', 'supervisor-metrics',
  'node-name', 'with-node-id', 'node-label', 'node-taint',
  'image-credential-provider-bin-dir', 'image-credential-provider-config',
  'docker', 'container-runtime-endpoint', 'default-runtime', 'image-service-endpoint',
  'disable-default-registry-endpoint', 'nonroot-devices',
  'pause-image', 'snapshotter', 'private-registry', 'system-default-registry',
  'node-ip', 'node-external-ip', 'node-internal-dns', 'node-external-dns',
  'resolv-conf', 'flannel-iface', 'flannel-conf', 'flannel-cni-conf',
  'vpn-auth', 'vpn-auth-file',
  'kubelet-arg', 'kube-proxy-arg', 'protect-kernel-defaults',
  'secrets-encryption', 'secrets-encryption-provider',
  'enable-pprof', 'rootless', 'prefer-bundled-bin', 'selinux', 'lb-server-port',
]);

/** The flag set for a node role. */
export function flagsFor(role: 'server' | 'agent'): ReadonlySet<string> {
  return role === 'server' ? SERVER_FLAGS : AGENT_FLAGS;
}
