import { ApiObject, type Chart, JsonPatch } from 'cdk8s';
import type * as kplus from 'cdk8s-plus-28';
import { generatedBy, toYaml } from '../render/text';
import type { ResolvedCluster } from '../cluster-file/resolve';

/** Labels on every object we make, so `kubectl get -l` finds them. */
export function commonLabels(cluster: string, component: string): Record<string, string> {
  return {
    'app.kubernetes.io/managed-by': 'k3s-gitops',
    'app.kubernetes.io/part-of': cluster,
    'app.kubernetes.io/component': component,
  };
}

/**
 * A CronJob container that reads root-owned K3s files on the host: root for that, and
 * nothing more (read-only root filesystem, no escalation, not privileged).
 */
export const HOST_READER_SECURITY = { user: 0, group: 0, ensureNonRoot: false, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false } as const;

/** Drops every capability of a CronJob's only container; cdk8s-plus has no field for it. */
export function dropAllCapabilities(cron: kplus.CronJob): void {
  ApiObject.of(cron).addJsonPatch(JsonPatch.add('/spec/jobTemplate/spec/template/spec/containers/0/securityContext/capabilities', { drop: ['ALL'] }));
}

/** Server nodes: K3s labels them, and taints them when asked to keep workloads off. */
export const CONTROL_PLANE_SELECTOR = { 'node-role.kubernetes.io/control-plane': 'true' } as const;

/**
 * Taint keys a workload must tolerate to run on every server: the ones servers
 * commonly carry, and every one the cluster file puts on a server. Sorted.
 */
export function serverTaintKeys(c: ResolvedCluster): string[] {
  const keys = new Set(['CriticalAddonsOnly', 'node-role.kubernetes.io/control-plane', 'node-role.kubernetes.io/master']);
  for (const s of c.servers) for (const t of s.taints) keys.add(t.split(/[=:]/)[0]);
  return [...keys].sort();
}

/**
 * A chart as a multi-document `.k8s.yaml`: the generated-by line, then each object
 * with sorted keys, in the chart's own order.
 */
export function manifestFile(source: string, chart: Chart): string {
  const docs = chart.toJson().map((o) => toYaml(o));
  return `# ${generatedBy(source)}\n${docs.join('---\n')}`;
}
