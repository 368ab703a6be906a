import type { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { addClusterCharts } from './charts';
import { analyzeSpec, renderNodeSideFiles } from './compile';
import { formatDiagnostic, type Diagnostic } from './cluster-file/diagnostics';
import type { ResolvedCluster } from './cluster-file/resolve';

/** A cluster file that does not compile; `diagnostics` holds every problem, as the CLI prints them. */
export class ClusterFileError extends Error {
  constructor(readonly diagnostics: readonly Diagnostic[]) {
    super(diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic).join('\n'));
    this.name = 'ClusterFileError';
  }
}

/**
 * Loads a cluster file's text with every check the CLI makes (schema and rules, not the
 * day-2 rules, which need the committed tree: run `k3s-gitops synth` or `plan` for those).
 * @param source the file's path as messages and generated files name it, e.g. `clusters/prod.yaml`
 * @throws ClusterFileError listing every error
 */
export function loadClusterFile(source: string, text: string): ResolvedCluster {
  const result = analyzeSpec(source, text);
  if (!result.cluster) throw new ClusterFileError(result.diagnostics);
  return result.cluster;
}

export interface K3sClusterProps {
  /** The cluster, from {@link loadClusterFile}. */
  readonly cluster: ResolvedCluster;
}

/**
 * One K3s cluster's Kubernetes objects as cdk8s charts in your own app: the system
 * namespace, the load balancer DaemonSet, etcd backup CronJobs, system-upgrade-controller
 * and the day-2 Plans, each chart beside yours. The GitOps objects are left out (they
 * name a repository layout; point your own Flux or Argo CD objects at the output).
 *
 * Nodes are not Kubernetes objects: their config.yaml and user-data, RUNBOOK.md and the
 * load balancer machines' files are in {@link K3sCluster.nodeFiles}, for you to write.
 *
 * @example
 * const app = new App();
 * const cluster = loadClusterFile('clusters/prod.yaml', fs.readFileSync('clusters/prod.yaml', 'utf8'));
 * new K3sCluster(app, 'prod', { cluster });
 * new MyAppsChart(app, 'apps');
 * app.synth();
 */
export class K3sCluster extends Construct {
  readonly cluster: ResolvedCluster;
  /** The charts added, keyed by the file name `k3s-gitops synth` gives each. */
  readonly charts: ReadonlyMap<string, Chart>;
  /** Every file that is not a Kubernetes object, keyed by its path under the cluster's folder. */
  readonly nodeFiles: ReadonlyMap<string, string>;

  constructor(scope: Construct, id: string, props: K3sClusterProps) {
    super(scope, id);
    this.cluster = props.cluster;
    const charts = addClusterCharts(this, props.cluster);
    this.charts = new Map([...charts.manifests, ...charts.controller, ...charts.plans]);
    this.nodeFiles = renderNodeSideFiles(props.cluster);
  }
}
