import type { ResolvedCluster } from '../spec/resolve';
import { generatedBy } from './text';

/** A keepalived peer: a server node (daemonset mode) or an LB machine (external mode). */
export interface VrrpPeer {
  readonly name: string;
  readonly address: string;
}

/** The highest priority; each next peer gets 10 less. */
const TOP_PRIORITY = 200;
const PRIORITY_STEP = 10;

/** The priority of the i-th peer: distinct and descending, never below 1. */
export function vrrpPriority(index: number): number {
  return Math.max(1, TOP_PRIORITY - PRIORITY_STEP * index);
}

/**
 * keepalived.conf for one peer. The first peer starts MASTER, the rest BACKUP with
 * descending priorities. Peers talk unicast (multicast is filtered on most clouds and
 * many switches). When HAProxy dies, the check drops this peer's priority below every
 * healthy peer's, so the VIP moves to a machine that can serve it. No VRRP password:
 * VRRPv2 sends it in clear text, so it would be a secret in Git that protects nothing.
 */
export function renderKeepalivedConf(c: ResolvedCluster, peers: readonly VrrpPeer[], self: VrrpPeer): string {
  const index = peers.indexOf(self);
  const others = peers.filter((p) => p !== self).map((p) => `    ${p.address}`);
  const lb = c.loadBalancer;
  return `# ${generatedBy(c.source)}
global_defs {
  router_id ${self.name}
  enable_script_security
  script_user root
}

vrrp_script chk_haproxy {
  script "/bin/pidof haproxy"
  interval 2
  fall 2
  rise 2
  weight -${PRIORITY_STEP * peers.length}
}

vrrp_instance k3s_api {
  state ${index === 0 ? 'MASTER' : 'BACKUP'}
  interface ${lb.interface}
  virtual_router_id ${lb.virtualRouterId}
  priority ${vrrpPriority(index)}
  advert_int 1
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
