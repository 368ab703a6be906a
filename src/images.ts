import type { ResolvedCluster } from './cluster-file/resolve';

/** Every image of ours the tree runs, pinned by tag. */
export const IMAGES = {
  /** HAProxy's official image. */
  haproxy: 'haproxy:2.8.14-alpine',
  /** keepalived has no official image; osixia's is the common one. */
  keepalived: 'osixia/keepalived:2.0.20',
  /** Copies to NFS targets, and the day-2 apply job's shell. */
  busybox: 'busybox:1.36.1',
  /** Copies to S3 targets. */
  awsCli: 'amazon/aws-cli:2.15.30',
  /** The certificate expiry check reads certificates with the openssl CLI. */
  openssl: 'alpine/openssl:3.3.2',
  /** etcdctl for the day-2 jobs' quorum gate and restart lock, over gRPC (K3s ships none). */
  etcdctl: 'registry.k8s.io/etcd:3.5.21-0',
  /** system-upgrade-controller v0.20.1, and the kubectl image its jobs cordon and drain with (its default-controller-env). */
  sucController: 'rancher/system-upgrade-controller:v0.20.1',
  sucKubectl: 'rancher/kubectl:v1.30.3',
} as const;

/**
 * K3s's upgrade image. A Plan names it untagged, and system-upgrade-controller tags it
 * with the Plan's version, `+` made `-`, parsing it as a reference, so a registry port
 * is no tag (pkg/upgrade/container/container.go, WithLatestTag).
 */
export const K3S_UPGRADE_REPOSITORY = 'rancher/k3s-upgrade';

/**
 * An image as this cluster pulls it: with `k3s.systemDefaultRegistry`, from that
 * registry, as K3s does for its own system images (`<registry>/<repository>`). Docker
 * Hub's official images live under `library/` there, as Docker Hub names them.
 */
export function clusterImage(c: ResolvedCluster, ref: string): string {
  if (!c.systemDefaultRegistry) return ref;
  const [first, ...rest] = ref.split('/');
  const hasRegistry = rest.length > 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  const repository = hasRegistry ? rest.join('/') : rest.length === 0 ? `library/${ref}` : ref;
  return `${c.systemDefaultRegistry}/${repository}`;
}

/** The tag system-upgrade-controller gives an untagged Plan image. */
export const planImageTag = (version: string) => version.replace(/\+/g, '-');

/** Every image this cluster's tree runs, as pulled, sorted, each with what runs it. */
export function clusterImages(c: ResolvedCluster): { image: string; usedBy: string }[] {
  const uses: [string, string][] = [
    [IMAGES.openssl, 'certificate expiry CronJobs'],
    [`${K3S_UPGRADE_REPOSITORY}:${planImageTag(c.k3sVersion)}`, 'K3s upgrade Plans'],
    [IMAGES.busybox, 'day-2 config Plans'],
    [IMAGES.etcdctl, 'day-2 server Plans (etcdctl)'],
  ];
  if (c.loadBalancer.mode === 'daemonset') uses.push([IMAGES.haproxy, 'load balancer DaemonSet'], [IMAGES.keepalived, 'load balancer DaemonSet']);
  for (const t of c.backup?.targets ?? []) uses.push([t.nfs ? IMAGES.busybox : IMAGES.awsCli, `backup CronJob ${t.name}`]);
  if (c.upgrades.controller === 'bundled') uses.push([IMAGES.sucController, 'system-upgrade-controller'], [IMAGES.sucKubectl, 'system-upgrade-controller jobs']);
  const byImage = new Map<string, Set<string>>();
  for (const [ref, use] of uses) {
    const image = clusterImage(c, ref);
    byImage.set(image, (byImage.get(image) ?? new Set()).add(use));
  }
  return [...byImage].sort(([a], [b]) => a.localeCompare(b)).map(([image, used]) => ({ image, usedBy: [...used].sort().join(', ') }));
}
