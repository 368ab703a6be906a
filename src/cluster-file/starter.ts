/**
 * The starter cluster file `k3s-gitops init` writes: the fields a new user must decide,
 * each with a comment saying what it does, and a modeline that points the editor at
 * the installed schema.
 */
export interface StarterNode {
  readonly name: string;
  readonly address: string;
}

export interface StarterOptions {
  readonly name: string;
  readonly k3sVersion: string;
  readonly servers: readonly StarterNode[];
  readonly agents: readonly StarterNode[];
  readonly endpoint?: string;
  readonly loadBalancer: 'daemonset' | 'external' | 'none';
  readonly interface: string;
  readonly lbHosts: readonly StarterNode[];
  readonly gitops?: { readonly engine: 'flux' | 'argocd'; readonly repository: string; readonly branch: string };
  /** The schema's path as seen from the clusters/ folder. */
  readonly schemaRef: string;
}

/** The schema as a fleet repository has it once k3s-gitops is installed. */
export const INSTALLED_SCHEMA_REF = '../node_modules/k3s-gitops/schema/cluster.schema.json';

const flow = (n: StarterNode, role: string) => `    - { name: ${n.name}, role: ${role}, address: ${n.address} }`;

export function renderStarter(o: StarterOptions): string {
  const lines = [
    `# yaml-language-server: $schema=${o.schemaRef}`,
    `# Cluster ${o.name}. Compile with \`npx k3s-gitops synth\`, commit dist/ with this file.`,
    'apiVersion: k3s-gitops/v1alpha1',
    'kind: Cluster',
    'metadata:',
    `  name: ${o.name}`,
    'spec:',
    '  k3s:',
    `    version: ${o.k3sVersion}   # pinned; upgrades go one minor at a time`,
    '  # Set true once the cluster runs, so a rebuilt first server joins instead of founding a new cluster.',
    '  bootstrapped: false',
  ];
  lines.push('  controlPlane:');
  if (o.endpoint) lines.push(`    endpoint: ${o.endpoint}   # the address clients and joining nodes use${o.loadBalancer === 'none' ? '' : ': the VIP'}`);
  lines.push('    loadBalancer:', `      mode: ${o.loadBalancer}   # daemonset: HAProxy + keepalived on the servers; external: on LB machines; none`);
  if (o.loadBalancer !== 'none') lines.push(`      interface: ${o.interface}   # the servers' (or LB machines') interface that carries the VIP`);
  if (o.loadBalancer === 'external') lines.push('      hosts:', ...o.lbHosts.map((h) => `        - { name: ${h.name}, address: ${h.address} }`));
  lines.push(
    '  token:',
    '    file: /etc/rancher/k3s/token   # placed on each machine by you or by `k3s-gitops seed`; never in Git',
    '  nodes:   # the first server founds the cluster; 3 or 5 servers keep quorum through failures',
    ...o.servers.map((n) => flow(n, 'server')),
    ...o.agents.map((n) => flow(n, 'agent')),
    '  etcd:',
    '    snapshots: { schedule: "0 */6 * * *", retention: 7 }   # add backup.targets or etcd.s3 to copy them off the node',
  );
  if (o.gitops) lines.push('  gitops:', `    engine: ${o.gitops.engine}`, `    repository: ${o.gitops.repository}`, `    branch: ${o.gitops.branch}`);
  return `${lines.join('\n')}\n`;
}
