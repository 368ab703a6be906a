import { type Chart } from 'cdk8s';
import { generatedBy, toYaml } from '../render/text';

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
 * A chart as a multi-document `.k8s.yaml`: the generated-by line, then each object
 * with sorted keys, in the chart's own order.
 */
export function manifestFile(source: string, chart: Chart): string {
  const docs = chart.toJson().map((o) => toYaml(o));
  return `# ${generatedBy(source)}\n${docs.join('---\n')}`;
}
