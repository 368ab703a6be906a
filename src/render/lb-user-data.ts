import type { ResolvedCluster } from '../cluster-file/resolve';
import { renderHaproxyCfg } from './haproxy-cfg';
import { renderKeepalivedConf, type VrrpPeer } from './keepalived-conf';
import { cloudConfig } from './user-data';

/**
 * external mode: user-data for one LB machine. HAProxy and keepalived come from the
 * distribution's packages; the configuration is written after they are installed
 * (`defer`), so the packages' own defaults never win, then both are (re)started.
 */
export function renderLbUserData(c: ResolvedCluster, peers: readonly VrrpPeer[], host: VrrpPeer): string {
  const files = [
    { path: '/etc/haproxy/haproxy.cfg', content: renderHaproxyCfg(c, 'syslog'), permissions: '0644', owner: 'root:root', defer: true },
    { path: '/etc/keepalived/keepalived.conf', content: renderKeepalivedConf(c, peers, host), permissions: '0644', owner: 'root:root', defer: true },
  ];
  const body: Record<string, unknown> = {
    hostname: host.name,
    // iproute2 for keepalived's holder check (/sbin/ip); minimal images may lack it.
    packages: ['haproxy', 'keepalived', 'iproute2'],
    package_update: true,
    write_files: files,
    runcmd: [
      'haproxy -c -f /etc/haproxy/haproxy.cfg || exit 1',
      'systemctl enable haproxy keepalived',
      'systemctl restart haproxy keepalived',
    ],
  };
  if (c.cloudInit.sshAuthorizedKeys.length > 0) body.ssh_authorized_keys = [...c.cloudInit.sshAuthorizedKeys];
  return cloudConfig(c.source, [`LB machine ${host.name}: HAProxy on :${c.loadBalancer.port} and keepalived for VIP ${c.endpoint}.`], body);
}
