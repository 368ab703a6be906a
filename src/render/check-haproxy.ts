import type { ResolvedCluster } from '../cluster-file/resolve';

/**
 * The bash that runs the check, by where keepalived runs. keepalived with script
 * security (as root) refuses a check when any directory on the executable's path is
 * a symlink or writable by others without the sticky bit (`check_security`, called
 * from `check_script_secure` on argv[0] and on its resolved path; lib/notify.c in
 * releases to 2.3.4, keepalived/core/notify.c since). So the check names a binary of
 * the image or distribution, never a file of ours: a ConfigMap volume's root is 0777
 * without the sticky bit (kubernetes pkg/volume/emptydir/empty_dir.go, defaultPerm,
 * which configMap volumes wrap).
 *
 * - daemonset: osixia/keepalived:2.0.20 is Alpine 3.12 with bash in /bin, a real
 *   directory (its base, osixia/light-baseimage alpine-0.1.6, `apk add bash`; the
 *   image's own service scripts are `#!/bin/bash`).
 * - external: Debian 12+ and Ubuntu 22.04+ have merged /usr, where /bin is a symlink.
 *   keepalived before 2.3 swaps argv[0] for its real directory before checking, but
 *   2.3 and later check argv[0] as written and reject `/bin/...` ("Wrong file type
 *   found in script path"), so the path is /usr/bin/bash; bash is Essential there.
 */
export const CHECK_SHELL = { daemonset: '/bin/bash', external: '/usr/bin/bash' } as const;

/**
 * keepalived's health check, the `script` of its vrrp_script: exit 0 when HAProxy
 * accepts a TCP connection on its frontend (bash's /dev/tcp), so a dead or unbound
 * HAProxy fails it, not only a missing process. stderr goes first, so a refused
 * connection is silent.
 *
 * keepalived splits the string into argv itself, no shell involved: it takes the
 * quoted value off the config line, then splits that on white space honouring '...'
 * and "..." (lib/parser.c `alloc_strvec_quoted_escaped`, from `set_script_params_array`
 * in the same notify.c), and execve()s argv[0] (`system_call`).
 * So the bash command is one single-quoted word; it has no quote, backslash, `$`, `#`
 * or `!` of its own, and reads the same in keepalived 2.0 to 2.4.
 *
 * Why not `pidof haproxy`: on Debian `/bin/pidof` is a symlink to `killall5`, and
 * keepalived before 2.3 executes by the resolved path, so killall5 runs under its own
 * name, does not act as pidof and always exits 1 (the check never succeeds).
 */
export function renderCheckHaproxy(c: ResolvedCluster): string {
  return keepalivedBash(c, checkHaproxyCommand(c.loadBalancer.port));
}

/** A bash command as keepalived runs it for a check: one single-quoted word, as above. */
export function keepalivedBash(c: ResolvedCluster, command: string): string {
  const shell = c.loadBalancer.mode === 'external' ? CHECK_SHELL.external : CHECK_SHELL.daemonset;
  return `${shell} -c '${command}'`;
}

/** The bash command itself: connect to HAProxy's frontend on loopback, and nothing else. */
export function checkHaproxyCommand(port: number): string {
  return `exec 2>/dev/null 3<>/dev/tcp/127.0.0.1/${port}`;
}

/**
 * The bash command that succeeds where the VIP is one of the interface's addresses. Its
 * tools are bash's children, run by path (so a symlink to busybox is fine there):
 * /sbin/ip and /bin/grep are Alpine's busybox in the image and iproute2 and grep on
 * Debian and Ubuntu, through merged /usr's symlinks. `-w` so that 10.0.0.10 is not
 * found in 10.0.0.100; no quote or `$`, as above.
 */
export function holdsVipCommand(iface: string, vip: string): string {
  return `/sbin/ip addr show dev ${iface} | /bin/grep -qwF ${vip}`;
}
