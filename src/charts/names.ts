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
