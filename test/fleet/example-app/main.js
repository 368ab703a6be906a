// A user's own cdk8s app: the K3s cluster's charts beside the user's, from the
// installed k3s-gitops package. Run with `npx cdk8s synth` and the cdk8s.yaml that
// docs/guides/fleet-repository.md shows.
const fs = require('node:fs');
const path = require('node:path');
const { ApiObject, App, Chart } = require('cdk8s');
const { K3sCluster, loadClusterFile } = require('k3s-gitops');

const app = new App();
const source = 'clusters/prod.yaml';
const k3s = new K3sCluster(app, 'prod', { cluster: loadClusterFile(source, fs.readFileSync(source, 'utf8')) });
const apps = new Chart(app, 'apps');
new ApiObject(apps, 'hello', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'hello', namespace: 'default' }, data: { greeting: 'hello' } });
app.synth();

// Node-side files are not Kubernetes objects: the app writes them itself.
for (const [rel, text] of k3s.nodeFiles) {
  const file = path.join(app.outdir, 'prod-nodes', rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}
