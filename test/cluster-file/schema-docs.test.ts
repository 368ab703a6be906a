import Ajv from 'ajv';
import { analyzeSpec } from '../../src/compile';
import { AJV_OPTIONS } from '../../src/cluster-file/ajv-options';
import type { ResolvedCluster } from '../../src/cluster-file/resolve';
import { clusterSchema } from '../../src/cluster-file/schema';
import { documentedSchema, FIELD_DOCS } from '../../src/cluster-file/schema-docs';

type Schema = { properties?: Record<string, Schema>; [keyword: string]: unknown };

const isSchema = (value: unknown): value is Schema => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Every property of a schema with its document path: `*` for array items and map values. */
function fields(schema: Schema, path = ''): [string, Schema][] {
  const found: [string, Schema][] = [];
  for (const [name, field] of Object.entries(schema.properties ?? {})) found.push([`${path}/${name}`, field], ...fields(field, `${path}/${name}`));
  for (const child of [schema.items, schema.additionalProperties]) if (isSchema(child)) found.push(...fields(child, `${path}/*`));
  for (const branches of [schema.anyOf, schema.oneOf, schema.allOf]) if (Array.isArray(branches)) for (const b of branches) found.push(...fields(b, path));
  return found;
}

const documented = fields(documentedSchema(clusterSchema) as Schema);

/** A cluster file that sets nothing optional, but turns on every section that has defaults inside. */
const MINIMAL = `apiVersion: k3s-gitops/v1alpha1
kind: Cluster
metadata: { name: minimal }
spec:
  k3s: { version: v1.36.3+k3s1 }
  nodes:
    - { name: server-1, role: server, address: 10.0.0.11 }
  etcd:
    s3: { endpoint: s3.eu-west-1.amazonaws.com, bucket: snapshots }
  backup:
    schedule: "30 */12 * * *"
    targets:
      - { name: dr, s3: { endpoint: s3.eu-west-1.amazonaws.com, bucket: copies, credentialsSecret: dr-s3 } }
  gitops: { engine: flux, repository: https://github.com/acme/fleet.git }
`;

function resolve(text: string): ResolvedCluster {
  const result = analyzeSpec('minimal.yaml', text);
  if (!result.cluster) throw new Error(result.diagnostics.map((d) => `${d.code} ${d.pointer} ${d.message}`).join('\n'));
  return result.cluster;
}

/** Where resolveCluster puts each documented default. */
const RESOLVED: Readonly<Record<string, (c: ResolvedCluster) => unknown>> = {
  '/spec/k3s/airgap': (c) => c.install === 'airgap',
  '/spec/k3s/install': (c) => c.install,
  '/spec/bootstrapped': (c) => c.bootstrapped,
  '/spec/controlPlane/dnsNames': (c) => c.dnsNames,
  '/spec/controlPlane/loadBalancer/mode': (c) => c.loadBalancer.mode,
  '/spec/controlPlane/loadBalancer/interface': (c) => c.loadBalancer.interface,
  '/spec/controlPlane/loadBalancer/virtualRouterId': (c) => c.loadBalancer.virtualRouterId,
  '/spec/controlPlane/loadBalancer/advertInterval': (c) => c.loadBalancer.advertInterval,
  '/spec/controlPlane/loadBalancer/hosts': (c) => c.loadBalancer.hosts,
  '/spec/token/file': (c) => c.tokenFile,
  '/spec/nodes/*/labels': (c) => c.nodes[0].labels,
  '/spec/nodes/*/taints': (c) => c.nodes[0].taints,
  '/spec/nodes/*/extraConfig': (c) => c.nodes[0].extraConfig,
  '/spec/network/clusterCidr': (c) => c.network.clusterCidr,
  '/spec/network/serviceCidr': (c) => c.network.serviceCidr,
  '/spec/network/clusterDns': (c) => c.network.clusterDns,
  '/spec/network/clusterDomain': (c) => c.network.clusterDomain,
  '/spec/network/flannelBackend': (c) => c.network.flannelBackend,
  '/spec/disable': (c) => c.disable,
  '/spec/secretsEncryption': (c) => c.secretsEncryption,
  '/spec/etcd/snapshots/schedule': (c) => c.snapshots.schedule,
  '/spec/etcd/snapshots/retention': (c) => c.snapshots.retention,
  '/spec/etcd/s3/region': (c) => c.etcdS3?.region,
  '/spec/etcd/s3/insecure': (c) => c.etcdS3?.insecure,
  '/spec/upgrades/controller': (c) => c.upgrades.controller,
  '/spec/upgrades/agentConcurrency': (c) => c.upgrades.agentConcurrency,
  '/spec/certificates/warnDays': (c) => c.certificates.warnDays,
  '/spec/monitoring/prometheusRules': (c) => c.monitoring.prometheusRules,
  '/spec/monitoring/namespace': (c) => c.monitoring.namespace,
  '/spec/monitoring/labels': (c) => c.monitoring.labels,
  '/spec/monitoring/etcdMetrics': (c) => c.monitoring.etcdMetrics,
  '/spec/backup/timeZone': (c) => c.backup?.timeZone,
  '/spec/backup/targets/*/s3/region': (c) => c.backup?.targets[0].s3?.region,
  '/spec/gitops/branch': (c) => c.gitops?.branch,
  '/spec/gitops/upgrades': (c) => c.gitops?.upgrades,
  '/spec/cloudInit/sshAuthorizedKeys': (c) => c.cloudInit.sshAuthorizedKeys,
  '/spec/cloudInit/packages': (c) => c.cloudInit.packages,
  '/spec/cloudInit/preInstallCommands': (c) => c.cloudInit.preInstallCommands,
  '/spec/cloudInit/postInstallCommands': (c) => c.cloudInit.postInstallCommands,
  '/spec/extraConfig/servers': (c) => c.extraConfig.servers,
  '/spec/extraConfig/agents': (c) => c.extraConfig.agents,
};

