import { addressFamily } from '../cluster-file/net';
import type { ResolvedCluster } from '../cluster-file/resolve';
import { holdsVipCommand, keepalivedBash, renderCheckHaproxy } from './check-haproxy';
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

/**
 * Priorities: the first peer's, 5 less for each next one (never below 1), and what
 * holding the VIP adds. The bonus exceeds the spread of 20 peers (as many LB machines as
 * the cluster file allows, and more servers than etcd wants), so the holder outranks
 * every backup, and a holder's effective priority stays below 255, the address owner's
 * (RFC 5798 section 5.2.4).
 */
export const VRRP_PRIORITY = { top: 150, step: 5, holderBonus: 100 } as const;

/**
 * The holder bonus's check: does this peer hold the VIP. A peer earns the bonus after
 * holding the VIP for three checks a second apart (`rise 3`) and loses it at the first
 * miss, so it follows the VIP whatever order keepalived's scripts run in. A backup that
 * claims the VIP because it heard no advert (a stalled machine, a flapping link) steps
 * back as soon as it hears the holder, well within those three seconds, unbonused; had
 * it the bonus at once, it would outrank the holder when it heard it and keep the VIP.
 * A peer cut off for longer earns it too, and then the higher base priority wins when
 * the two hear each other again: the VIP can move once after a partition.
 */
export const HOLDER_CHECK = { intervalSeconds: 1, timeoutSeconds: 1, rise: 3, fall: 1 } as const;

/**
 * keepalived's health check timing. `interval` is whole seconds, 1 at least, in every
 * keepalived from 2.0 to 2.3 (vrrp_parser.c vrrp_vscript_interval_handler), so one
 * failed check puts the holder in FAULT (`fall 1`): it resigns with a priority-0 advert
 * and a backup takes over after its skew time, within a second and a bit of HAProxy
 * stopping. `fall 2` would double that. A lone failed check is no flapping risk here:
 * it is a TCP connect on loopback, which the kernel completes from HAProxy's listen
 * backlog however loaded the machine, and no packet loss on the network reaches it.
 * `rise 2`: a peer comes back into the election only after two good checks.
 */
export const VRRP_CHECK = { intervalSeconds: 1, timeoutSeconds: 1, fall: 1, rise: 2 } as const;

/** The base priority of the i-th peer: descending, distinct for the first 30. */
export function vrrpPriority(index: number): number {
  return Math.max(1, VRRP_PRIORITY.top - VRRP_PRIORITY.step * index);
}

/**
 * keepalived.conf for one peer. Every peer starts BACKUP with `nopreempt`: the first
 * election picks the highest priority, and a peer that comes back never takes the VIP
 * from a healthy holder, which would cut every long-lived connection (watches,
 * controllers) a second time. The check has no weight, so failing it puts the peer
 * in FAULT: it gives up the VIP at once and cannot win it back until HAProxy serves.
 * Peers talk unicast (multicast is filtered on most clouds and many switches).
 *
 * The holder outranks every backup (VRRP_PRIORITY.holderBonus, from the weighted
 * chk_vip_holder, HOLDER_CHECK). Without that, after a
 * failover the holder is a lower-priority peer, and a higher one that misses three
 * adverts in a row (a lossy network, a stalled machine) becomes master and takes the
 * VIP for good: a master yields to a higher-priority advert whatever nopreempt says
 * (keepalived vrrp.c vrrp_state_master_rx; nopreempt only keeps a backup from
 * preempting). With the bonus, such a backup's claim meets the holder's higher advert
 * and it steps back at once: two holders for one round trip, the VIP stays.
 *
 * VRRPv3 (RFC 5798), for adverts in hundredths of a second: a crashed holder is
 * replaced after 3 x advert interval + skew (section 6.4.2; keepalived vrrp.c,
 * ms_down_timer), and a backup adopts the holder's interval from its adverts (vrrp.c
 * vrrp_state_backup, master_adver_int), so changing it rolls out without an election.
 * VRRPv2 and v3 peers drop each other's adverts ("wrong version", vrrp.c
 * vrrp_check_packet). VRRPv3 has no authentication; v2's password went in clear text,
 * so it would have been a secret in Git that protects nothing.
 */
export function renderKeepalivedConf(c: ResolvedCluster, peers: readonly VrrpPeer[], self: VrrpPeer): string {
  const index = peers.indexOf(self);
  const others = peers.filter((p) => p !== self).map((p) => `    ${p.address}`);
  const lb = c.loadBalancer;
  const check = VRRP_CHECK;
  return `# ${generatedBy(c.source)}
global_defs {
  router_id ${self.name}
  enable_script_security
  script_user root
}

vrrp_script chk_haproxy {
  script "${renderCheckHaproxy(c)}"
  interval ${check.intervalSeconds}
  timeout ${check.timeoutSeconds}
  fall ${check.fall}
  rise ${check.rise}
}

vrrp_script chk_vip_holder {
  script "${keepalivedBash(c, holdsVipCommand(lb.interface, c.endpoint))}"
  interval ${HOLDER_CHECK.intervalSeconds}
  timeout ${HOLDER_CHECK.timeoutSeconds}
  rise ${HOLDER_CHECK.rise}
  fall ${HOLDER_CHECK.fall}
  weight ${VRRP_PRIORITY.holderBonus}
  init_fail
}

vrrp_instance k3s_api {
  version 3
  state BACKUP
  nopreempt
  interface ${lb.interface}
  virtual_router_id ${lb.virtualRouterId}
  priority ${vrrpPriority(index)}
  advert_int ${lb.advertInterval}
  unicast_src_ip ${self.address}
  unicast_peer {
${others.join('\n')}
  }
  virtual_ipaddress {
    ${c.endpoint}
  }
  track_script {
    chk_haproxy
    chk_vip_holder
  }
}
`;
}
