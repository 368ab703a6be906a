/**
 * PrometheusRule, PodMonitor and ServiceMonitor (monitoring.coreos.com/v1) as the
 * prometheus-operator CRDs admit them; kubernetes-models has no model for the group.
 * Written by hand from prometheus-operator/prometheus-operator at v0.93.0:
 * - pkg/apis/monitoring/v1/prometheusrule_types.go: PrometheusRuleSpec, RuleGroup, Rule;
 * - pkg/apis/monitoring/v1/podmonitor_types.go: PodMonitorSpec, PodMetricsEndpoint;
 * - pkg/apis/monitoring/v1/servicemonitor_types.go and types.go: ServiceMonitorSpec,
 *   Endpoint, NamespaceSelector, NativeHistogramConfig, ProxyConfig, Duration (its
 *   kubebuilder pattern), Scheme (its enum);
 * - pkg/apis/monitoring/v1/prometheus_types.go: RelabelConfig;
 * - http_config.go: the HTTP client fields PodMetricsEndpoint and Endpoint inline;
 * - example/prometheus-operator-crd/*.yaml, the CRDs generated from them (`required`,
 *   `expr` as int-or-string).
 * It models each field of the specs and of the types we set, with their siblings; below
 * that (authorization, tlsConfig, ...) only the type. What it models in full is closed:
 * the CRDs are structural, so the API server drops an unknown field without a word,
 * and a misspelled `for` or `podMetricsEndpoint` would silently give an alert that
 * fires at once or a monitor that scrapes nothing.
 */
import Ajv, { type ErrorObject } from 'ajv';

const string = { type: 'string' };
const strings = { type: 'array', items: string };
const boolean = { type: 'boolean' };
const int = { type: 'integer' };
const stringMap = { type: 'object', additionalProperties: string };
const anyObject = { type: 'object' };
const closed = (properties: Record<string, unknown>, required?: string[]) => ({ type: 'object', additionalProperties: false, properties, ...(required ? { required } : {}) });
const arrayOf = (items: unknown) => ({ type: 'array', items });

/** monitoringv1.Duration: `+kubebuilder:validation:Pattern`. */
const duration = { type: 'string', pattern: '^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$' };
const nonEmptyDuration = { ...duration, minLength: 1 };
const intOrString = { anyOf: [{ type: 'integer' }, { type: 'string' }] };

const rule = closed({
  record: string, alert: string, expr: intOrString, for: duration, keep_firing_for: nonEmptyDuration, labels: stringMap, annotations: stringMap,
}, ['expr']);

const ruleGroup = closed({
  name: { type: 'string', minLength: 1 },
  labels: stringMap,
  interval: duration,
  query_offset: duration,
  rules: arrayOf(rule),
  // `^(?i)(abort|warn)?$`, spelled out: JavaScript has no inline flags.
  partial_response_strategy: { type: 'string', pattern: '^([aA][bB][oO][rR][tT]|[wW][aA][rR][nN])?$' },
  limit: int,
}, ['name']);

const labelSelector = closed({
  matchExpressions: arrayOf(closed({ key: string, operator: string, values: strings }, ['key', 'operator'])),
  matchLabels: stringMap,
});

const namespaceSelector = closed({ any: boolean, matchNames: strings });

const relabelConfig = closed({
  sourceLabels: strings, separator: string, targetLabel: string, regex: string, modulus: int, replacement: string, action: string,
});

/** HTTPConfigWithoutTLS, tlsConfig, ProxyConfig: the client fields both endpoint kinds inline. */
const httpClient = {
  authorization: anyObject, basicAuth: anyObject, oauth2: anyObject, bearerTokenSecret: anyObject, followRedirects: boolean, enableHttp2: boolean,
  tlsConfig: anyObject, proxyUrl: string, noProxy: string, proxyFromEnvironment: boolean, proxyConnectHeader: anyObject,
};

