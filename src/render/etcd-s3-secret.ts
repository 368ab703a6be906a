import type { ResolvedCluster } from '../cluster-file/resolve';
import { generatedBy, toYaml } from './text';

/** Where the template sits in the tree: outside manifests/, so nothing applies it. */
export const S3_SECRET_TEMPLATE = 'templates/etcd-s3-config-secret.yaml';

/**
 * The Secret that `etcd.s3.configSecret` names, as K3s documents it ("S3 Configuration
 * Secret Support", k3s-io/docs docs/cli/etcd-snapshot.md): kube-system, type
 * `etcd.k3s.cattle.io/s3-config-secret`, one `etcd-s3-*` key per setting, read by
 * pkg/etcd/s3/config_secret.go. The settings come from the cluster file; the keys are
 * placeholders, never values: fill them in outside Git.
 */
export function renderS3SecretTemplate(c: ResolvedCluster): string | undefined {
  const s3 = c.etcdS3;
  if (!s3?.configSecret) return undefined;
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: s3.configSecret, namespace: 'kube-system' },
    type: 'etcd.k3s.cattle.io/s3-config-secret',
    stringData: {
      'etcd-s3-endpoint': s3.endpoint,
      'etcd-s3-bucket': s3.bucket,
      ...(s3.folder ? { 'etcd-s3-folder': s3.folder } : {}),
      'etcd-s3-region': s3.region,
      'etcd-s3-insecure': String(s3.insecure),
      'etcd-s3-access-key': '<AWS_ACCESS_KEY_ID>',
      'etcd-s3-secret-key': '<AWS_SECRET_ACCESS_KEY>',
    },
  };
  return `# ${generatedBy(c.source)}
# A template, not a manifest: fill in the two keys outside Git, then
#   kubectl apply -f <filled copy>   (or create it with kubectl create secret, see RUNBOOK.md)
${toYaml(secret)}`;
}
