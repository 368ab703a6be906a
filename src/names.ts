/**
 * Names of the objects we create in the cluster. They are part of the contract:
 * RUNBOOK.md and users' kubectl commands use them. Kept apart from the charts so the
 * renderers can name them without loading cdk8s.
 */

/** The namespace every object of ours lives in. */
export const SYSTEM_NAMESPACE = 'k3s-gitops-system';

export const LB_NAMES = { daemonSet: 'k3s-api-lb', configMap: 'k3s-api-lb-config', serviceAccount: 'k3s-api-lb' } as const;

export const BACKUP_NAMES = {
  configMap: 'etcd-backup-script',
  serviceAccount: 'etcd-backup',
  cronJob: (target: string) => `etcd-backup-${target}`,
} as const;

export const CERT_NAMES = {
  configMap: 'cert-expiry-script',
  serviceAccount: 'cert-expiry',
  /** A CronJob's name is at most 52 characters; a longer server name is cut and made unique by a hash. */
  cronJob: (server: string) => (server.length <= 40 ? `cert-expiry-${server}` : `cert-expiry-${server.slice(0, 31).replace(/[.-]+$/, '')}-${fnv1a(server)}`),
} as const;

/** The committed registries.yaml: dist/<cluster>/registries.yaml. */
export const REGISTRIES_FILE = 'registries.yaml';
/** Its key in the config Secrets: a leading `_`, which no node name (`<node>.yaml`) has. */
export const REGISTRIES_SECRET_KEY = '_registries.yaml';

/**
 * How the bundled system-upgrade-controller runs a Plan's Job (its default-controller-env):
 * Kubernetes retries a failed pod up to `backoffLimit` times within the Job's deadline,
 * and deletes a finished Job after `ttlSecondsAfterFinished`, when the controller makes
 * a new one for a node the Plan still applies to.
 */
export const SUC_JOB_SETTINGS = { backoffLimit: 99, ttlSecondsAfterFinished: 900 } as const;

/**
 * The folders of a cluster's tree that GitOps applies, under `dist/<cluster>/`.
 * `upgrades/` builds both of its folders, the controller's and the Plans'; Flux
 * applies them as two Kustomizations, the Plans only once the controller has
 * registered their CRD.
 */
export const TREE_FOLDERS = {
  manifests: 'manifests',
  upgrades: 'upgrades',
  controller: 'upgrades/controller',
  plans: 'upgrades/plans',
} as const;

/** The Plans and their Secrets, in the Plans' folder; the committed one says which K3s version the cluster runs. */
export const PLANS_FILE = `${TREE_FOLDERS.plans}/plans.k8s.yaml`;

/** system-upgrade-controller's namespace and service account, as its release names them. */
export const SUC_NAMES = {
  namespace: 'system-upgrade',
  serviceAccount: 'system-upgrade',
  deployment: 'system-upgrade-controller',
  /** The Plans' CRD: the controller registers it when it starts; the tree never ships it. */
  planCrd: 'plans.upgrade.cattle.io',
} as const;

/** system-upgrade-controller Plans that upgrade K3s itself. */
export const K3S_UPGRADE_PLANS = { server: 'k3s-server', agent: 'k3s-agent' } as const;

/** The day-2 config rollout: one Secret and one Plan per role. */
export const CONFIG_ROLLOUT_NAMES = {
  secret: (role: 'server' | 'agent') => `k3s-gitops-config-${role}s`,
  plan: (role: 'server' | 'agent') => `k3s-gitops-config-${role}s`,
  /** Where the Plan mounts its Secret in the job's containers. */
  mountPath: '/run/k3s-gitops',
  /** The label a node carries once it runs its committed config. */
  hashLabel: 'k3s-gitops.io/config-hash',
} as const;

/** 8 hex digits of FNV-1a: a short, stable tag for a cut name (no crypto load for it). */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}
