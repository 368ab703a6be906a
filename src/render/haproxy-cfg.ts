import { APISERVER_PORT } from '../k3s/facts';
import { addressFamily, urlHost } from '../cluster-file/net';
import type { ResolvedCluster } from '../cluster-file/resolve';
import { LB_METRICS } from '../names';
import { generatedBy } from './text';

/** Where HAProxy logs: a container's stdout, or the LB machine's syslog. */
export type HaproxyLogTarget = 'stdout' | 'syslog';

/** The backend of every server's apiserver; HAProxy's exporter names it in the `proxy` label. */
export const HAPROXY_BACKEND = 'k3s-servers';
/** The frontend clients reach through the VIP; only the VIP's holder takes its connections. */
export const HAPROXY_FRONTEND = 'k3s-apiserver';

/** Health-check timing: a dead apiserver is out after `fall` misses `inter` apart. */
export const HEALTH_CHECK = { interMs: 1000, fall: 2, rise: 2 } as const;

/**
 * haproxy.cfg for the control-plane endpoint: TCP passthrough (TLS ends at the
 * apiserver, so client certificates keep working) from `loadBalancer.port` to every
 * server's :6443. A failed connect is retried on another server, so a dead apiserver
 * costs no request even before the checks mark it down.
 */
export function renderHaproxyCfg(c: ResolvedCluster, log: HaproxyLogTarget): string {
  // `bind :port` is IPv4 only. `:::port v4v6` takes both families, but fails where the
  // kernel has IPv6 off, so it is used only where the cluster has IPv6 addresses.
  const ipv6 = [c.endpoint, ...c.servers.flatMap((s) => s.addresses)].some((a) => addressFamily(a) === 'ipv6');
  const bind = ipv6 ? `:::${c.loadBalancer.port} v4v6` : `:${c.loadBalancer.port}`;
  const servers = c.servers.map((s) => `  server ${s.name} ${urlHost(s.address)}:${APISERVER_PORT} check`);
  // HAProxy's built-in Prometheus exporter (addons/promex: "http-request use-service
  // prometheus-exporter" in an HTTP frontend; the official image builds it in with
  // USE_PROMEX=1, docker-library/haproxy 2.8/alpine/Dockerfile, and so does Debian's),
  // on every address: Prometheus scrapes each LB peer on its own address and the holder
  // through the VIP. Scrapes are not logged.
  const metrics = c.monitoring.prometheusRules ? `
frontend prometheus
  mode http
  bind ${ipv6 ? `:::${LB_METRICS.port} v4v6` : `:${LB_METRICS.port}`}
  timeout client 10s
  http-request set-log-level silent
  http-request use-service prometheus-exporter if { path ${LB_METRICS.path} }
` : '';
  return `# ${generatedBy(c.source)}
global
  ${log === 'stdout' ? 'log stdout format raw local0' : 'log /dev/log local0'}
  maxconn 4096

defaults
  mode tcp
  log global
  option tcplog
  option dontlognull
  # Every retry goes to another server; a connect that fails or times out costs 1 s.
  option redispatch 1
  retries 3
  timeout connect 1s
  # Long idle timeouts: kubectl watch, logs -f and exec hold connections open.
  timeout client 30m
  timeout server 30m
  timeout tunnel 1h
  timeout check 1s

frontend ${HAPROXY_FRONTEND}
  bind ${bind}
  default_backend ${HAPROXY_BACKEND}

backend ${HAPROXY_BACKEND}
  balance roundrobin
  option tcp-check
  default-server inter ${HEALTH_CHECK.interMs}ms fall ${HEALTH_CHECK.fall} rise ${HEALTH_CHECK.rise} on-marked-down shutdown-sessions
${servers.join('\n')}
${metrics}`;
}
