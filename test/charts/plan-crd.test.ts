/**
 * Every Plan the tree holds, checked against the Plan CRD that system-upgrade-controller
 * v0.20.1 registers when it starts. The model below is written by hand from
 * rancher/system-upgrade-controller at tag v0.20.1:
 * - pkg/crds/yaml/generated/upgrade.cattle.io_plans.yaml: the CRD's openAPIV3Schema
 *   (field names, types, formats, `required`);
 * - pkg/apis/upgrade.cattle.io/v1/types.go: PlanSpec, ContainerSpec, VolumeSpec,
 *   DrainSpec, SecretSpec, TimeWindowSpec, which the CRD is generated from.
 *
 * It models each field of PlanSpec and of the types we use, with their siblings; below
 * that (securityContext's members, an env var's valueFrom sources) only the type. Every
 * object it models in full is closed (`additionalProperties: false`): the real schema is
 * structural, so the API server prunes an unknown field without a word, and a
 * misspelled field (`concurency`, `env` for `envs`, `matchExpression`) would be dropped
 * from the Plan that runs: a Plan with no node selector runs on every node. Here it is
 * an error.
 */
import * as path from 'node:path';
import Ajv, { type ErrorObject } from 'ajv';
import { SUC_NAMES } from '../../src/names';
import { GOOD, goodFixtures, loadCluster, parseManifests, treeOf } from '../helpers';

const string = { type: 'string' };
const strings = { type: 'array', items: string };
const boolean = { type: 'boolean' };
const int32 = { type: 'integer', format: 'int32' };
const int64 = { type: 'integer', format: 'int64' };
const stringMap = { type: 'object', additionalProperties: string };
/** A field whose members we never set: its type only. */
const anyObject = { type: 'object' };
/** An object with exactly these fields. */
const closed = (properties: Record<string, unknown>, required?: string[]) => ({ type: 'object', additionalProperties: false, properties, ...(required ? { required } : {}) });
const arrayOf = (items: unknown, extra: Record<string, unknown> = {}) => ({ type: 'array', items, ...extra });

/** metav1.LabelSelector. */
const labelSelector = closed({
  matchExpressions: arrayOf(closed({ key: string, operator: string, values: strings }, ['key', 'operator'])),
  matchLabels: stringMap,
});

/** ContainerSpec: `prepare` and `upgrade`. */
const containerSpec = closed({
  image: string,
  command: strings,
  args: strings,
  // corev1.EnvVar, under the name `envs`.
  envs: arrayOf(closed({
    name: string,
    value: string,
    valueFrom: closed({ configMapKeyRef: anyObject, fieldRef: anyObject, fileKeyRef: anyObject, resourceFieldRef: anyObject, secretKeyRef: anyObject }),
  }, ['name'])),
  envFrom: arrayOf(closed({ configMapRef: closed({ name: string, optional: boolean }), prefix: string, secretRef: closed({ name: string, optional: boolean }) })),
  // VolumeSpec: a host path.
  volumes: arrayOf(closed({ name: string, source: string, destination: string }, ['name', 'source', 'destination'])),
  securityContext: closed({
    allowPrivilegeEscalation: boolean, appArmorProfile: anyObject, capabilities: anyObject, privileged: boolean, procMount: string,
    readOnlyRootFilesystem: boolean, runAsGroup: int64, runAsNonRoot: boolean, runAsUser: int64, seLinuxOptions: anyObject,
    seccompProfile: anyObject, windowsOptions: anyObject,
  }),
}, ['image']);

const DAYS = ['0', 'su', 'sun', 'sunday', '1', 'mo', 'mon', 'monday', '2', 'tu', 'tue', 'tuesday', '3', 'we', 'wed', 'wednesday', '4', 'th', 'thu', 'thursday', '5', 'fr', 'fri', 'friday', '6', 'sa', 'sat', 'saturday'];

