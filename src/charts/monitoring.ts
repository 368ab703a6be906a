import { ApiObject, Chart } from 'cdk8s';
import type { Construct } from 'constructs';
import { ETCD_METRICS_PORT } from '../k3s/facts';
import { LB_METRICS, MONITORING_NAMES, SYSTEM_NAMESPACE } from '../names';
import { clusterAlerts } from '../render/alerts';
import type { ResolvedCluster } from '../cluster-file/resolve';
import { commonLabels } from './common';

/** prometheus-operator's API group and version (monitoring.coreos.com/v1), as kube-prometheus-stack installs it. */
const MONITORING_API = 'monitoring.coreos.com/v1';

/** A scrape target outside any pod: an address, and the name of what it is. */
interface FixedTarget {
  readonly ip: string;
  /** The Node it is on (etcd on a server), for the `node` label. */
  readonly nodeName?: string;
  /** A DNS label naming it (an LB machine), for the `node` label. */
  readonly hostname?: string;
}

/**
 * Relabelings giving each target a `node` label: the Node an endpoint names, from the
 * endpoints or the EndpointSlice discovery role, or its hostname (Prometheus's
 * kubernetes_sd_config meta labels). Unset labels join to nothing, so one applies.
 */
const NODE_LABEL = [{
  sourceLabels: ['__meta_kubernetes_endpoint_node_name', '__meta_kubernetes_endpointslice_endpoint_node_name', '__meta_kubernetes_endpoint_hostname', '__meta_kubernetes_endpointslice_endpoint_hostname'],
  separator: '',
  regex: '(.+)',
  targetLabel: 'node',
}];

/**
 * What `monitoring` asks for, in its namespace: the PrometheusRule of the cluster's
 * alerts (render/alerts.ts), and the objects that scrape what the alerts read.
 *
 * What is not a pod is scraped through a Service without selector and an Endpoints
 * object listing its addresses, with a ServiceMonitor for it: prometheus-operator's way
 * to scrape a fixed address. Endpoints, not EndpointSlice: the ServiceMonitor's
 * default discovery role reads Endpoints, and Kubernetes mirrors a selectorless
 * Service's Endpoints into EndpointSlices (EndpointSliceMirroring), so both roles see
 * them. Objects:
 * - etcd (`etcdMetrics`): every server's address at :2381, where K3s serves etcd's
 *   metrics on the node address once `etcd-expose-metrics` is on (plain HTTP;
 *   k3s-io/k3s pkg/etcd/etcd.go listenMetricsURLs);
 * - the load balancer (`prometheusRules`): HAProxy's exporter, in daemonset mode a
 *   PodMonitor on the DaemonSet's pods (host network: the pod's address is the
 *   server's), in external mode the LB machines' addresses; and the VIP, answered by
 *   whichever peer holds it (render/alerts.ts says why that is the VIP signal).
 *
 * Every object carries `monitoring.labels`, which the Prometheus's selectors match.
 */
export class MonitoringChart extends Chart {
  constructor(scope: Construct, id: string, c: ResolvedCluster, repoDir?: string) {
    super(scope, id, { disableResourceNameHashes: true, namespace: c.monitoring.namespace });
    const labels = { ...commonLabels(c.name, 'monitoring'), ...c.monitoring.labels };
    const alerts = clusterAlerts(c, repoDir);
    if (alerts.groups.length > 0) {
      new ApiObject(this, 'rules', {
        apiVersion: MONITORING_API,
        kind: 'PrometheusRule',
        metadata: { name: MONITORING_NAMES.prometheusRule, labels },
        spec: { groups: alerts.groups },
      });
    }
    if (c.monitoring.etcdMetrics) {
      this.fixedTargets(MONITORING_NAMES.etcdService, labels, MONITORING_NAMES.etcdMetricsPort, ETCD_METRICS_PORT, c.servers.map((s) => ({ ip: s.address, nodeName: s.name })));
    }
    if (!c.monitoring.prometheusRules || c.loadBalancer.mode === 'none') return;
    if (c.loadBalancer.mode === 'daemonset') {
      new ApiObject(this, 'lb-pods', {
        apiVersion: MONITORING_API,
        kind: 'PodMonitor',
        metadata: { name: MONITORING_NAMES.lbPodMonitor, labels },
        spec: {
          selector: { matchLabels: { 'app.kubernetes.io/component': 'api-load-balancer', 'app.kubernetes.io/part-of': c.name } },
          namespaceSelector: { matchNames: [SYSTEM_NAMESPACE] },
          podMetricsEndpoints: [{
            port: MONITORING_NAMES.lbMetricsPort,
            path: LB_METRICS.path,
            relabelings: [{ sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node' }],
          }],
        },
      });
    } else {
      this.fixedTargets(MONITORING_NAMES.lbHostsService, labels, MONITORING_NAMES.lbMetricsPort, LB_METRICS.port, c.loadBalancer.hosts.map((h) => ({ ip: h.address, hostname: h.name })));
    }
    this.fixedTargets(MONITORING_NAMES.vipService, labels, MONITORING_NAMES.lbMetricsPort, LB_METRICS.port, [{ ip: c.endpoint }]);
  }

  /** A headless Service without selector, its Endpoints, and the ServiceMonitor that scrapes them. */
  private fixedTargets(name: string, labels: Record<string, string>, portName: string, port: number, targets: readonly FixedTarget[]): void {
    const own = { ...labels, 'app.kubernetes.io/name': name };
    new ApiObject(this, `${name}-service`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, labels: own },
      spec: { clusterIP: 'None', ports: [{ name: portName, port, targetPort: port, protocol: 'TCP' }] },
    });
    new ApiObject(this, `${name}-endpoints`, {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name, labels: own },
      subsets: [{
        addresses: targets.map((t) => ({ ip: t.ip, ...(t.nodeName ? { nodeName: t.nodeName } : {}), ...(t.hostname ? { hostname: t.hostname } : {}) })),
        ports: [{ name: portName, port, protocol: 'TCP' }],
      }],
    });
    new ApiObject(this, `${name}-monitor`, {
      apiVersion: MONITORING_API,
      kind: 'ServiceMonitor',
      metadata: { name, labels: own },
      spec: {
        selector: { matchLabels: { 'app.kubernetes.io/name': name } },
        namespaceSelector: { matchNames: [this.namespace as string] },
        endpoints: [{ port: portName, path: '/metrics', relabelings: NODE_LABEL }],
      },
    });
  }
}
