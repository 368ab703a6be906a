import type { ResolvedCluster } from '../spec/resolve';
import { generatedBy } from './text';

/**
 * Where keepalived finds the check, on an LB machine and in the DaemonSet pod alike
 * (the pod mounts its ConfigMap at /etc/keepalived).
 */
export const CHECK_HAPROXY_PATH = '/etc/keepalived/check-haproxy.sh';

/**
 * keepalived's health check: exit 0 when HAProxy accepts a TCP connection on its
 * frontend, so a hung or dead HAProxy fails it, not only a missing process.
 *
 * Why not `pidof haproxy`: on Debian `/bin/pidof` is a symlink to `killall5`, and
 * keepalived before 2.3 executes a script by its resolved path, so `killall5` runs
 * under its own name, does not act as pidof and always exits 1 (the check never
 * succeeds). The script needs only a shell and one client: bash's /dev/tcp (Debian
 * and Ubuntu always have bash) or busybox's `nc` (the Alpine-based keepalived image).
 */
export function renderCheckHaproxy(c: ResolvedCluster): string {
  return `#!/bin/sh
# ${generatedBy(c.source)}
# Exit 0 when HAProxy accepts connections on :${c.loadBalancer.port}; keepalived runs this every second.
port=${c.loadBalancer.port}
if command -v bash >/dev/null 2>&1; then
  exec bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' check-haproxy "$port" 2>/dev/null
fi
exec nc -z -w 1 127.0.0.1 "$port"
`;
}