const planSpec = closed({
  concurrency: int64,
  jobActiveDeadlineSecs: int64,
  nodeSelector: labelSelector,
  serviceAccountName: string,
  channel: string,
  version: string,
  secrets: arrayOf(closed({ name: string, path: string, ignoreUpdates: boolean, defaultMode: int32 }, ['name', 'path'])),
  tolerations: arrayOf(closed({ effect: string, key: string, operator: string, tolerationSeconds: int64, value: string })),
  exclusive: boolean,
  window: closed({ days: arrayOf({ type: 'string', enum: DAYS }, { minItems: 1 }), startTime: string, endTime: string, timeZone: string }),
  prepare: containerSpec,
  upgrade: containerSpec,
  cordon: boolean,
  drain: closed({
    // intstr.IntOrString: a duration string for `kubectl drain`, or nanoseconds.
    timeout: { anyOf: [{ type: 'integer' }, { type: 'string' }] },
    gracePeriod: int32,
    deleteLocalData: boolean,
    deleteEmptydirData: boolean,
    ignoreDaemonSets: boolean,
    force: boolean,
    disableEviction: boolean,
    skipWaitForDeleteTimeout: { type: 'integer' },
    podSelector: labelSelector,
  }),
  imagePullSecrets: arrayOf(closed({ name: string })),
  // metav1.Duration, a string in the CRD.
  postCompleteDelay: string,
  priorityClassName: string,
  postCompleteLabels: stringMap,
}, ['upgrade']);

/**
 * A Plan object. The CRD requires nothing at the top; the API server requires apiVersion,
 * kind and metadata, and a Plan without spec has nothing to run.
 */
const PLAN_V0_20_1 = closed({
  apiVersion: { const: 'upgrade.cattle.io/v1' },
  kind: { const: 'Plan' },
  metadata: anyObject,
  spec: planSpec,
  status: anyObject,
}, ['apiVersion', 'kind', 'metadata', 'spec']);

const ajv = new Ajv({ allErrors: true, strict: true });
// Whole numbers in the range of the Go type behind the field.
ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
const validPlan = ajv.compile(PLAN_V0_20_1);

/** Where the model fails a Plan, and why: ajv's instance path, keyword and params. */
function failures(plan: unknown): Pick<ErrorObject, 'instancePath' | 'keyword' | 'params'>[] {
  return validPlan(plan) ? [] : (validPlan.errors ?? []).map(({ instancePath, keyword, params }) => ({ instancePath, keyword, params }));
}

const clusters = goodFixtures().map((f) => loadCluster(f));
const objectsOf = (tree: Map<string, string>) => [...tree].filter(([k]) => k.endsWith('.k8s.yaml')).flatMap(([, v]) => parseManifests(v));
const plansOf = (tree: Map<string, string>) => objectsOf(tree).filter((o) => o.kind === 'Plan');

describe.each(clusters.map((c) => [c.source, c] as const))('Plans of %s', (_source, c) => {
  const tree = treeOf(c);

  test('every Plan has only fields of the v0.20.1 CRD, of their types, with what it requires', () => {
    const plans = plansOf(tree);
    expect(plans.length).toBeGreaterThan(0);
    expect(plans.map((p) => ({ plan: p.metadata.name, failures: failures(p) }))).toEqual(plans.map((p) => ({ plan: p.metadata.name, failures: [] })));
    // The controller watches only its own namespace.
    for (const p of plans) expect(p.metadata.namespace).toBe(SUC_NAMES.namespace);
  });

  test('the tree holds no CustomResourceDefinition: the Plans\' is the controller\'s', () => {
    expect(objectsOf(tree).filter((o) => o.kind === 'CustomResourceDefinition').map((o) => o.metadata.name)).toEqual([]);
  });
});

