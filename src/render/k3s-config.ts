import type { K3sConfigMap, K3sConfigValue } from '../cluster-file/types';
import { foundsCluster, joinUrl, nodeTokenFile, type ResolvedCluster, type ResolvedNode } from '../cluster-file/resolve';
import { yamlFile } from './text';

/** The K3s config.yaml keys for one node, before extraConfig. */
function ownKeys(c: ResolvedCluster, node: ResolvedNode): Record<string, K3sConfigValue> {
  const keys: Record<string, K3sConfigValue> = {
    'token-file': nodeTokenFile(c, node),
    'node-name': node.name,
    'node-ip': node.addresses.join(','),
  };
  const server = joinUrl(c, node);
  if (server) keys.server = server;
  if (node.externalAddresses.length > 0) keys['node-external-ip'] = node.externalAddresses.join(',');
  const labels = Object.entries(node.labels).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${v}`);
  if (labels.length > 0) keys['node-label'] = labels;
  if (node.taints.length > 0) keys['node-taint'] = [...node.taints];
  if (node.role === 'agent') return keys;

  if (foundsCluster(c, node)) keys['cluster-init'] = true;
  // Servers accept agents with the agent token (K3s docs/cli/token.md, "Agent").
  if (c.agentTokenFile) keys['agent-token-file'] = c.agentTokenFile;
  if (c.systemDefaultRegistry) keys['system-default-registry'] = c.systemDefaultRegistry;
  keys['tls-san'] = [...new Set([c.endpoint, ...c.dnsNames])];
  keys['write-kubeconfig-mode'] = '0600';
  keys['cluster-cidr'] = c.network.clusterCidr;
  keys['service-cidr'] = c.network.serviceCidr;
  keys['cluster-dns'] = c.network.clusterDns;
  keys['cluster-domain'] = c.network.clusterDomain;
  keys['flannel-backend'] = c.network.flannelBackend;
  if (c.disable.length > 0) keys.disable = [...c.disable];
  if (c.secretsEncryption) keys['secrets-encryption'] = true;
  keys['etcd-snapshot-schedule-cron'] = c.snapshots.schedule;
  keys['etcd-snapshot-retention'] = c.snapshots.retention;
  // etcd's metrics on the node's address as well as loopback, for the etcd ServiceMonitor.
  if (c.monitoring.etcdMetrics) keys['etcd-expose-metrics'] = true;
  const s3 = c.etcdS3;
  if (s3) {
    keys['etcd-s3'] = true;
    // K3s reads the config Secret only when no other etcd-s3-* key is set.
    if (s3.configSecret) {
      keys['etcd-s3-config-secret'] = s3.configSecret;
    } else {
      keys['etcd-s3-endpoint'] = s3.endpoint;
      keys['etcd-s3-bucket'] = s3.bucket;
      keys['etcd-s3-region'] = s3.region;
      if (s3.folder) keys['etcd-s3-folder'] = s3.folder;
      if (s3.insecure) keys['etcd-s3-insecure'] = true;
    }
  }
  return keys;
}

/** Lays extraConfig over the compiler's keys; the rules keep it off every key we set. */
function merge(base: Record<string, K3sConfigValue>, ...layers: K3sConfigMap[]): Record<string, K3sConfigValue> {
  return Object.assign({ ...base }, ...layers);
}

/** The node's full K3s configuration, as an object. */
export function k3sConfig(c: ResolvedCluster, node: ResolvedNode): Record<string, K3sConfigValue> {
  const roleExtra = node.role === 'server' ? c.extraConfig.servers : c.extraConfig.agents;
  return merge(ownKeys(c, node), roleExtra, node.extraConfig);
}

/** `/etc/rancher/k3s/config.yaml` for one node. */
export function renderK3sConfig(c: ResolvedCluster, node: ResolvedNode): string {
  return yamlFile(c.source, k3sConfig(c, node));
}
