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

/** system-upgrade-controller's namespace and service account, as its release names them. */
export const SUC_NAMES = { namespace: 'system-upgrade', serviceAccount: 'system-upgrade' } as const;

/** The day-2 config rollout: one Secret and one Plan per role. */
export const CONFIG_ROLLOUT_NAMES = {
  secret: (role: 'server' | 'agent') => `k3s-gitops-config-${role}s`,
  plan: (role: 'server' | 'agent') => `k3s-gitops-config-${role}s`,
  /** Where the Plan mounts its Secret in the job's containers. */
  mountPath: '/run/k3s-gitops',
  /** The label a node carries once it runs its committed config. */
  hashLabel: 'k3s-gitops.io/config-hash',
} as const;
