import { ApiObject, Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import type { ResolvedCluster } from '../spec/resolve';
import { commonLabels } from './common';
import { SYSTEM_NAMESPACE } from '../names';

/** Where the GitOps objects point, relative to the repository root. */
export interface GitOpsPaths {
  readonly manifests: string;
  readonly upgrades: string;
}

/** The namespaces Flux and Argo CD install themselves into. */
export const FLUX_NAMESPACE = 'flux-system';
export const ARGOCD_NAMESPACE = 'argocd';

/**
 * Flux: a GitRepository for the fleet repository and two Kustomizations, one for
 * manifests/ (pruned, health-checked) and one for upgrades/, applied after it.
 */
export class FluxChart extends Chart {
  constructor(scope: Construct, id: string, c: ResolvedCluster, paths: GitOpsPaths) {
    super(scope, id, { disableResourceNameHashes: true, namespace: FLUX_NAMESPACE });
    const gitops = c.gitops as NonNullable<ResolvedCluster['gitops']>;
    const labels = commonLabels(c.name, 'gitops');
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
    new ApiObject(this, 'manifests', {
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: `${c.name}-manifests`, labels },
      spec: {
        interval: '10m0s',
        retryInterval: '1m0s',
        path: paths.manifests,
        prune: true,
        // Health checks: the sync is Ready only when the LB DaemonSet and the rest are.
        wait: true,
        timeout: '5m0s',
        sourceRef: { kind: 'GitRepository', name: c.name },
      },
    });
    if (!gitops.upgrades) return;
    new ApiObject(this, 'upgrades', {
      apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      kind: 'Kustomization',
      metadata: { name: `${c.name}-upgrades`, labels },
      spec: {
        interval: '10m0s',
        path: paths.upgrades,
        prune: true,
        sourceRef: { kind: 'GitRepository', name: c.name },
        dependsOn: [{ name: `${c.name}-manifests` }],
      },
    });
  }
}

/**
 * Argo CD: one Application for manifests/ and one for upgrades/, automated with prune
 * and self-heal. No resources finalizer: deleting an Application must never take the
 * API's load balancer down with it.
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
    if (gitops.upgrades) new ApiObject(this, 'upgrades', app(`${c.name}-upgrades`, paths.upgrades.replace(/^\.\//, ''), 'system-upgrade'));
  }
}
