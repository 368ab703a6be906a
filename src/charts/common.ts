import { type Chart } from 'cdk8s';
import { generatedBy, toYaml } from '../render/text';
import type { ResolvedCluster } from '../spec/resolve';

/** Labels on every object we make, so `kubectl get -l` finds them. */
export function commonLabels(cluster: string, component: string): Record<string, string> {
  return {
    'app.kubernetes.io/managed-by': 'k3s-gitops',
    'app.kubernetes.io/part-of': cluster,
    'app.kubernetes.io/component': component,
  };
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
