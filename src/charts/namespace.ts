import { Chart } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import type { Construct } from 'constructs';
import type { ResolvedCluster } from '../cluster-file/resolve';
import { commonLabels } from './common';
import { SYSTEM_NAMESPACE } from '../names';

/** The namespace our workloads run in. */
export class SystemNamespaceChart extends Chart {
  constructor(scope: Construct, id: string, cluster: ResolvedCluster) {
    super(scope, id, { disableResourceNameHashes: true });
    new kplus.Namespace(this, 'namespace', {
      metadata: { name: SYSTEM_NAMESPACE, labels: { ...commonLabels(cluster.name, 'namespace'), 'pod-security.kubernetes.io/enforce': 'privileged' } },
    });
  }
}
