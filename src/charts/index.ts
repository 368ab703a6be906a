import { App, type Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import type { ResolvedCluster } from '../spec/resolve';
import { yamlFile } from '../render/text';
import { manifestFile } from './common';
import { CertificateExpiryChart } from './cert-expiry';
import { EtcdBackupChart } from './etcd-backup';
import { ArgoCdChart, FluxChart } from './gitops';
import { LoadBalancerChart } from './load-balancer';
import { SystemNamespaceChart } from './namespace';
import { SystemUpgradeControllerChart } from './system-upgrade-controller';
import { UpgradePlansChart } from './upgrades';

/** A folder of manifests plus the kustomization.yaml that lists exactly them. */
function kustomizedFolder(c: ResolvedCluster, folder: string, charts: [string, Chart][]): [string, string][] {
  const files: [string, string][] = charts.map(([name, chart]) => [`${folder}/${name}`, manifestFile(c.source, chart)]);
  const kustomization = yamlFile(c.source, {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: charts.map(([name]) => name).sort(),
  });
  return [...files, [`${folder}/kustomization.yaml`, kustomization]];
}

/**
 * Every Kubernetes file of a cluster, keyed by its path under `dist/<cluster>/`:
 * `manifests/` (what GitOps applies), `upgrades/` (system-upgrade-controller Plans,
 * applied separately so a cluster without the controller can leave them out) and
 * `flux/` or `argocd/` (what points the cluster at the other two).
 * `repoDir` is the cluster's folder relative to the repository root.
 */
export function buildKubernetesFiles(c: ResolvedCluster, repoDir: string): Map<string, string> {
  const app = new App();
  const charts = addClusterCharts(app, c);
  const files: [string, string][] = [...kustomizedFolder(c, 'manifests', charts.manifests), ...kustomizedFolder(c, 'upgrades', charts.upgrades)];
  const paths = { manifests: `./${repoDir}/manifests`, upgrades: `./${repoDir}/upgrades` };
  if (c.gitops?.engine === 'flux') files.push(...kustomizedFolder(c, 'flux', [['sync.k8s.yaml', new FluxChart(app, 'flux', c, paths)]]));
  if (c.gitops?.engine === 'argocd') files.push(...kustomizedFolder(c, 'argocd', [['applications.k8s.yaml', new ArgoCdChart(app, 'argocd', c, paths)]]));
  return new Map(files);
}

/** A cluster's charts by file name: what its manifests/ and upgrades/ folders hold. */
export interface ClusterCharts {
  readonly manifests: [string, Chart][];
  readonly upgrades: [string, Chart][];
}

/** Adds the cluster's charts (all but the GitOps ones, which name the repository's layout) under `scope`. */
export function addClusterCharts(scope: Construct, c: ResolvedCluster): ClusterCharts {
  const manifests: [string, Chart][] = [['namespace.k8s.yaml', new SystemNamespaceChart(scope, 'namespace', c)]];
  if (c.loadBalancer.mode === 'daemonset') manifests.push(['load-balancer.k8s.yaml', new LoadBalancerChart(scope, 'load-balancer', c)]);
  if ((c.backup?.targets.length ?? 0) > 0) manifests.push(['etcd-backup.k8s.yaml', new EtcdBackupChart(scope, 'etcd-backup', c)]);
  manifests.push(['cert-expiry.k8s.yaml', new CertificateExpiryChart(scope, 'cert-expiry', c)]);
  const upgrades: [string, Chart][] = [
    ...(c.upgrades.controller === 'bundled' ? [['system-upgrade-controller.k8s.yaml', new SystemUpgradeControllerChart(scope, 'system-upgrade-controller', c)] as [string, Chart]] : []),
    ['plans.k8s.yaml', new UpgradePlansChart(scope, 'upgrades', c)],
  ];
  return { manifests, upgrades };
}