const scrapeEndpoint = {
  path: string,
  scheme: { type: 'string', enum: ['http', 'https', 'HTTP', 'HTTPS'] },
  params: { type: 'object', additionalProperties: strings },
  interval: duration,
  scrapeTimeout: duration,
  honorLabels: boolean,
  honorTimestamps: boolean,
  trackTimestampsStaleness: boolean,
  metricRelabelings: arrayOf(relabelConfig),
  relabelings: arrayOf(relabelConfig),
  filterRunning: boolean,
  ...httpClient,
};

/** The fields PodMonitorSpec and ServiceMonitorSpec share, NativeHistogramConfig inlined. */
const monitorSpec = {
  jobLabel: string,
  podTargetLabels: strings,
  selector: labelSelector,
  selectorMechanism: { type: 'string', enum: ['RelabelConfig', 'RoleSelector'] },
  namespaceSelector,
  sampleLimit: int,
  targetLimit: int,
  scrapeProtocols: strings,
  fallbackScrapeProtocol: string,
  labelLimit: int,
  labelNameLengthLimit: int,
  labelValueLengthLimit: int,
  scrapeNativeHistograms: boolean,
  scrapeClassicHistograms: boolean,
  nativeHistogramBucketLimit: int,
  nativeHistogramMinBucketFactor: anyObject,
  convertClassicHistogramsToNHCB: boolean,
  keepDroppedTargets: int,
  attachMetadata: closed({ node: boolean }),
  scrapeClass: { type: 'string', minLength: 1 },
  bodySizeLimit: string,
};

const podMonitorSpec = closed({
  ...monitorSpec,
  podMetricsEndpoints: arrayOf(closed({
    port: string,
    portNumber: { type: 'integer', minimum: 1, maximum: 65535 },
    targetPort: intOrString,
    ...scrapeEndpoint,
  })),
}, ['podMetricsEndpoints', 'selector']);

const serviceMonitorSpec = closed({
  ...monitorSpec,
  targetLabels: strings,
  serviceDiscoveryRole: { type: 'string', enum: ['Endpoints', 'EndpointSlice'] },
  endpoints: arrayOf(closed({ port: string, targetPort: intOrString, bearerTokenFile: string, ...scrapeEndpoint })),
}, ['endpoints', 'selector']);

const object = (kind: string, spec: unknown) => closed({
  apiVersion: { const: 'monitoring.coreos.com/v1' },
  kind: { const: kind },
  metadata: anyObject,
  spec,
  status: anyObject,
}, ['apiVersion', 'kind', 'metadata', 'spec']);

const MODELS: Record<string, unknown> = {
  PrometheusRule: object('PrometheusRule', closed({ groups: arrayOf(ruleGroup) })),
  PodMonitor: object('PodMonitor', podMonitorSpec),
  ServiceMonitor: object('ServiceMonitor', serviceMonitorSpec),
};

const ajv = new Ajv({ allErrors: true, strict: true });
const validators = Object.fromEntries(Object.entries(MODELS).map(([kind, schema]) => [kind, ajv.compile(schema as object)]));

/** Where the model fails an object: ajv's instance path, keyword and params; undefined for a kind it does not model. */
export function prometheusOperatorFailures(o: { kind: string }): Pick<ErrorObject, 'instancePath' | 'keyword' | 'params'>[] | undefined {
  const validate = validators[o.kind];
  if (!validate) return undefined;
  const failures = validate(o) ? [] : (validate.errors ?? []).map(({ instancePath, keyword, params }) => ({ instancePath, keyword, params }));
  // A rule is an alert or a recording rule, never both nor neither (Rule's OneOf=Record,Alert).
  if (o.kind === 'PrometheusRule') {
    ((o as { spec?: { groups?: { rules?: { alert?: string; record?: string }[] }[] } }).spec?.groups ?? []).forEach((g, i) => (g.rules ?? []).forEach((r, j) => {
      if ((r.alert === undefined) === (r.record === undefined)) failures.push({ instancePath: `/spec/groups/${i}/rules/${j}`, keyword: 'oneOf', params: { passingSchemas: null } });
    }));
  }
  return failures;
}