describe('the documented schema', () => {
  test('every field has a description and at least one example', () => {
    const undocumented = documented
      .filter(([, field]) => !(typeof field.description === 'string' && field.description.trim() !== '' && Array.isArray(field.examples) && field.examples.length > 0))
      .map(([path]) => path);
    expect(undocumented).toEqual([]);
  });

  test('FIELD_DOCS documents schema fields only', () => {
    const paths = new Set(documented.map(([path]) => path));
    expect(Object.keys(FIELD_DOCS).filter((path) => !paths.has(path))).toEqual([]);
  });

  test('the input schema is left as it was', () => {
    const before = JSON.stringify(clusterSchema);
    documentedSchema(clusterSchema);
    expect(JSON.stringify(clusterSchema)).toBe(before);
    expect(fields(clusterSchema as Schema).filter(([, field]) => 'description' in field)).toEqual([]);
  });

  test('ajv compiles it in strict mode', () => {
    expect(() => new Ajv(AJV_OPTIONS).compile(documentedSchema(clusterSchema))).not.toThrow();
  });

  test.each(documented)('%s: its examples and default are valid values of the field', (path, field) => {
    const validate = new Ajv(AJV_OPTIONS).compile(field);
    const values = [...(field.examples as unknown[]), ...('default' in field ? [field.default] : [])];
    const invalid = values.filter((value) => !validate(value)).map((value) => ({ value, errors: validate.errors }));
    expect({ path, invalid }).toEqual({ path, invalid: [] });
  });
});

describe('documented defaults are the ones resolveCluster applies', () => {
  const minimal = resolve(MINIMAL);

  test('every documented default is checked here', () => {
    const withDefault = Object.entries(FIELD_DOCS).filter(([, doc]) => doc.default !== undefined).map(([path]) => path);
    expect(withDefault.sort()).toEqual(Object.keys(RESOLVED).sort());
  });

  test.each(Object.entries(RESOLVED))('%s', (path, read) => {
    expect(read(minimal)).toEqual(FIELD_DOCS[path].default);
  });

  test.each([
    ['daemonset', 'loadBalancer: { mode: daemonset }'],
    ['external', 'loadBalancer: { mode: external, hosts: [{ name: lb-1, address: 10.0.0.5 }] }'],
  ])('the load balancer port in %s mode is the one the description names', (mode, loadBalancer) => {
    const c = resolve(`${MINIMAL}  controlPlane: { endpoint: 10.0.0.100, ${loadBalancer} }\n`);
    expect(FIELD_DOCS['/spec/controlPlane/loadBalancer/port'].description).toContain(`${c.loadBalancer.port} in ${mode} mode`);
  });
});
