import { stringify } from 'yaml';

/** A valid cluster file with `servers` servers and `agents` agents, named `name`. */
export function clusterSpec(name: string, servers: number, agents: number): string {
  const nodes = [
    ...Array.from({ length: servers }, (_, i) => ({ name: `server-${i + 1}`, role: 'server', address: `10.10.${Math.floor(i / 250)}.${(i % 250) + 1}` })),
    ...Array.from({ length: agents }, (_, i) => ({
      name: `agent-${i + 1}`, role: 'agent', address: `10.20.${Math.floor(i / 250)}.${(i % 250) + 1}`, labels: { tier: i % 2 ? 'app' : 'db' },
    })),
  ];
  return stringify({
    apiVersion: 'k3s-gitops/v1alpha1',
    kind: 'Cluster',
    metadata: { name },
    spec: {
      k3s: { version: 'v1.36.3+k3s1' },
      bootstrapped: true,
      controlPlane: { endpoint: '10.10.255.100', dnsNames: [`${name}.example.internal`], loadBalancer: { mode: 'daemonset', port: 8443, interface: 'eth0', virtualRouterId: 51 } },
      token: { file: '/etc/rancher/k3s/token' },
      nodes,
      disable: ['traefik'],
      secretsEncryption: true,
      etcd: { snapshots: { schedule: '0 */6 * * *', retention: 7 }, s3: { endpoint: 'minio.example.internal:9000', bucket: 'snapshots', folder: name, configSecret: 'k3s-etcd-s3' } },
      backup: { schedule: '30 */6 * * *', targets: [{ name: 'nas', nfs: { server: '10.30.0.50', path: '/exports/k3s' } }] },
      gitops: { engine: 'flux', repository: 'https://github.com/acme/fleet.git', branch: 'main' },
      extraConfig: { servers: { 'kube-apiserver-arg': ['audit-log-maxage=30'] } },
    },
  });
}