describe('the model refuses what the API server would drop or refuse', () => {
  const base = plansOf(treeOf(loadCluster(path.join(GOOD, 'ha.yaml'))))[0];
  /** `base` with its spec edited. */
  const edited = (edit: (spec: any) => void) => {
    const plan = structuredClone(base);
    edit(plan.spec);
    return plan;
  };

  test('a Plan using every field of the CRD, in each shape it allows, passes: the model is not stricter than the CRD', () => {
    const container = {
      image: 'busybox:1.36.1', command: ['sh'], args: ['-c', 'true'],
      envs: [{ name: 'A', value: '1' }, { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
      envFrom: [{ configMapRef: { name: 'env', optional: true }, prefix: 'X_' }, { secretRef: { name: 'env' } }],
      volumes: [{ name: 'host', source: '/etc', destination: '/host/etc' }],
      securityContext: { privileged: true, runAsUser: 0, capabilities: { add: ['SYS_ADMIN'] } },
    };
    const selector = { matchLabels: { a: 'b' }, matchExpressions: [{ key: 'k', operator: 'In', values: ['v'] }, { key: 'k2', operator: 'Exists' }] };
    const full = edited((spec) => Object.assign(spec, {
      concurrency: 2, jobActiveDeadlineSecs: 900, nodeSelector: selector, serviceAccountName: 'system-upgrade', channel: 'https://update.k3s.io/v1-release/channels/stable',
      version: 'v1.36.3+k3s1', secrets: [{ name: 's', path: '/s', ignoreUpdates: true, defaultMode: 0o400 }],
      tolerations: [{ key: 'k', operator: 'Equal', value: 'v', effect: 'NoExecute', tolerationSeconds: 60 }], exclusive: true,
      window: { days: ['mo', 'friday', '0'], startTime: '01:00', endTime: '05:00', timeZone: 'Europe/Berlin' },
      prepare: container, upgrade: container, cordon: true,
      drain: { timeout: '10m', gracePeriod: 30, deleteLocalData: true, deleteEmptydirData: true, ignoreDaemonSets: true, force: true, disableEviction: false, skipWaitForDeleteTimeout: 60, podSelector: selector },
      imagePullSecrets: [{ name: 'pull' }], postCompleteDelay: '30s', priorityClassName: 'system-node-critical', postCompleteLabels: { 'k3s-gitops.io/config-hash': '$(LATEST_HASH)' },
    }));
    expect(failures(full)).toEqual([]);
    expect(failures(edited((spec) => { spec.drain = { timeout: 600_000_000_000 }; }))).toEqual([]);
  });

  test.each([
    ['a misspelled PlanSpec field', (s: any) => { s.concurency = 1; }, '/spec', 'additionalProperties', { additionalProperty: 'concurency' }],
    ['concurrency as a string', (s: any) => { s.concurrency = '1'; }, '/spec/concurrency', 'type', { type: 'integer' }],
    ['cordon as a string', (s: any) => { s.cordon = 'true'; }, '/spec/cordon', 'type', { type: 'boolean' }],
    ['no upgrade container', (s: any) => { delete s.upgrade; }, '/spec', 'required', { missingProperty: 'upgrade' }],
    ['an upgrade container without image', (s: any) => { s.upgrade = { command: ['sh'] }; }, '/spec/upgrade', 'required', { missingProperty: 'image' }],
    ['`env` for ContainerSpec\'s `envs`', (s: any) => { s.upgrade.env = [{ name: 'A', value: '1' }]; }, '/spec/upgrade', 'additionalProperties', { additionalProperty: 'env' }],
    ['a misspelled env var field', (s: any) => { s.upgrade.envs = [{ name: 'A', valu: '1' }]; }, '/spec/upgrade/envs/0', 'additionalProperties', { additionalProperty: 'valu' }],
    ['a misspelled SecretSpec field', (s: any) => { s.secrets = [{ name: 's', path: '/s', ignoreUpdate: true }]; }, '/spec/secrets/0', 'additionalProperties', { additionalProperty: 'ignoreUpdate' }],
    ['a Secret without path', (s: any) => { s.secrets = [{ name: 's' }]; }, '/spec/secrets/0', 'required', { missingProperty: 'path' }],
    ['a defaultMode beyond int32', (s: any) => { s.secrets = [{ name: 's', path: '/s', defaultMode: 2 ** 40 }]; }, '/spec/secrets/0/defaultMode', 'format', { format: 'int32' }],
    ['a misspelled DrainSpec field', (s: any) => { s.drain = { ignoreDaemonsets: true }; }, '/spec/drain', 'additionalProperties', { additionalProperty: 'ignoreDaemonsets' }],
    ['a drain grace period as a duration', (s: any) => { s.drain = { gracePeriod: '30s' }; }, '/spec/drain/gracePeriod', 'type', { type: 'integer' }],
    ['a node selector whose matchExpressions is misspelled (it would select every node)', (s: any) => { s.nodeSelector = { matchExpression: [] }; }, '/spec/nodeSelector', 'additionalProperties', { additionalProperty: 'matchExpression' }],
    ['a window on no day the controller knows', (s: any) => { s.window = { days: ['funday'] }; }, '/spec/window/days/0', 'enum', { allowedValues: DAYS }],
  ])('fails: %s', (_what, edit, instancePath, keyword, params) => {
    expect(failures(edited(edit))).toContainEqual({ instancePath, keyword, params });
  });
});
