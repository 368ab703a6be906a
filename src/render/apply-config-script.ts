import { CONFIG_ROLLOUT_NAMES, REGISTRIES_SECRET_KEY } from '../names';
import type { ResolvedCluster } from '../cluster-file/resolve';
import { GENERATED_MARK } from './text';
import { FILL_REGISTRIES_FUNCTION, REGISTRIES_PATH } from './registries';

/**
 * The day-2 job's timing, passed to the script by the Plans and used to size the jobs'
 * deadlines. `holdSeconds` bounds how long one server holds the restart lock: the
 * gate (a member list and a health round, each within etcdctl's 3 s dial and 5 s
 * command timeouts), an on-demand snapshot and the binary swap of a K3s upgrade, then
 * the health wait, then a rollback restart.
 */
export const ROLLOUT_TIMING = {
  healthTimeoutSeconds: 300,
  pollSeconds: 5,
  /**
   * The restart lock's etcd lease. A holder that dies (SIGKILL, node crash) frees the
   * lock when the lease expires, at most this long after its last keep-alive; etcdctl
   * sends one every third of it through any member it reaches, so the holder's own
   * member restarting does not let the lease lapse.
   */
  lockTtlSeconds: 20,
  holdSeconds: 420,
} as const;

/** The Plans that restart servers, each holding the restart lock: the config rollout and the K3s upgrade. */
const SERVER_PLANS = 2;

/**
 * How long a Plan's job may run, all retries included (a Job's activeDeadlineSeconds
 * bounds the whole Job; system-upgrade-controller sets it from the Plan's
 * jobActiveDeadlineSecs, pkg/upgrade/job/job.go). A server's job may wait for the
 * restart lock behind every other server job of both server Plans; an agent's waits
 * in its prepare step until the servers are done, and the K3s upgrade of agents until
 * the agents' config rollout is.
 */
export function jobDeadlineSeconds(c: ResolvedCluster, plan: 'server' | 'agent-config' | 'agent-upgrade'): number {
  const hold = ROLLOUT_TIMING.holdSeconds;
  const servers = SERVER_PLANS * c.servers.length * hold;
  if (plan === 'server') return servers;
  const agentRounds = Math.ceil(c.agents.length / c.upgrades.agentConcurrency);
  return servers + (plan === 'agent-upgrade' ? agentRounds + 1 : 1) * hold;
}

/** The etcd key of the cluster-wide lock every server restart holds, and of its holder's name. */
export const RESTART_LOCK = 'k3s-gitops/server-restart';

