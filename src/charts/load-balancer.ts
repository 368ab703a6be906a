import { createHash } from 'node:crypto';
import { ApiObject, Chart, Duration, JsonPatch, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import type { Construct } from 'constructs';
import { renderHaproxyCfg } from '../render/haproxy-cfg';
import { renderKeepalivedConf, vrrpPeers } from '../render/keepalived-conf';
import type { ResolvedCluster } from '../cluster-file/resolve';
import { commonLabels, CONTROL_PLANE_SELECTOR, serverTaintKeys } from './common';
import { LB_METRICS, LB_NAMES, MONITORING_NAMES, SYSTEM_NAMESPACE } from '../names';
import { clusterImage, IMAGES } from '../images';


/** The official haproxy image's `haproxy` user. */
const HAPROXY_UID = 99;

/** Where the keepalived container sees the ConfigMap: its configs, nothing it runs. */
const KEEPALIVED_DIR = '/etc/keepalived';


/**
 * daemonset mode: HAProxy and keepalived on every server's host network. keepalived
 * holds the endpoint VIP; HAProxy spreads TCP over every server's :6443. keepalived's
 * check connects to HAProxy over the host network both containers share.
 */
export class LoadBalancerChart extends Chart {
  constructor(scope: Construct, id: string, c: ResolvedCluster) {
    super(scope, id, { disableResourceNameHashes: true, namespace: SYSTEM_NAMESPACE });
    const labels = commonLabels(c.name, 'api-load-balancer');
    const peers = vrrpPeers(c);
    // No check script here: keepalived refuses to run one from a ConfigMap volume, whose
    // root the kubelet makes 0777 without the sticky bit; the check runs the image's
    // bash instead (render/check-haproxy.ts).
    const data: Record<string, string> = { 'haproxy.cfg': renderHaproxyCfg(c, 'stdout') };
    for (const peer of peers) data[`keepalived-${peer.name}.conf`] = renderKeepalivedConf(c, peers, peer);

    const config = new kplus.ConfigMap(this, 'config', { metadata: { name: LB_NAMES.configMap, labels }, data });
    const serviceAccount = new kplus.ServiceAccount(this, 'sa', {
      metadata: { name: LB_NAMES.serviceAccount, labels }, automountToken: false,
    });
    // A change of configuration rolls the pods; the hash keeps it deterministic.
    const configHash = createHash('sha256').update(JSON.stringify(data)).digest('hex').slice(0, 16);

    const ds = new kplus.DaemonSet(this, 'daemonset', {
      metadata: { name: LB_NAMES.daemonSet, labels },
      podMetadata: { labels, annotations: { 'k3s-gitops.dev/config-hash': configHash } },
      select: false,
      serviceAccount,
      automountServiceAccountToken: false,
      hostNetwork: true,
      terminationGracePeriod: Duration.seconds(10),
      securityContext: { ensureNonRoot: false },
    });
    ds.select(kplus.LabelSelector.of({ labels: { 'app.kubernetes.io/component': labels['app.kubernetes.io/component'], 'app.kubernetes.io/part-of': c.name } }));
    for (const [key, value] of Object.entries(CONTROL_PLANE_SELECTOR)) ds.scheduling.attract(kplus.Node.labeled(kplus.NodeLabelQuery.is(key, value)));
    for (const key of serverTaintKeys(c)) ds.scheduling.tolerate(kplus.Node.tainted(kplus.NodeTaintQuery.exists(key)));

    // keepalived skips a configuration file that is executable ("not a regular
    // non-executable file"): every file 0644, whatever the default becomes.
    const items = Object.fromEntries(Object.keys(data).sort().map((key) => [key, { path: key, mode: 0o644 }]));
    const volume = kplus.Volume.fromConfigMap(this, 'config-volume', config, { name: 'config', items });
    // keepalived writes its pid files under /run; the root filesystem stays read-only.
    const runDir = kplus.Volume.fromEmptyDir(this, 'run-volume', 'keepalived-run', { medium: kplus.EmptyDirMedium.MEMORY, sizeLimit: Size.mebibytes(1) });
    ds.addContainer({
      name: 'haproxy',
      image: clusterImage(c, IMAGES.haproxy),
      // The API's front door must restart even when the registry is unreachable.
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      args: ['-W', '-db', '-f', '/usr/local/etc/haproxy/haproxy.cfg'],
      volumeMounts: [{ path: '/usr/local/etc/haproxy/haproxy.cfg', subPath: 'haproxy.cfg', volume, readOnly: true }],
      // The exporter's port is named for the PodMonitor (spec.monitoring.prometheusRules).
      ports: [{ number: c.loadBalancer.port, name: 'apiserver-lb' }, ...(c.monitoring.prometheusRules ? [{ number: LB_METRICS.port, name: MONITORING_NAMES.lbMetricsPort }] : [])],
      securityContext: { user: HAPROXY_UID, group: HAPROXY_UID, ensureNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false },
      resources: {
        cpu: { request: kplus.Cpu.millis(25), limit: kplus.Cpu.millis(500) },
        memory: { request: Size.mebibytes(32), limit: Size.mebibytes(128) },
      },
      readiness: kplus.Probe.fromTcpSocket({ port: c.loadBalancer.port, periodSeconds: Duration.seconds(5) }),
    });
    ds.addContainer({
      name: 'keepalived',
      image: clusterImage(c, IMAGES.keepalived),
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      command: ['/bin/sh', '-c', `exec keepalived --dont-fork --log-console --log-detail -f "${KEEPALIVED_DIR}/keepalived-\${NODE_NAME}.conf"`],
      envVariables: { NODE_NAME: kplus.EnvValue.fromFieldRef(kplus.EnvFieldPaths.NODE_NAME) },
      volumeMounts: [{ path: KEEPALIVED_DIR, volume, readOnly: true }, { path: '/run', volume: runDir }],
      // Root with only what VRRP needs: raw sockets and managing the VIP address.
      securityContext: { user: 0, group: 0, ensureNonRoot: false, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, privileged: false },
      resources: {
        cpu: { request: kplus.Cpu.millis(10), limit: kplus.Cpu.millis(200) },
        memory: { request: Size.mebibytes(16), limit: Size.mebibytes(64) },
      },
    });

    // What cdk8s-plus has no prop for: rollout pace, priority, capabilities.
    const raw = ApiObject.of(ds);
    raw.addJsonPatch(
      // Patches pass through the typed converter, which reads IntOrString as `{ value }`.
      JsonPatch.add('/spec/updateStrategy', { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: { value: 1 } } }),
      JsonPatch.add('/spec/template/spec/priorityClassName', 'system-node-critical'),
      JsonPatch.add('/spec/template/spec/dnsPolicy', 'ClusterFirstWithHostNet'),
      JsonPatch.add('/spec/template/spec/containers/0/securityContext/capabilities', { drop: ['ALL'] }),
      JsonPatch.add('/spec/template/spec/containers/1/securityContext/capabilities', { drop: ['ALL'], add: ['NET_ADMIN', 'NET_RAW'] }),
    );
  }
}
