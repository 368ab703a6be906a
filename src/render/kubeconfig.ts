import { endpointUrl, type ResolvedCluster } from '../cluster-file/resolve';
import { YAML } from '../yaml';

const { isMap, isSeq, parseDocument } = YAML;

/** A kubeconfig that cannot be rewritten. */
export class KubeconfigError extends Error {}

/**
 * Points a K3s kubeconfig (`/etc/rancher/k3s/k3s.yaml`) at the cluster's endpoint, so
 * tools survive the loss of the server it was copied from. K3s names everything
 * `default`; those names become the cluster's, so several clusters merge cleanly.
 * Everything else, credentials included, passes through untouched.
 */
export function retargetKubeconfig(c: ResolvedCluster, text: string): string {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) throw new KubeconfigError(`input is not a kubeconfig: ${doc.errors[0].message.split('\n')[0]}`);
  const clusters = doc.get('clusters');
  if (doc.get('kind') !== 'Config' || !isSeq(clusters) || clusters.items.length === 0) {
    throw new KubeconfigError('input is not a kubeconfig (kind: Config with clusters); pipe /etc/rancher/k3s/k3s.yaml in');
  }
  const rename = (value: unknown) => (value === 'default' ? c.name : value);
  for (const item of clusters.items) {
    if (!isMap(item)) continue;
    item.setIn(['cluster', 'server'], endpointUrl(c));
    item.set('name', rename(item.get('name')));
  }
  const contexts = doc.get('contexts');
  for (const item of isSeq(contexts) ? contexts.items : []) {
    if (!isMap(item)) continue;
    item.set('name', rename(item.get('name')));
    item.setIn(['context', 'cluster'], rename(item.getIn(['context', 'cluster'])));
    item.setIn(['context', 'user'], rename(item.getIn(['context', 'user'])));
  }
  const users = doc.get('users');
  for (const item of isSeq(users) ? users.items : []) if (isMap(item)) item.set('name', rename(item.get('name')));
  doc.set('current-context', rename(doc.get('current-context')));
  return doc.toString();
}
