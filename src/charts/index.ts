import * as path from 'node:path';
import { App, type Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import type { ResolvedCluster } from '../cluster-file/resolve';
import { yamlFile } from '../render/text';
import { PLANS_FILE, TREE_FOLDERS } from '../names';
import { manifestFile } from './common';
import { CertificateExpiryChart } from './cert-expiry';
import { EtcdBackupChart } from './etcd-backup';
import { ArgoCdChart, FluxChart, type GitOpsPaths } from './gitops';
import { LoadBalancerChart } from './load-balancer';
import { MonitoringChart } from './monitoring';
import { SystemNamespaceChart } from './namespace';
import { SystemUpgradeControllerChart } from './system-upgrade-controller';
import { UpgradePlansChart } from './upgrades';

/** A kustomization.yaml that lists exactly `resources`: files or folders. */
function kustomization(c: ResolvedCluster, resources: readonly string[]): string {
  return yamlFile(c.source, { apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: [...resources].sort() });
}

/** A folder of manifests plus the kustomization.yaml that lists exactly them. */
function kustomizedFolder(c: ResolvedCluster, folder: string, charts: [string, Chart][]): [string, string][] {
  const files: [string, string][] = charts.map(([name, chart]) => [`${folder}/${name}`, manifestFile(c.source, chart)]);
  return [...files, [`${folder}/kustomization.yaml`, kustomization(c, charts.map(([name]) => name))]];
}

/**
 * Every Kubernetes file of a cluster, keyed by its path under `dist/<cluster>/`:
 * `manifests/` (what GitOps applies), `upgrades/` (system-upgrade-controller in
 * `controller/`, unless the cluster runs its own, and the Plans in `plans/`; applied
 * apart from manifests/ so a cluster without a controller can leave them out, and
 * apart from each other so the Plans wait for the CRD the controller registers) and
 * `flux/` or `argocd/` (what points the cluster at them).
 * `repoDir` is the cluster's folder relative to the repository root.
 */
export function buildKubernetesFiles(c: ResolvedCluster, repoDir: string): Map<string, string> {
  const app = new App();
  const charts = addClusterCharts(app, c, repoDir);
  const files: [string, string][] = kustomizedFolder(c, TREE_FOLDERS.manifests, charts.manifests);
  const upgrades = charts.controller.length > 0 ? [TREE_FOLDERS.controller, TREE_FOLDERS.plans] : [TREE_FOLDERS.plans];
  if (charts.controller.length > 0) files.push(...kustomizedFolder(c, TREE_FOLDERS.controller, charts.controller));
  files.push(...kustomizedFolder(c, TREE_FOLDERS.plans, charts.plans));
  // What Argo CD's one Application builds, its sync waves putting the controller first.
  files.push([`${TREE_FOLDERS.upgrades}/kustomization.yaml`, kustomization(c, upgrades.map((f) => path.posix.basename(f)))]);
  const at = (folder: string) => `./${repoDir}/${folder}`;
  const paths: GitOpsPaths = { manifests: at(TREE_FOLDERS.manifests), upgrades: at(TREE_FOLDERS.upgrades), controller: at(TREE_FOLDERS.controller), plans: at(TREE_FOLDERS.plans) };
  if (c.gitops?.engine === 'flux') files.push(...kustomizedFolder(c, 'flux', [['sync.k8s.yaml', new FluxChart(app, 'flux', c, paths)]]));
  if (c.gitops?.engine === 'argocd') files.push(...kustomizedFolder(c, 'argocd', [['applications.k8s.yaml', new ArgoCdChart(app, 'argocd', c, paths)]]));
  return new Map(files);
}

/** A cluster's charts by file name, by the folder that holds them. */
export interface ClusterCharts {
  readonly manifests: [string, Chart][];
  /** system-upgrade-controller; empty with `upgrades.controller: external`. */
  readonly controller: [string, Chart][];
  /** The Plans and the Secrets they mount. */
  readonly plans: [string, Chart][];
}

/**
 * Adds the cluster's charts (all but the GitOps ones, which name the repository's layout)
 * under `scope`. `repoDir`, the cluster's folder in the repository, makes the alerts'
 * runbook links point at its RUNBOOK.md; without it they name RUNBOOK.md alone.
 */
export function addClusterCharts(scope: Construct, c: ResolvedCluster, repoDir?: string): ClusterCharts {
  const manifests: [string, Chart][] = [['namespace.k8s.yaml', new SystemNamespaceChart(scope, 'namespace', c)]];
  if (c.loadBalancer.mode === 'daemonset') manifests.push(['load-balancer.k8s.yaml', new LoadBalancerChart(scope, 'load-balancer', c)]);
  if ((c.backup?.targets.length ?? 0) > 0) manifests.push(['etcd-backup.k8s.yaml', new EtcdBackupChart(scope, 'etcd-backup', c)]);
  manifests.push(['cert-expiry.k8s.yaml', new CertificateExpiryChart(scope, 'cert-expiry', c)]);
  // Only when asked: these objects need prometheus-operator's CRDs in the cluster.
  if (c.monitoring.prometheusRules || c.monitoring.etcdMetrics) manifests.push(['monitoring.k8s.yaml', new MonitoringChart(scope, 'monitoring', c, repoDir)]);
  const controller: [string, Chart][] = c.upgrades.controller === 'bundled' ? [['system-upgrade-controller.k8s.yaml', new SystemUpgradeControllerChart(scope, 'system-upgrade-controller', c)]] : [];
  const plans: [string, Chart][] = [[path.posix.basename(PLANS_FILE), new UpgradePlansChart(scope, 'upgrades', c)]];
  return { manifests, controller, plans };
}
