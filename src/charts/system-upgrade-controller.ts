import { ApiObject, Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import type { ResolvedCluster } from '../cluster-file/resolve';
import { SUC_NAMES } from '../names';
import { clusterImage, IMAGES } from '../images';
import { commonLabels } from './common';

/**
 * Argo CD applies lower waves first: the namespace, then the controller; the Plans
 * stay at the default wave 0, after both.
 */
const wave = (n: number) => ({ 'argocd.argoproj.io/sync-wave': String(n) });

/**
 * system-upgrade-controller as its v0.20.1 release installs it: namespace (privileged
 * Pod Security, its jobs run privileged on the host), service account, the
 * controller's and the drainer's ClusterRoles, a Role for jobs and secrets in its own
 * namespace (it watches only that one), its env ConfigMap and the Deployment on a
 * control-plane node. No CRD: the controller creates `plans.upgrade.cattle.io` with
 * its full schema each time it starts, replacing whatever is there
 * (pkg/upgrade/controller.go registerCRD, wrangler's BatchCreateCRDs), so a CRD in the
 * tree would be put back by GitOps and replaced again at the next start, for good.
 * The GitOps objects apply the Plans only once the controller has registered it.
 */
export class SystemUpgradeControllerChart extends Chart {
  constructor(scope: Construct, id: string, c: ResolvedCluster) {
    super(scope, id, { disableResourceNameHashes: true });
    const labels = commonLabels(c.name, 'system-upgrade-controller');
    const ns = SUC_NAMES.namespace;
    const sa = SUC_NAMES.serviceAccount;
    const obj = (oid: string, body: Record<string, unknown>) => new ApiObject(this, oid, body as never);

    obj('namespace', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { ...labels, 'pod-security.kubernetes.io/enforce': 'privileged' }, annotations: wave(-2) } });
    obj('sa', { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa, namespace: ns, labels, annotations: wave(-1) } });
    const rules = {
      controller: [
        { apiGroups: ['batch'], resources: ['jobs'], verbs: ['get', 'list', 'watch'] },
        // It registers the Plans' CRD itself at each start: list, then create or update.
        { apiGroups: ['apiextensions.k8s.io'], resources: ['customresourcedefinitions'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'update'] },
        { apiGroups: [''], resources: ['namespaces', 'nodes'], verbs: ['get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['nodes'], verbs: ['update'] },
        { apiGroups: [''], resources: ['events'], verbs: ['get', 'create', 'patch', 'update'] },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
        { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: ['system-upgrade-controller'], verbs: ['get', 'update'] },
        { apiGroups: ['upgrade.cattle.io'], resources: ['plans', 'plans/status'], verbs: ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete'] },
      ],
      // What its jobs need for cordon and drain, and k3s-upgrade's prepare to read Plans and Nodes.
      drainer: [
        { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'delete'] },
        { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] },
        { apiGroups: ['apps'], resources: ['statefulsets', 'daemonsets', 'replicasets'], verbs: ['get', 'list'] },
      ],
    };
    const subject = [{ kind: 'ServiceAccount', name: sa, namespace: ns }];
    for (const [name, ruleSet] of [['system-upgrade-controller', rules.controller], ['system-upgrade-controller-drainer', rules.drainer]] as const) {
      obj(`cr-${name}`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name, labels, annotations: wave(-1) }, rules: ruleSet });
      obj(`crb-${name}`, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name, labels, annotations: wave(-1) }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name }, subjects: subject });
    }
    obj('role', {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'system-upgrade-controller', namespace: ns, labels, annotations: wave(-1) },
      rules: [
        { apiGroups: ['batch'], resources: ['jobs'], verbs: ['create', 'delete', 'deletecollection', 'patch', 'update', 'get', 'list', 'watch'] },
        { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] },
      ],
    });
    obj('rolebinding', {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'system-upgrade-controller', namespace: ns, labels, annotations: wave(-1) },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'system-upgrade-controller' }, subjects: subject,
    });
    obj('env', {
      apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'default-controller-env', namespace: ns, labels, annotations: wave(-1) },
      data: {
        SYSTEM_UPGRADE_CONTROLLER_DEBUG: 'false',
        SYSTEM_UPGRADE_CONTROLLER_THREADS: '2',
        SYSTEM_UPGRADE_CONTROLLER_LEADER_ELECT: 'true',
        SYSTEM_UPGRADE_JOB_ACTIVE_DEADLINE_SECONDS: '900',
        SYSTEM_UPGRADE_JOB_BACKOFF_LIMIT: '99',
        // IfNotPresent, unlike the release's Always: a rollout must not need the registry.
        SYSTEM_UPGRADE_JOB_IMAGE_PULL_POLICY: 'IfNotPresent',
        SYSTEM_UPGRADE_JOB_KUBECTL_IMAGE: clusterImage(c, IMAGES.sucKubectl),
        SYSTEM_UPGRADE_JOB_PRIVILEGED: 'true',
        SYSTEM_UPGRADE_JOB_TTL_SECONDS_AFTER_FINISH: '900',
        SYSTEM_UPGRADE_PLAN_POLLING_INTERVAL: '15m',
      },
    });
    const podLabels = { 'upgrade.cattle.io/controller': 'system-upgrade-controller', 'app.kubernetes.io/name': 'system-upgrade-controller' };
    obj('deployment', {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: SUC_NAMES.deployment, namespace: ns, labels, annotations: wave(-1) },
      spec: {
        replicas: 1,
        strategy: { type: 'Recreate' },
        selector: { matchLabels: podLabels },
        template: {
          metadata: { labels: podLabels },
          spec: {
            serviceAccountName: sa,
            affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists' }, { key: 'kubernetes.io/os', operator: 'In', values: ['linux'] }] }] } } },
            tolerations: [
              { key: 'CriticalAddonsOnly', operator: 'Exists' },
              { key: 'node-role.kubernetes.io/master', operator: 'Exists', effect: 'NoSchedule' },
              { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' },
              { key: 'node-role.kubernetes.io/etcd', operator: 'Exists', effect: 'NoExecute' },
            ],
            containers: [{
              name: 'system-upgrade-controller',
              image: clusterImage(c, IMAGES.sucController),
              imagePullPolicy: 'IfNotPresent',
              envFrom: [{ configMapRef: { name: 'default-controller-env' } }],
              env: [
                { name: 'SYSTEM_UPGRADE_CONTROLLER_NAME', valueFrom: { fieldRef: { fieldPath: "metadata.labels['upgrade.cattle.io/controller']" } } },
                { name: 'SYSTEM_UPGRADE_CONTROLLER_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
                { name: 'SYSTEM_UPGRADE_CONTROLLER_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
              ],
              securityContext: { runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534, allowPrivilegeEscalation: false, seccompProfile: { type: 'RuntimeDefault' }, capabilities: { drop: ['ALL'] } },
              volumeMounts: [
                { name: 'etc-ssl', mountPath: '/etc/ssl', readOnly: true },
                { name: 'etc-pki', mountPath: '/etc/pki', readOnly: true },
                { name: 'etc-ca-certificates', mountPath: '/etc/ca-certificates', readOnly: true },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            }],
            volumes: [
              { name: 'etc-ssl', hostPath: { path: '/etc/ssl', type: 'DirectoryOrCreate' } },
              { name: 'etc-pki', hostPath: { path: '/etc/pki', type: 'DirectoryOrCreate' } },
              { name: 'etc-ca-certificates', hostPath: { path: '/etc/ca-certificates', type: 'DirectoryOrCreate' } },
              { name: 'tmp', emptyDir: {} },
            ],
          },
        },
      },
    });
  }
}
