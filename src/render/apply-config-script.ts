import { REGISTRIES_SECRET_KEY } from '../names';
import { GENERATED_MARK } from './text';
import { FILL_REGISTRIES_FUNCTION, REGISTRIES_PATH } from './registries';

/**
 * The node side of a day-2 rollout, run by a system-upgrade-controller Plan on every
 * node: compare the committed config.yaml with the one the node runs; if it differs,
 * (servers) check every etcd member first, write it atomically keeping the previous
 * one, restart K3s, wait until the node is healthy, and put the previous file back if
 * it does not become healthy in time, failing the job so the Plan halts there.
 *
 * The job's container sees the host's root at $HOST_ROOT (system-upgrade-controller
 * mounts it at /host) and runs the host's own tools through $HOST_EXEC (`chroot
 * /host`): systemctl, k3s, curl. Tests point both at stand-ins.
 *
 * Facts it relies on: K3s's etcd client certificates and port,
 * /var/lib/rancher/k3s/server/tls/etcd/{server-ca.crt,client.crt,client.key} and 2379
 * (k3s-io/k3s pkg/daemons/control/deps); etcd's /health answers {"health":"true"}
 * (etcd's etcdhttp) and its JSON gateway lists the members, with `clientURLs` empty
 * for one never started, at `POST /v3/cluster/member/list` (etcd api/etcdserverpb); the kubelet's kubeconfig at
 * /var/lib/rancher/k3s/agent/kubelet.kubeconfig may read and label its own Node
 * (NodeRestriction allows any label outside kubernetes.io and k8s.io); every K3s
 * server answers `GET /ping` with `pong` without authentication on its supervisor port
 * (k3s-io/k3s pkg/server/router.go), so a new `server:` URL is checked that way before
 * a node is pointed at it.
 */
