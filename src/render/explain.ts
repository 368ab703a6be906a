import { endpointUrl, joinUrl, nfsCopyDir, quorumFor, type ResolvedCluster } from '../cluster-file/resolve';

/** The quorum table rows: the cluster's own size and the usual sizes around it. */
export function quorumTable(c: ResolvedCluster): string[] {
  const sizes = [...new Set([1, 3, 5, c.servers.length])].filter((n) => n > 0).sort((a, b) => a - b);
  const rows = sizes.map((n) => {
    const q = quorumFor(n);
    const mark = n === c.servers.length ? '  <- this cluster' : '';
    return `  ${String(n).padEnd(8)} ${String(q.quorum).padEnd(7)} ${q.tolerated}${mark}`;
  });
  return ['  servers  quorum  failures tolerated', ...rows];
}

function lbLine(c: ResolvedCluster): string {
  const lb = c.loadBalancer;
  switch (lb.mode) {
    case 'daemonset':
      return `daemonset: keepalived holds VIP ${c.endpoint} on ${lb.interface} (VRID ${lb.virtualRouterId}); HAProxy on every server listens on :${lb.port} and balances to each server's :6443`;
    case 'external':
      return `external: HAProxy + keepalived on ${lb.hosts.map((h) => `${h.name} (${h.address})`).join(', ')}, VIP ${c.endpoint}:${lb.port}`;
    default:
      return c.servers.length === 1
        ? `none: the API is the first server itself; when ${c.servers[0].name} is down, the API is down`
        : `none: ${c.endpoint} must be kept pointing at live servers by something outside this cluster (DNS or an existing VIP)`;
  }
}

function gitopsLine(c: ResolvedCluster): string {
  if (!c.gitops) return 'none (NO_GITOPS): nothing applies manifests/ or upgrades/; no load balancer, backups or day-2 changes reach the cluster unless you apply them';
  const g = c.gitops;
  return `${g.engine === 'flux' ? 'Flux' : 'Argo CD'} applies manifests/${g.upgrades ? ' and upgrades/ (day 2: servers one at a time under a restart lock in etcd)' : ' only (upgrades: false: no day-2 Plans)'} from ${g.repository}, branch ${g.branch}`;
}

/** What `explain` prints: topology, quorum, endpoint, and what is backed up where. */
export function renderExplain(c: ResolvedCluster): string {
  const q = c.quorum;
  const lines: string[] = [];
  lines.push(`cluster ${c.name} (K3s ${c.k3sVersion}, from ${c.source})`);
  lines.push('');
  lines.push(`servers (${c.servers.length}, embedded etcd):`);
  for (const s of c.servers) {
    const join = joinUrl(c, s);
    lines.push(`  ${s.name.padEnd(16)} ${s.address.padEnd(16)} ${join ? `joins ${join}` : 'founds the cluster (cluster-init)'}`);
  }
  lines.push(`agents (${c.agents.length}):`);
  for (const a of c.agents) lines.push(`  ${a.name.padEnd(16)} ${a.address.padEnd(16)} joins ${joinUrl(c, a)}`);
  lines.push('');
  lines.push(`endpoint: ${endpointUrl(c)}${c.dnsNames.length > 0 ? ` (also ${c.dnsNames.join(', ')})` : ''}`);
  lines.push(`load balancer: ${lbLine(c)}`);
  lines.push(`gitops: ${gitopsLine(c)}`);
  lines.push(`lifecycle: ${c.bootstrapped ? 'bootstrapped: every node joins through the endpoint' : 'bootstrapping: the first server founds the cluster; set bootstrapped: true once it runs'}`);
  lines.push('');
  lines.push(`etcd quorum: ${q.quorum} of ${q.servers}; tolerates ${q.tolerated} server failure(s)${q.servers === 1 ? ' (no HA: lab only)' : ''}`);
  lines.push(...quorumTable(c));
  lines.push('');
  lines.push('backups:');
  lines.push(`  snapshots: K3s, "${c.snapshots.schedule}", ${c.snapshots.retention} kept on each server in ${c.snapshots.dir}`);
  if (c.etcdS3) {
    const where = `s3://${c.etcdS3.bucket}${c.etcdS3.folder ? `/${c.etcdS3.folder}` : ''} at ${c.etcdS3.endpoint}`;
    lines.push(`  K3s upload: ${where}${c.etcdS3.configSecret ? ` (settings and keys from Secret kube-system/${c.etcdS3.configSecret})` : ''}`);
  }
  for (const t of c.backup?.targets ?? []) {
    const where = t.nfs ? `NFS ${t.nfs.server}:${nfsCopyDir(t.nfs)}/` : `S3 s3://${t.s3?.bucket}/${t.s3?.folder}/ at ${t.s3?.endpoint}`;
    lines.push(`  copy ${t.name}: "${c.backup?.schedule}" -> ${where}, keeping ${c.snapshots.retention}`);
  }
  if (!c.etcdS3 && (c.backup?.targets.length ?? 0) === 0) lines.push('  no off-node copy: snapshots die with the server disks');
  return `${lines.join('\n')}\n`;
}
