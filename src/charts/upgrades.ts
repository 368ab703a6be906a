import { ApiObject, Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import type { ResolvedCluster } from '../spec/resolve';
import { commonLabels } from './common';

/** Where system-upgrade-controller runs, and the service account its install creates. */
export const SUC_NAMESPACE = 'system-upgrade';
const SUC_SERVICE_ACCOUNT = 'system-upgrade';
const UPGRADE_IMAGE = 'rancher/k3s-upgrade';

/**
 * How many servers upgrade at once: one. More than the failures the cluster tolerates
 * could break quorum mid-upgrade; one at a time also keeps the load balancer serving
 * from the rest, and is within what every odd-sized cluster of 3 or more tolerates.
 */
export const SERVER_CONCURRENCY = 1;

/**
 * system-upgrade-controller Plans pinned to `k3s.version`: servers first, one at a
 * time, then agents (their Plan waits for the server Plan), cordoned and drained.
 * Unchanged version, unchanged Plans: nothing happens.
 */
export class UpgradePlansChart extends Chart {
  constructor(scope: Construct, id: string, c: ResolvedCluster) {
    super(scope, id, { disableResourceNameHashes: true, namespace: SUC_NAMESPACE });
    const labels = commonLabels(c.name, 'upgrades');
    // Every taint: a node the Plan skips would stay on the old version (or config) for good.
    const tolerations = [{ operator: 'Exists' }];
    new ApiObject(this, 'server', {
      apiVersion: 'upgrade.cattle.io/v1',
      kind: 'Plan',
      metadata: { name: 'k3s-server', labels },
      spec: {
        concurrency: SERVER_CONCURRENCY,
        cordon: true,
        nodeSelector: { matchExpressions: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'In', values: ['true'] }] },
        tolerations,
        serviceAccountName: SUC_SERVICE_ACCOUNT,
        upgrade: { image: UPGRADE_IMAGE },
        version: c.k3sVersion,
      },
    });
    if (c.agents.length === 0) return;
    new ApiObject(this, 'agent', {
      apiVersion: 'upgrade.cattle.io/v1',
      kind: 'Plan',
      metadata: { name: 'k3s-agent', labels },
      spec: {
        concurrency: 1,
        cordon: true,
        drain: { force: true, ignoreDaemonSets: true, deleteEmptydirData: true, skipWaitForDeleteTimeout: 60 },
        nodeSelector: { matchExpressions: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'DoesNotExist' }] },
        // Agents wait until every server runs the new version.
        prepare: { image: UPGRADE_IMAGE, args: ['prepare', 'k3s-server'] },
        serviceAccountName: SUC_SERVICE_ACCOUNT,
        tolerations,
        upgrade: { image: UPGRADE_IMAGE },
        version: c.k3sVersion,
      },
    });
  }
}
