/**
 * The backup job's script: copies K3s's local etcd snapshots off the node. POSIX sh,
 * for busybox (NFS) and the aws-cli image (S3); it passes shellcheck.
 *
 * Configured by environment:
 * - SNAPSHOT_DIR     K3s's snapshot directory, mounted read-only
 * - SNAPSHOT_PREFIX  the scheduled snapshots' base name (etcd-snapshot-name)
 * - RETENTION        how many copies the target keeps
 * - MAX_AGE_SECONDS  the newest snapshot may be at most this old (twice the interval)
 * - TARGET_KIND      dir (an NFS mount) or s3
 * - TARGET_DIR       dir: this cluster's folder on the export, where the copies go (made
 *                    when missing); the job lists and prunes nothing outside it
 * - FLAT_DIR         dir, optional: the export's root, where copies went before each
 *                    cluster had a folder; its copies are counted and reported, never
 *                    touched (nothing in their names says which cluster wrote them)
 * - S3_URL, S3_ENDPOINT_URL, AWS_*   s3: where the copies go, and the credentials
 */
export const BACKUP_SCRIPT = `#!/bin/sh
# Copies K3s etcd snapshots off the node; fails loudly when snapshots stopped.
set -eu

: "\${SNAPSHOT_DIR:?}" "\${SNAPSHOT_PREFIX:?}" "\${RETENTION:?}" "\${MAX_AGE_SECONDS:?}" "\${TARGET_KIND:?}"

log() { echo "etcd-backup: $*"; }
fail() { echo "etcd-backup: ERROR: $*" >&2; exit 1; }

# Prints "<unix-time> <name>" for each snapshot name on stdin, oldest first. K3s names
# scheduled snapshots <prefix>-<node>-<unix-time>[.zip] (k3s-io/k3s pkg/etcd/snapshot.go):
# nothing in the name says which cluster, hence a folder per cluster on the target.
by_age() {
  sed -n 's/^\\(.*-\\([0-9][0-9]*\\)\\(\\.zip\\)\\{0,1\\}\\)$/\\2 \\1/p' | sort -n
}

local_snapshots() {
  for f in "$SNAPSHOT_DIR/$SNAPSHOT_PREFIX"-*; do
    [ -f "$f" ] && basename "$f"
  done
  return 0
}

target_list() {
  case "$TARGET_KIND" in
    dir) for f in "$TARGET_DIR/$SNAPSHOT_PREFIX"-*; do [ -f "$f" ] && basename "$f"; done; return 0 ;;
    s3) aws s3 ls --endpoint-url "$S3_ENDPOINT_URL" "$S3_URL/" | awk '{print $4}' | grep "^$SNAPSHOT_PREFIX-" || true ;;
    *) fail "unknown TARGET_KIND $TARGET_KIND" ;;
  esac
}

target_put() {
  case "$TARGET_KIND" in
    # Copy under a temporary name, then rename: a half-written copy never looks complete.
    dir) cp "$SNAPSHOT_DIR/$1" "$TARGET_DIR/.$1.partial" && mv "$TARGET_DIR/.$1.partial" "$TARGET_DIR/$1" ;;
    s3) aws s3 cp --only-show-errors --endpoint-url "$S3_ENDPOINT_URL" "$SNAPSHOT_DIR/$1" "$S3_URL/$1" ;;
  esac
}

target_delete() {
  case "$TARGET_KIND" in
    dir) rm -f "$TARGET_DIR/$1" ;;
    s3) aws s3 rm --only-show-errors --endpoint-url "$S3_ENDPOINT_URL" "$S3_URL/$1" ;;
  esac
}

[ -d "$SNAPSHOT_DIR" ] || fail "snapshot directory $SNAPSHOT_DIR is missing: is this a K3s server with embedded etcd?"
snapshots=$(local_snapshots | by_age)
[ -n "$snapshots" ] || fail "no $SNAPSHOT_PREFIX-* snapshot in $SNAPSHOT_DIR: K3s has not taken any"

if [ "$TARGET_KIND" = dir ]; then
  # One export holds every cluster's folder; this job works inside its own only.
  mkdir -p "$TARGET_DIR" || fail "cannot create $TARGET_DIR on the target"
  if [ -n "\${FLAT_DIR:-}" ]; then
    flat=$(for f in "$FLAT_DIR/$SNAPSHOT_PREFIX"-*; do [ -f "$f" ] && echo "$f"; done | grep -c . || true)
    if [ "$flat" -gt 0 ]; then
      copies=copies; [ "$flat" -eq 1 ] && copies=copy
      log "note: $flat $copies in the export's root from before per-cluster folders, never listed or pruned here; RUNBOOK.md says how to move them"
    fi
  fi
fi

existing=$(target_list)
copied=0
# Only the newest RETENTION: older ones would be pruned again right away.
for name in $(echo "$snapshots" | tail -n "$RETENTION" | awk '{print $2}'); do
  if echo "$existing" | grep -qxF "$name"; then
    continue
  fi
  target_put "$name" || fail "copying $name failed"
  log "copied $name"
  copied=$((copied + 1))
done

kept=$(target_list | by_age)
excess=$(( $(echo "$kept" | grep -c .) - RETENTION ))
if [ "$excess" -gt 0 ]; then
  for name in $(echo "$kept" | head -n "$excess" | awk '{print $2}'); do
    target_delete "$name" || fail "pruning $name failed"
    log "pruned $name"
  done
fi

newest=$(echo "$snapshots" | tail -n 1)
newest_name=\${newest#* }
age=$(( $(date +%s) - $(stat -c %Y "$SNAPSHOT_DIR/$newest_name") ))
if [ "$age" -gt "$MAX_AGE_SECONDS" ]; then
  fail "newest snapshot $newest_name is \${age}s old, more than \${MAX_AGE_SECONDS}s (twice the snapshot interval): K3s snapshots have stopped on this server"
fi
log "ok: $copied new, newest $newest_name is \${age}s old"
`;
