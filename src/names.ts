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

/**
 * How long one run of our CronJobs may take (each Job's activeDeadlineSeconds): a copy
 * to a backup target, a certificate check. The alerts wait this long before a run
 * counts as failed.
 */
export const JOB_DEADLINES = { backupSeconds: 30 * 60, certificateCheckSeconds: 5 * 60 } as const;

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

/**
 * The monitoring objects (spec.monitoring), in its namespace. Prometheus names a
 * ServiceMonitor's targets' job after the Service and a PodMonitor's
 * `<namespace>/<name>` (prometheus-operator pkg/prometheus/promcfg.go), so these names
 * are also the `job` label the alerts select on.
 */
export const MONITORING_NAMES = {
  prometheusRule: 'k3s-gitops-alerts',
  /** The daemonset load balancer's pods, scraped on their HAProxy exporter. */
  lbPodMonitor: 'k3s-api-lb',
  /** External mode: the LB machines' HAProxy exporters, as a Service with fixed endpoints. */
  lbHostsService: 'k3s-api-lb-hosts',
  /** The endpoint VIP's HAProxy exporter: answered by whichever machine holds the VIP. */
  vipService: 'k3s-api-vip',
  /** Every server's etcd metrics on its node address. */
  etcdService: 'k3s-etcd',
  /** The port name the scrape objects use, on the Services and the haproxy container. */
  lbMetricsPort: 'lb-metrics',
  etcdMetricsPort: 'etcd-metrics',
} as const;

/**
 * Where HAProxy serves its built-in Prometheus exporter with spec.monitoring.prometheusRules:
 * 8404, HAProxy's own examples' stats port, which K3s binds on no node
 * (src/k3s/facts.ts) and which is outside the NodePort range.
 */
export const LB_METRICS = { port: 8404, path: '/metrics' } as const;

/** 8 hex digits of FNV-1a: a short, stable tag for a cut name (no crypto load for it). */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}