/**
 * The node side of a day-2 rollout, run by a system-upgrade-controller Plan on every
 * node: compare the committed config.yaml with the one the node runs; if it differs,
 * (servers) take the cluster-wide restart lock and check every etcd member, write it
 * atomically keeping the previous one, restart K3s, wait until the node is healthy,
 * and put the previous file back if it does not become healthy in time, failing the
 * job so the Plan halts there. With K3S_UPGRADE set, the same lock and gate wrap K3s's
 * own upgrade of a server (k3s-upgrade's `upgrade.sh upgrade`, which replaces the
 * binary and sends K3s SIGTERM for systemd to restart it) and the health wait after it.
 *
 * The job's container sees the host's root at $HOST_ROOT (system-upgrade-controller
 * mounts it at /host, pkg/upgrade/job/job.go) on the host's network (HostNetwork,
 * same file), and runs the host's own tools through $HOST_EXEC (`chroot /host`):
 * systemctl, k3s, curl. etcdctl runs in the container from $ETCDCTL, copied onto the
 * host's /run by the Plan's prepare step. Tests point all of them at stand-ins.
 *
 * Facts it relies on:
 * - K3s's embedded etcd serves only gRPC on its client port 2379; HTTP (`/health`,
 *   the `/v3` JSON gateway) is on `https://127.0.0.1:2382` alone (k3s-io/k3s
 *   pkg/etcd/etcd.go listenClientHTTPURLs, after k3s-io/k3s#8402), so no other member
 *   can be asked over HTTP at all: every etcd question here is etcdctl, over gRPC,
 *   with K3s's etcd client certificate `server/tls/etcd/{server-ca.crt,client.crt,
 *   client.key}` (k3s-io/k3s pkg/daemons/control/deps/deps.go).
 * - `etcdctl member list -w simple` prints a member a line, "ID, status, name, peer
 *   URLs, client URLs, is learner", status `unstarted` for a member added but never
 *   started (etcdctl/ctlv3/command/printer_simple.go MemberList); K3s adds a joining
 *   server as a learner and promotes it once caught up (pkg/etcd/etcd.go join,
 *   manageLearners). `etcdctl endpoint health` prints "<url> is healthy" per member.
 * - `etcdctl lock NAME` (no command) prints the key it holds, `NAME/<lease ID in
 *   hex>`, keeps the session's lease alive, and on SIGTERM unlocks and exits
 *   (etcdctl/ctlv3/command/lock_command.go lockUntilSignal; clientv3/concurrency).
 * - The kubelet's kubeconfig at /var/lib/rancher/k3s/agent/kubelet.kubeconfig may
 *   read and label its own Node (NodeRestriction allows any label outside
 *   kubernetes.io and k8s.io); every K3s server answers `GET /ping` with `pong`
 *   without authentication on its supervisor port (k3s-io/k3s pkg/server/router.go),
 *   so a new `server:` URL is checked that way before a node is pointed at it.
 */
