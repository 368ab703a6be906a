import { App, type Chart } from 'cdk8s';
import type { ResolvedCluster } from '../spec/resolve';
import { yamlFile } from '../render/text';
import { manifestFile } from './common';
import { EtcdBackupChart } from './etcd-backup';
import { LoadBalancerChart } from './load-balancer';
import { SystemNamespaceChart } from './namespace';

/**
 * Every Kubernetes manifest of a cluster, keyed by file name under `manifests/`,
 * plus the kustomization.yaml that lists exactly them.
 */
export function buildManifests(c: ResolvedCluster): Map<string, string> {
  const app = new App();
  const charts: [string, Chart][] = [['namespace.k8s.yaml', new SystemNamespaceChart(app, 'namespace', c)]];
  if (c.loadBalancer.mode === 'daemonset') charts.push(['load-balancer.k8s.yaml', new LoadBalancerChart(app, 'load-balancer', c)]);
  if ((c.backup?.targets.length ?? 0) > 0) charts.push(['etcd-backup.k8s.yaml', new EtcdBackupChart(app, 'etcd-backup', c)]);
  const files = new Map(charts.map(([name, chart]) => [name, manifestFile(c.source, chart)]));
  files.set('kustomization.yaml', yamlFile(c.source, {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: [...files.keys()].sort(),
  }));
  return files;
}
