import { addressFamily } from '../spec/net';
import type { ResolvedCluster } from '../spec/resolve';
import { renderCheckHaproxy } from './check-haproxy';
import { generatedBy } from './text';

/** A keepalived peer: a server node (daemonset mode) or an LB machine (external mode). */
export interface VrrpPeer {
  readonly name: string;
  readonly address: string;
}

/**
 * The machines that hold the VIP, in priority order: the LB machines (external mode)
 * or the servers (daemonset mode). VRRP runs in the VIP's family, so a dual-stack
 * server talks to its peers from its address of that family.
 */
export function vrrpPeers(c: ResolvedCluster): VrrpPeer[] {
  const family = addressFamily(c.endpoint);
  const machines = c.loadBalancer.mode === 'external' ? c.loadBalancer.hosts.map((h) => ({ name: h.name, addresses: [h.address] })) : c.servers;
  return machines.map((m) => ({ name: m.name, address: m.addresses.find((a) => addressFamily(a) === family) ?? m.addresses[0] }));
}

/** The highest priority; each next peer gets 10 less. */
const TOP_PRIORITY = 200;
const PRIORITY_STEP = 10;

/**
 * keepalived's timing. A holder whose check fails `fall` times `interval` apart goes
 * to FAULT and resigns with a priority-0 advert, so a backup takes over after its
 * skew time, not after the master-down interval; a holder that crashes is replaced
 * after 3 x advert_int + skew (keepalived.conf(5), VRRP RFC 5798 section 6.4.2).
 */
export const VRRP_TIMING = { advertIntSeconds: 1, checkIntervalSeconds: 1, checkTimeoutSeconds: 1, fall: 2, rise: 2 } as const;

/** The priority of the i-th peer: distinct and descending, never below 1. */
export function vrrpPriority(index: number): number {
  return Math.max(1, TOP_PRIORITY - PRIORITY_STEP * index);
}

/**
 * keepalived.conf for one peer. Every peer starts BACKUP with `nopreempt`: the first
 * election picks the highest priority, and a peer that comes back never takes the VIP
 * from a healthy holder, which would cut every long-lived connection (watches,
 * controllers) a second time. The check has no weight, so failing it puts the peer
 * in FAULT: it gives up the VIP at once and cannot win it back until HAProxy serves.
 * Peers talk unicast (multicast is filtered on most clouds and many switches). No
 * VRRP password: VRRPv2 sends it in clear text, so it would be a secret in Git that
 * protects nothing.
 */
export function renderKeepalivedConf(c: ResolvedCluster, peers: readonly VrrpPeer[], self: VrrpPeer): string {
  const index = peers.indexOf(self);
  const others = peers.filter((p) => p !== self).map((p) => `    ${p.address}`);
  const lb = c.loadBalancer;
  const t = VRRP_TIMING;
  return `# ${generatedBy(c.source)}
global_defs {
  router_id ${self.name}
  enable_script_security
  script_user root
}

vrrp_script chk_haproxy {
  script "${renderCheckHaproxy(c)}"
  interval ${t.checkIntervalSeconds}
  timeout ${t.checkTimeoutSeconds}
  fall ${t.fall}
  rise ${t.rise}
}

vrrp_instance k3s_api {
  state BACKUP
  nopreempt
  interface ${lb.interface}
  virtual_router_id ${lb.virtualRouterId}
  priority ${vrrpPriority(index)}
  advert_int ${t.advertIntSeconds}
  unicast_src_ip ${self.address}
  unicast_peer {
${others.join('\n')}
  }
  virtual_ipaddress {
    ${c.endpoint}
  }
  track_script {
    chk_haproxy
  }
}
`;
}
