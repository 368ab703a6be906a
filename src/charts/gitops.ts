import { ApiObject, Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import type { ResolvedCluster } from '../cluster-file/resolve';
import { commonLabels } from './common';
import { SUC_NAMES, SYSTEM_NAMESPACE } from '../names';

/** Where the GitOps objects point, relative to the repository root. */
export interface GitOpsPaths {
  readonly manifests: string;
  /** Both folders below: what Argo CD's one Application builds. */
  readonly upgrades: string;
  /** system-upgrade-controller; applied only when the tree bundles it. */
  readonly controller: string;
  /** The Plans and their Secrets. */
  readonly plans: string;
}

/** The namespaces Flux and Argo CD install themselves into. */
export const FLUX_NAMESPACE = 'flux-system';
export const ARGOCD_NAMESPACE = 'argocd';

/** How long a Kustomization waits for its health checks, and how soon a failed one is retried. */
const FLUX_TIMING = { timeout: '5m0s', retryInterval: '1m0s' } as const;

/**
 * Flux: a GitRepository for the fleet repository and Kustomizations for manifests/
 * (pruned, health-checked), then system-upgrade-controller, then the Plans.
 *
 * The Plans wait for their CRD, which the controller registers when it starts: the
 * controller's Kustomization is Ready only once its Deployment is and the CRD is
 * Established (kstatus reads a CRD's Established condition), and the Plans'
 * Kustomization depends on it. `healthChecks`, not `wait: true`: the CRD is not one
 * of the objects the Kustomization applies, and with `wait` Flux ignores
 * `healthChecks` (kustomize.toolkit.fluxcd.io/v1 KustomizationSpec.Wait). With
 * `upgrades.controller: external` the cluster's own controller has registered the
 * CRD already, and the Plans follow manifests/ directly.
 *
 * `<cluster>-upgrades` keeps its name for the Plans, so an existing cluster's Plans
 * and Secrets stay in the same Kustomization's inventory and are never pruned and
 * made again.
 */
export class FluxChart extends Chart {
  constructor(scope: Construct, id: string, c: ResolvedCluster, paths: GitOpsPaths) {
    super(scope, id, { disableResourceNameHashes: true, namespace: FLUX_NAMESPACE });
    const gitops = c.gitops as NonNullable<ResolvedCluster['gitops']>;
    const labels = commonLabels(c.name, 'gitops');
    const sourceRef = { kind: 'GitRepository', name: c.name };
    new ApiObject(this, 'source', {
      apiVersion: 'source.toolkit.fluxcd.io/v1',
      kind: 'GitRepository',
      metadata: { name: c.name, labels },
      spec: {
        interval: '1m0s',
        url: gitops.repository,
        ref: { branch: gitops.branch },
        ...(gitops.secretName ? { secretRef: { name: gitops.secretName } } : {}),
      },
    });
    const manifests = `${c.name}-manifests`;
    new ApiObject(this, 'manifests', {
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: manifests, labels },
      spec: {
        interval: '10m0s',
        retryInterval: FLUX_TIMING.retryInterval,
        path: paths.manifests,
        prune: true,
        // Health checks: the sync is Ready only when the LB DaemonSet and the rest are.
        wait: true,
        timeout: FLUX_TIMING.timeout,
        sourceRef,
      },
    });
    if (!gitops.upgrades) return;
    let plansAfter = manifests;
    if (c.upgrades.controller === 'bundled') {
      plansAfter = `${c.name}-${SUC_NAMES.deployment}`;
      new ApiObject(this, 'controller', {
        apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
        kind: 'Kustomization',
        metadata: { name: plansAfter, labels },
        spec: {
          interval: '10m0s',
          ...FLUX_TIMING,
          path: paths.controller,
          prune: true,
          healthChecks: [
            { apiVersion: 'apps/v1', kind: 'Deployment', name: SUC_NAMES.deployment, namespace: SUC_NAMES.namespace },
            { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: SUC_NAMES.planCrd },
          ],
          sourceRef,
          dependsOn: [{ name: manifests }],
        },
      });
    }
    new ApiObject(this, 'upgrades', {
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: `${c.name}-upgrades`, labels },
      spec: {
        interval: '10m0s',
        retryInterval: FLUX_TIMING.retryInterval,
        path: paths.plans,
        prune: true,
        sourceRef,
        dependsOn: [{ name: plansAfter }],
      },
    });
  }
}

/**
 * Argo CD: one Application for manifests/ and one for upgrades/, automated with prune
 * and self-heal. No resources finalizer: deleting an Application must never take the
 * API's load balancer down with it.
 *
 * In upgrades/, sync waves put system-upgrade-controller (waves -2 and -1) before the
 * Plans (wave 0), and Argo CD starts a wave only once the one before is healthy. The
 * controller registers the Plans' CRD only once it runs, so a Plan can still reach
 * the API a moment before its CRD: Plans skip the dry-run of a missing kind
 * (`SkipDryRunOnMissingResource`, on each Plan), and a failed sync is retried with
 * backoff, 5 times over about 5 minutes.
 */
export class ArgoCdChart extends Chart {
  constructor(scope: Construct, id: string, c: ResolvedCluster, paths: GitOpsPaths) {
    super(scope, id, { disableResourceNameHashes: true, namespace: ARGOCD_NAMESPACE });
    const gitops = c.gitops as NonNullable<ResolvedCluster['gitops']>;
    const labels = commonLabels(c.name, 'gitops');
    const app = (name: string, path: string, namespace: string) => ({
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name, labels },
      spec: {
        project: 'default',
        source: { repoURL: gitops.repository, targetRevision: gitops.branch, path },
        destination: { server: 'https://kubernetes.default.svc', namespace },
        syncPolicy: {
          automated: { prune: true, selfHeal: true },
          retry: { limit: 5, backoff: { duration: '10s', factor: 2, maxDuration: '5m' } },
        },
      },
    });
    new ApiObject(this, 'manifests', app(`${c.name}-manifests`, paths.manifests.replace(/^\.\//, ''), SYSTEM_NAMESPACE));
    if (gitops.upgrades) new ApiObject(this, 'upgrades', app(`${c.name}-upgrades`, paths.upgrades.replace(/^\.\//, ''), SUC_NAMES.namespace));
  }
}