export const APPLY_CONFIG_SCRIPT = `#!/bin/sh
# Applies a committed K3s config.yaml (and registries.yaml) to this node, or with
# K3S_UPGRADE runs K3s's upgrade of this server. Exit 0: applied, upgraded or unchanged.
set -eu
# Files written here hold credentials or K3s's config: owner only.
umask 077

# system-upgrade-controller names the node in SYSTEM_UPGRADE_NODE_NAME.
NODE_NAME=\${NODE_NAME:-\${SYSTEM_UPGRADE_NODE_NAME:-}}
: "\${NODE_NAME:?}" "\${ROLE:?}" "\${CONFIGS_DIR:?}"
HOST_ROOT=\${HOST_ROOT:-/host}
HOST_EXEC=\${HOST_EXEC-chroot /host}
ETCDCTL=\${ETCDCTL:-$HOST_ROOT/run/k3s-gitops-etcdctl}
ETCD_TLS=\${ETCD_TLS:-/var/lib/rancher/k3s/server/tls/etcd}
LOCAL_ETCD=\${LOCAL_ETCD:-https://127.0.0.1:2379}
KUBELET_KUBECONFIG=\${KUBELET_KUBECONFIG:-/var/lib/rancher/k3s/agent/kubelet.kubeconfig}
HEALTH_TIMEOUT=\${HEALTH_TIMEOUT:-${ROLLOUT_TIMING.healthTimeoutSeconds}}
POLL_SECONDS=\${POLL_SECONDS:-${ROLLOUT_TIMING.pollSeconds}}
LOCK_TTL=\${LOCK_TTL:-${ROLLOUT_TIMING.lockTtlSeconds}}
LOCK_TIMEOUT=\${LOCK_TIMEOUT:-3600}
LOCK_ATTEMPTS=\${LOCK_ATTEMPTS:-5}
LOCK_NAME=\${LOCK_NAME:-${RESTART_LOCK}}
HASH_LABEL=\${HASH_LABEL:-${CONFIG_ROLLOUT_NAMES.hashLabel}}

new="$CONFIGS_DIR/$NODE_NAME.yaml"
current="$HOST_ROOT/etc/rancher/k3s/config.yaml"
failed_mark="$current.k3s-gitops-failed"
if [ "$ROLE" = server ]; then service=k3s; else service=k3s-agent; fi

log() { echo "k3s-gitops apply-config [$NODE_NAME]: $*"; }
${FILL_REGISTRIES_FUNCTION}
fail() { log "FAILED: $*" >&2; exit 1; }
# shellcheck disable=SC2086 # HOST_EXEC is a command prefix, split on purpose
host() { $HOST_EXEC "$@"; }
# A sleep a SIGTERM interrupts at once: the trap runs while wait waits, not after sleep.
pause() { sleep "$1" & wait $! || true; }

lock_pid=""
lock_log=""
lease=""
registries_new=""
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  release_restart_lock
  if [ -n "$lock_log" ]; then rm -f "$lock_log"; fi
  # The filled registries.yaml holds credentials: it goes whatever happens.
  if [ -n "$registries_new" ]; then rm -f "$registries_new"; fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# etcdctl with K3s's etcd client certificate. With etcd_exec set (in a background
# subshell) it replaces that subshell, so $! is etcdctl's own pid and SIGTERM reaches it.
etcd_exec=""
etcd_ctl() {
  \${etcd_exec:+exec} "$ETCDCTL" --dial-timeout=3s --command-timeout=5s --cacert="$HOST_ROOT$ETCD_TLS/server-ca.crt" --cert="$HOST_ROOT$ETCD_TLS/client.crt" --key="$HOST_ROOT$ETCD_TLS/client.key" "$@"
}
etcd_healthy() { etcd_ctl --endpoints="$1" endpoint health 2>&1 | grep -qF "$1 is healthy"; }

# The members etcd lists, asked over gRPC through the local member. Sets
# \`started\` ("name=client URL" a line, voting members that run), \`endpoints\` (their
# client URLs, comma-separated) and \`blocked\` (members that are no voting member yet:
# a server that died while joining, or one still catching up). An answer that is not a
# member table lists nothing.
list_members() {
  members=$(etcd_ctl --endpoints="$LOCAL_ETCD" member list -w simple 2>&1) ||
    fail "the local etcd member at $LOCAL_ETCD did not list the members ($(echo "$members" | tail -n 1)); nothing was changed"
  echo "$members" | awk -F', ' 'NF != 6 { bad = 1 } END { exit bad }' ||
    fail "the local etcd member at $LOCAL_ETCD did not list the members ($(echo "$members" | tail -n 1)); nothing was changed"
  started=$(echo "$members" | awk -F', ' '$2 == "started" && $6 == "false" { split($5, url, ","); print $3 "=" url[1] }')
  blocked=$(echo "$members" | awk -F', ' '$2 != "started" { split($4, peer, ","); printf " %s (added, never started)", peer[1]; next } $6 != "false" { printf " %s (a learner, still joining)", $3 }')
  endpoints=$(echo "$started" | sed 's/^[^=]*=//' | tr '\\n' ',' | sed 's/,$//')
  [ -n "$endpoints" ] || fail "the local etcd member at $LOCAL_ETCD listed no running member; nothing was changed"
}

# One health round over every member the local member lists: sets \`sick\` (those that
# are not healthy voting members, named) and \`healthy_endpoints\` (the client URLs of the
# rest, comma-separated).
check_members() {
  list_members
  health=$(etcd_ctl --endpoints="$endpoints" endpoint health 2>&1 || true)
  sick=$blocked
  healthy_endpoints=""
  for member in $started; do
    if echo "$health" | grep -qF "\${member#*=} is healthy"; then healthy_endpoints="$healthy_endpoints,\${member#*=}"
    else sick="$sick \${member%%=*} (\${member#*=})"; fi
  done
  healthy_endpoints=\${healthy_endpoints#,}
}

# Every member etcd lists must be a healthy voting member, not just those the cluster
# file names: a server committed but not booted yet is no member and must not block
# the others, and one added but not running counts against quorum.
# shellcheck disable=SC2317 # run by lock_then_gate, its gate
quorum_gate() {
  check_members
  [ -z "$sick" ] || fail "etcd member(s) not healthy:$sick; restarting $NODE_NAME now could lose quorum. Nothing was changed"
  log "every etcd member is healthy: $(echo "$started" | sed 's/=.*//' | sort | tr '\\n' ' ')"
}

# The holder's name is advice for the log: a serializable read, which any member answers
# from its own copy even while the cluster elects a leader.
lock_holder() { etcd_ctl --endpoints="$endpoints" get --consistency=s --print-value-only "$LOCK_NAME-holder" 2>/dev/null | grep . || echo "a job that has not named itself yet"; }
# At most one server restarts at a time, whichever Plan restarts it: a lock in etcd
# itself, which every server reaches over gRPC without the API server. Its lease is kept
# alive through every member that answered when it was taken, so this server's own
# member going down with K3s does not release it; a holder that dies releases it when
# the lease expires. Taken through the members that answer now: one that is down
# (another server restarting) must not make this job fail instead of waiting its turn.
take_restart_lock() {
  check_members
  if [ -n "$healthy_endpoints" ]; then endpoints=$healthy_endpoints; fi
  if [ -n "$lock_log" ]; then rm -f "$lock_log"; fi
  lock_log=$(mktemp)
  (etcd_exec=1; etcd_ctl --endpoints="$endpoints" lock --ttl="$LOCK_TTL" "$LOCK_NAME") >"$lock_log" 2>&1 &
  lock_pid=$!
  ticks=0
  until grep -q "^$LOCK_NAME/" "$lock_log"; do
    if ! kill -0 "$lock_pid" 2>/dev/null; then
      lock_pid=""
      if lock_session_ended; then return 1; fi
      fail "could not take the restart lock ($(tail -n 1 "$lock_log"))\${sick:+; etcd member(s) not healthy:$sick}; nothing was changed"
    fi
    [ $(( $(date +%s) - lock_since )) -lt "$LOCK_TIMEOUT" ] || fail "waited \${LOCK_TIMEOUT}s for the restart lock, held by $(lock_holder); nothing was changed"
    if [ $((ticks % 150)) -eq 5 ]; then log "waiting for the cluster-wide restart lock, held by $(lock_holder)"; fi
    pause 0.2
    ticks=$((ticks + 1))
  done
  lease=$(sed -n "s|^$LOCK_NAME/||p" "$lock_log" | head -n 1)
  etcd_ctl --endpoints="$endpoints" put --lease="$lease" "$LOCK_NAME-holder" "$NODE_NAME ($1)" >/dev/null || true
  log "holds the cluster-wide restart lock (waited $(( $(date +%s) - lock_since ))s)"
}
# Still holding: the client keeps the session alive (running, and it has not said its
# session ended: an exited client stays a zombie until this shell reaps it, and kill -0
# finds a zombie) and etcd still has the lock's key (a linearizable read: the key a
# client printed can be gone since, with its lease).
still_locked() {
  kill -0 "$lock_pid" 2>/dev/null && ! lock_session_ended &&
    etcd_ctl --endpoints="$endpoints" get --keys-only "$LOCK_NAME/$lease" 2>/dev/null | grep -q .
}
# The lock's session can end before this server restarts, with nothing changed yet: its
# keep-alives go unanswered while the cluster elects a leader (the restarting holder's
# member led it; K3s's election timeout is 5 s), and etcd's client gives the lease up once
# a TTL passes with no answer (client/v3/lease.go deadlineLoop), or etcd expires it.
# etcdctl then ends with "session expired" (having printed the key of a lock whose lease
# etcd kept), "lock lost on init" (3.4: the key gone when its turn came; lock_command.go
# lockUntilSignal) or "mutex: session is expired" (3.5, concurrency/mutex.go Lock). The
# job takes the lock again, and runs the gate again.
lock_session_ended() { grep -qE 'session.*expired|lock lost on init' "$lock_log"; }
# Returns holding the restart lock, having passed the gate ($2, a command) under it.
lock_then_gate() {
  lock_since=$(date +%s)
  attempt=1
  while :; do
    if take_restart_lock "$1"; then
      "$2"
      if still_locked; then return 0; fi
    fi
    release_restart_lock
    [ "$attempt" -lt "$LOCK_ATTEMPTS" ] || fail "lost the restart lock $attempt times before restarting ($(tail -n 1 "$lock_log")); nothing was changed"
    log "lost the restart lock before restarting ($(tail -n 1 "$lock_log")); nothing was changed, taking it again"
    attempt=$((attempt + 1))
  done
}
# shellcheck disable=SC2317 # run by cleanup, from the EXIT trap
release_restart_lock() {
  [ -n "$lock_pid" ] || return 0
  # Revoking the session's lease deletes the lock's key and the holder's name at once,
  # through any member; etcdctl then ends (its session is gone), or SIGTERM ends it. One
  # that cannot reach etcd is killed after 10 s, and its lease frees the lock.
  etcd_ctl --endpoints="$endpoints" lease revoke "$lease" >/dev/null 2>&1 || true
  kill -TERM "$lock_pid" 2>/dev/null || true
  tries=0
  while kill -0 "$lock_pid" 2>/dev/null && [ "$tries" -lt 100 ]; do sleep 0.1; tries=$((tries + 1)); done
  kill -KILL "$lock_pid" 2>/dev/null || true
  lock_pid=""
}

node_ready() {
  [ "$(host k3s kubectl --kubeconfig "$KUBELET_KUBECONFIG" get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

healthy() {
  if [ "$ROLE" = server ]; then
    [ "$(host k3s kubectl get --raw /readyz 2>/dev/null)" = ok ] || return 1
    etcd_healthy "$LOCAL_ETCD" || return 1
  fi
  node_ready
}

wait_healthy() {
  deadline=$(( $(date +%s) + HEALTH_TIMEOUT ))
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if healthy; then return 0; fi
    pause "$POLL_SECONDS"
  done
  return 1
}

# An upgrade goes ahead only while a recent copy of etcd exists off the node: the backup
# CronJobs' last success, and K3s's own S3 uploads (ETCDSnapshotFile objects with spec.s3).
offsite_gate() {
  [ -n "\${OFFSITE_MAX_AGE_SECONDS:-}" ] || return 0
  newest=0
  times=""
  for cronjob in \${BACKUP_CRONJOBS:-}; do
    times="$times $(host k3s kubectl -n "$BACKUP_NAMESPACE" get cronjob "$cronjob" -o 'jsonpath={.status.lastSuccessfulTime}' 2>/dev/null || true)=true"
  done
  if [ -n "\${S3_SNAPSHOTS:-}" ]; then
    times="$times $(host k3s kubectl get etcdsnapshotfiles -o 'jsonpath={range .items[?(@.spec.s3)]}{.status.creationTime}{"="}{.status.readyToUse}{" "}{end}' 2>/dev/null || true)"
  fi
  for entry in $times; do
    case "$entry" in ?*=true) ;; *) continue ;; esac
    at=$(host date -d "\${entry%%=*}" +%s 2>/dev/null) || continue
    if [ "$at" -gt "$newest" ]; then newest=$at; fi
  done
  [ "$newest" -gt 0 ] || fail "no off-node copy of etcd found; an upgrade needs one to go back to. Check the backups (RUNBOOK.md, Checking that backups run); the Plan retries"
  age=$(( $(date +%s) - newest ))
  [ "$age" -le "$OFFSITE_MAX_AGE_SECONDS" ] || fail "the newest off-node copy of etcd is \${age}s old, over the \${OFFSITE_MAX_AGE_SECONDS}s bound; an upgrade needs a recent one to go back to. Fix the backups (RUNBOOK.md, Checking that backups run); the Plan retries"
  log "newest off-node copy of etcd: \${age}s old"
}

# A K3s upgrade of this server: under the lock, the gate, a recent off-node copy, a
# snapshot to go back to, then k3s-upgrade's own binary swap and restart, and health.
if [ -n "\${K3S_UPGRADE:-}" ]; then
  lock_then_gate "K3s upgrade to \${SYSTEM_UPGRADE_PLAN_LATEST_VERSION:-a new version}" quorum_gate
  offsite_gate
  if [ -n "\${SNAPSHOT_NAME:-}" ]; then host k3s etcd-snapshot save --name "$SNAPSHOT_NAME" || fail "on-demand snapshot $SNAPSHOT_NAME failed"; fi
  still_locked || fail "lost the restart lock before restarting ($(tail -n 1 "$lock_log")); nothing was changed"
  # shellcheck disable=SC2086 # a command and its arguments
  \${UPGRADE_COMMAND:?} || fail "the K3s upgrade step failed; see its output above"
  wait_healthy || fail "$NODE_NAME is not healthy within \${HEALTH_TIMEOUT}s of the K3s upgrade; the new binary stays (RUNBOOK.md, When a job fails). See journalctl -u k3s on $NODE_NAME"
  log "healthy after the K3s upgrade"
  exit 0
fi

[ -f "$new" ] || fail "no committed config for $NODE_NAME in $CONFIGS_DIR"

# registries.yaml, where the cluster has one: the committed file filled in with this
# node's credential files, compared and written like config.yaml. One this tool wrote
# (it starts with the generated-file line) goes when the cluster file drops registries.
registries_committed="$CONFIGS_DIR/${REGISTRIES_SECRET_KEY}"
registries_current="$HOST_ROOT${REGISTRIES_PATH}"
registries_drop=""
if [ -f "$registries_committed" ]; then
  registries_new="$registries_current.k3s-gitops-filled"
  fill_registries "$registries_committed" "$registries_new" "$HOST_ROOT" || fail "cannot fill registries.yaml with this node's registry credentials; nothing was changed"
elif [ -f "$registries_current" ] && head -n 1 "$registries_current" | grep -q '^# ${GENERATED_MARK}'; then
  registries_drop=1
fi

changed=""
cmp -s "$new" "$current" || changed="config.yaml"
if [ -n "$registries_new" ] && ! cmp -s "$registries_new" "$registries_current"; then changed="$changed registries.yaml"; fi
if [ -n "$registries_drop" ]; then changed="$changed registries.yaml"; fi
changed=\${changed# }

# What a commit gave this node, as the node-hash label and \`sha256sum | cut -c1-16\` name it.
short_hash() { if [ -f "$1" ]; then sha256sum "$1" | cut -c1-16; else echo none; fi; }
committed="config.yaml $(short_hash "$new") registries.yaml $(short_hash "$registries_committed")"

# Atomic, 0600, keeping what was there beside it; no source: the file goes.
install_file() {
  if [ -f "$2" ]; then cp -p "$2" "$2.k3s-gitops-previous"; else rm -f "$2.k3s-gitops-previous"; fi
  if [ -z "$1" ]; then rm -f "$2"; return 0; fi
  cp "$1" "$2.k3s-gitops-new"
  chmod 600 "$2.k3s-gitops-new"
  mv -f "$2.k3s-gitops-new" "$2"
}
# What was there before, or nothing if there was nothing.
restore_file() {
  if [ -f "$1.k3s-gitops-previous" ]; then
    cp -p "$1.k3s-gitops-previous" "$1.k3s-gitops-new"
    mv -f "$1.k3s-gitops-new" "$1"
  else
    rm -f "$1"
  fi
}
rollback() {
  for file in $1; do
    case "$file" in
      config.yaml) restore_file "$current" ;;
      registries.yaml) restore_file "$registries_current" ;;
    esac
  done
}
# A config this node was not healthy with is not applied to it again until a commit
# changes it: every retry would restart the node on it once more.
mark_failed() { echo "$committed failed at $(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$failed_mark"; }
# K3s's unit is Type=notify with no start timeout (its install.sh): a blocking restart of
# a K3s that never gets ready would never return, and one that fails would end this
# script under set -e before the rollback. So the restart does not wait; health decides.
restart() {
  host systemctl restart --no-block "$service" || log "systemctl restart $service failed; waiting for health all the same"
}
label() {
  hash=$(sha256sum "$current" | cut -c1-16)
  host k3s kubectl --kubeconfig "$KUBELET_KUBECONFIG" label node "$NODE_NAME" "$HASH_LABEL=$hash" --overwrite >/dev/null || log "could not label the node (the config is applied)"
}
# Stopped (the job's deadline, a deleted pod) while a new file is in place and the node
# not yet healthy: the previous file goes back before the job ends.
written=""
# shellcheck disable=SC2317 # run by the TERM and INT traps
on_signal() {
  # A second signal must not cut the rollback short; only SIGKILL (the kubelet's, after
  # the grace period) stops it now.
  trap '' TERM INT
  if [ -n "$written" ]; then
    log "stopped before $NODE_NAME was healthy with the new $changed; putting the previous one back"
    rollback "$changed"
    restart
  fi
  exit 143
}
trap on_signal TERM INT

if [ -z "$changed" ]; then
  # Unchanged, but a job killed after writing (a node reboot mid-wait) lands here too:
  # only a healthy node passes, and one that is not goes back to what it ran before.
  if wait_healthy; then
    log "config.yaml\${registries_new:+ and registries.yaml} unchanged; no restart"
    label
    exit 0
  fi
  if [ -f "$current.k3s-gitops-previous" ] && ! cmp -s "$current.k3s-gitops-previous" "$current"; then
    log "unchanged but not healthy, with an earlier config.yaml beside it: putting that back"
    if [ "$ROLE" = server ]; then lock_then_gate "rollback of a config it is not healthy with" true; fi
    back="config.yaml"
    if [ -f "$registries_current.k3s-gitops-previous" ]; then back="$back registries.yaml"; fi
    rollback "$back"
    mark_failed
    restart
    fail "the committed config.yaml is in place but $NODE_NAME is not healthy; rolled back to the one before. See journalctl -u $service on $NODE_NAME"
  fi
  fail "$NODE_NAME is not healthy, and its config.yaml is already the committed one; nothing was changed. See journalctl -u $service on $NODE_NAME"
fi

if [ -f "$failed_mark" ] && [ "$(sed 's/ failed at .*//' "$failed_mark")" = "$committed" ]; then
  fail "the committed $committed $(sed 's/.* failed at /failed its health check on this node at /' "$failed_mark"); it is not applied again until a commit changes it (or remove /etc/rancher/k3s/config.yaml.k3s-gitops-failed on $NODE_NAME to retry it). Nothing was changed"
fi

# A node moved to a new server URL (the VIP of a new load balancer) must not restart
# before that URL answers: it could not rejoin. The job fails untouched and is retried.
url=$(sed -n 's/^server: *//p' "$new")
if [ -n "$url" ] && [ "$url" != "$(sed -n 's/^server: *//p' "$current")" ]; then
  [ "$(host curl -ks --max-time 5 "$url/ping" 2>/dev/null)" = pong ] ||
    fail "the new server URL $url does not answer /ping yet; nothing was changed (the job is retried)"
  log "the new server URL $url answers"
fi

if [ "$ROLE" = server ]; then
  lock_then_gate "config change: $changed" quorum_gate
fi

for file in $changed; do
  case "$file" in
    config.yaml) install_file "$new" "$current" ;;
    registries.yaml) install_file "$registries_new" "$registries_current" ;;
  esac
done
written=1
log "$changed written (each previous one kept beside it as .k3s-gitops-previous); restarting $service"
restart

if wait_healthy; then
  written=""
  rm -f "$failed_mark"
  log "healthy with the new $changed"
  label
  exit 0
fi
written=""
log "not healthy within \${HEALTH_TIMEOUT}s; putting the previous $changed back"
rollback "$changed"
mark_failed
restart
fail "the new $changed did not become healthy within \${HEALTH_TIMEOUT}s; rolled back to the previous one, and it is not applied here again until a commit changes it. See the job's log and journalctl -u $service on $NODE_NAME"
`;