export const APPLY_CONFIG_SCRIPT = `#!/bin/sh
# Applies a committed K3s config.yaml (and registries.yaml) to this node. Exit 0: applied or unchanged.
set -eu
# Files written here hold credentials or K3s's config: owner only.
umask 077

# system-upgrade-controller names the node in SYSTEM_UPGRADE_NODE_NAME.
NODE_NAME=\${NODE_NAME:-\${SYSTEM_UPGRADE_NODE_NAME:-}}
: "\${NODE_NAME:?}" "\${ROLE:?}" "\${CONFIGS_DIR:?}"
HOST_ROOT=\${HOST_ROOT:-/host}
HOST_EXEC=\${HOST_EXEC-chroot /host}
ETCD_TLS=\${ETCD_TLS:-/var/lib/rancher/k3s/server/tls/etcd}
LOCAL_ETCD=\${LOCAL_ETCD:-https://127.0.0.1:2379}
KUBELET_KUBECONFIG=\${KUBELET_KUBECONFIG:-/var/lib/rancher/k3s/agent/kubelet.kubeconfig}
HEALTH_TIMEOUT=\${HEALTH_TIMEOUT:-300}
POLL_SECONDS=\${POLL_SECONDS:-5}
HASH_LABEL=\${HASH_LABEL:-k3s-gitops.io/config-hash}

new="$CONFIGS_DIR/$NODE_NAME.yaml"
current="$HOST_ROOT/etc/rancher/k3s/config.yaml"
if [ "$ROLE" = server ]; then service=k3s; else service=k3s-agent; fi

log() { echo "k3s-gitops apply-config [$NODE_NAME]: $*"; }
${FILL_REGISTRIES_FUNCTION}
fail() { log "FAILED: $*" >&2; exit 1; }
# shellcheck disable=SC2086 # HOST_EXEC is a command prefix, split on purpose
host() { $HOST_EXEC "$@"; }

etcd_curl() {
  host curl -sS --max-time 5 --cacert "$ETCD_TLS/server-ca.crt" --cert "$ETCD_TLS/client.crt" --key "$ETCD_TLS/client.key" "$@" 2>/dev/null
}

etcd_healthy() { etcd_curl "$1/health" | grep -q '"health":"true"'; }

# The members etcd itself lists (blanks dropped: no value has any), one per line: the
# first client URL, or "unstarted <peer URL>" for a member added but never started (a
# server that died while joining): restarting another server then is refused until it
# is removed (RUNBOOK.md). An answer without a member list lists nothing.
etcd_members() {
  list=$(etcd_curl -X POST -d '{}' "$LOCAL_ETCD/v3/cluster/member/list" || true)
  case "$list" in *'"members"'*) ;; *) return 0 ;; esac
  printf '%s' "$list" | tr -d ' \\n' | sed 's/.*"members":\\[//; s/},{/}\\
{/g' | while IFS= read -r member || [ -n "$member" ]; do
    url=$(echo "$member" | sed -n 's/.*"clientURLs":\\["\\([^"]*\\)".*/\\1/p')
    if [ -n "$url" ]; then echo "$url"; else echo "unstarted $(echo "$member" | sed -n 's/.*"peerURLs":\\["\\([^"]*\\)".*/\\1/p')"; fi
  done
}

# Every member etcd lists must answer healthy, not just those the cluster file names:
# a server committed but not booted yet is no member and must not block the others.
quorum_gate() {
  members=$(etcd_members)
  [ -n "$members" ] || fail "the local etcd member at $LOCAL_ETCD did not list the members; nothing was changed"
  sick=""
  for member in $(echo "$members" | tr ' ' '='); do
    case "$member" in unstarted=*) sick="$sick \${member#unstarted=} (added, never started)"; continue ;; esac
    etcd_healthy "$member" || sick="$sick $member"
  done
  [ -z "$sick" ] || fail "etcd member(s) not healthy:$sick; restarting $NODE_NAME now could lose quorum. Nothing was changed"
  log "every etcd member is healthy: $(echo "$members" | tr '\\n' ' ')"
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
    sleep "$POLL_SECONDS"
  done
  return 1
}

# A node moved to a new server URL (the VIP of a new load balancer) must not restart
# before that URL answers: it could not rejoin. The job fails untouched and is retried.
server_answers() {
  url=$(sed -n 's/^server: *//p' "$new")
  [ -n "$url" ] || return 0
  [ "$url" != "$(sed -n 's/^server: *//p' "$current")" ] || return 0
  [ "$(host curl -ks --max-time 5 "$url/ping" 2>/dev/null)" = pong ] ||
    fail "the new server URL $url does not answer /ping yet; nothing was changed (the job is retried)"
  log "the new server URL $url answers"
}

label() {
  hash=$(sha256sum "$current" | cut -c1-16)
  host k3s kubectl --kubeconfig "$KUBELET_KUBECONFIG" label node "$NODE_NAME" "$HASH_LABEL=$hash" --overwrite >/dev/null || log "could not label the node (the config is applied)"
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

# Before a K3s upgrade replaces this server's binary: the same gate, a recent off-node
# copy, and a snapshot to go back to.
if [ -n "\${GATE_ONLY:-}" ]; then
  quorum_gate
  offsite_gate
  if [ -n "\${SNAPSHOT_NAME:-}" ]; then host k3s etcd-snapshot save --name "$SNAPSHOT_NAME" || fail "on-demand snapshot $SNAPSHOT_NAME failed"; fi
  exit 0
fi

[ -f "$new" ] || fail "no committed config for $NODE_NAME in $CONFIGS_DIR"

# registries.yaml, where the cluster has one: the committed file filled in with this
# node's credential files, compared and written like config.yaml. One this tool wrote
# (it starts with the generated-file line) goes when the cluster file drops registries.
registries_committed="$CONFIGS_DIR/${REGISTRIES_SECRET_KEY}"
registries_current="$HOST_ROOT${REGISTRIES_PATH}"
registries_new=""
registries_drop=""
if [ -f "$registries_committed" ]; then
  registries_new="$registries_current.k3s-gitops-filled"
  # The filled file holds credentials: it goes whatever happens next.
  trap 'rm -f "$registries_new"' EXIT
  fill_registries "$registries_committed" "$registries_new" "$HOST_ROOT" || fail "cannot fill registries.yaml with this node's registry credentials; nothing was changed"
elif [ -f "$registries_current" ] && head -n 1 "$registries_current" | grep -q '^# ${GENERATED_MARK}'; then
  registries_drop=1
fi

changed=""
cmp -s "$new" "$current" || changed="config.yaml"
if [ -n "$registries_new" ] && ! cmp -s "$registries_new" "$registries_current"; then changed="$changed registries.yaml"; fi
if [ -n "$registries_drop" ]; then changed="$changed registries.yaml"; fi
changed=\${changed# }

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
# K3s's unit is Type=notify with no start timeout (its install.sh): a blocking restart of
# a K3s that never gets ready would never return, and one that fails would end this
# script under set -e before the rollback. So the restart does not wait; health decides.
restart() {
  host systemctl restart --no-block "$service" || log "systemctl restart $service failed; waiting for health all the same"
}

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
    back="config.yaml"
    if [ -f "$registries_current.k3s-gitops-previous" ]; then back="$back registries.yaml"; fi
    rollback "$back"
    restart
    fail "the committed config.yaml is in place but $NODE_NAME is not healthy; rolled back to the one before. See journalctl -u $service on $NODE_NAME"
  fi
  fail "$NODE_NAME is not healthy, and its config.yaml is already the committed one; nothing was changed. See journalctl -u $service on $NODE_NAME"
fi
server_answers
if [ "$ROLE" = server ]; then quorum_gate; fi

for file in $changed; do
  case "$file" in
    config.yaml) install_file "$new" "$current" ;;
    registries.yaml) install_file "$registries_new" "$registries_current" ;;
  esac
done
log "$changed written (each previous one kept beside it as .k3s-gitops-previous); restarting $service"
restart

if wait_healthy; then
  log "healthy with the new $changed"
  label
  exit 0
fi
log "not healthy within \${HEALTH_TIMEOUT}s; putting the previous $changed back"
rollback "$changed"
restart
fail "the new $changed did not become healthy within \${HEALTH_TIMEOUT}s; rolled back to the previous one. See the job's log and journalctl -u $service on $NODE_NAME"
`;
