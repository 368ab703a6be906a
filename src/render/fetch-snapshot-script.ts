/** Where the restore user-data writes the fetch script. */
export const FETCH_SNAPSHOT_PATH = '/var/lib/k3s-gitops/fetch-snapshot.sh';

/** Where it puts the snapshot: ours, so K3s's own folders are not made before K3s makes them. */
export const RESTORE_DIR = '/var/lib/k3s-gitops/restore';

/** The script cloud-init wrote from runcmd: running it again re-runs a first boot that stopped. */
export const RUNCMD_SCRIPT = '/var/lib/cloud/instance/scripts/runcmd';

/**
 * Fetches one etcd snapshot from the cluster's folder on an NFS backup target onto a
 * blank machine, for K3s's `cluster-reset-restore-path`, which takes a file on the
 * machine (or a name in K3s's S3 bucket). POSIX sh for the distribution's /bin/sh; it
 * passes shellcheck. Arguments: SERVER:PATH (the export), FOLDER (the cluster's folder
 * in it), SNAPSHOT (a file name there), DEST (where the copy goes, made 0700).
 *
 * It mounts the export read-only on a fresh mount point and unmounts it however it
 * ends. It refuses a snapshot that is missing, empty, or not what K3s restores: K3s
 * saves a snapshot as etcd's bbolt database (etcd's snapshot Save; bbolt's meta page
 * starts at byte 16 with the magic 0xED0CDAED, etcd-io/bbolt internal/common/page.go,
 * meta.go, types.go), and with etcd-snapshot-compress as a zip archive named `.zip`,
 * which K3s's restore unzips by that suffix (k3s-io/k3s pkg/etcd/snapshot.go
 * `compressSnapshot`, pkg/etcd/etcd.go `Restore`). The copy keeps the name, lands under
 * a temporary name, is compared byte for byte, then renamed, mode 0600 as K3s keeps
 * its snapshots.
 */
export const FETCH_SNAPSHOT_SCRIPT = `#!/bin/sh
# Fetches one etcd snapshot from the cluster's folder on its NFS backup target, read-only.
set -eu

[ "$#" -eq 4 ] || { echo "usage: $0 SERVER:PATH FOLDER SNAPSHOT DEST" >&2; exit 2; }
export_path=$1
folder=$2
snapshot=$3
dest=$4
again="once that is fixed, run this first boot's commands again: sudo sh ${RUNCMD_SCRIPT}"

fail() { echo "k3s-gitops: $*" >&2; exit 1; }

# What K3s restores: a bbolt file, or a zip archive when the name ends in .zip.
snapshot_format() {
  case "$1" in
    *.zip) [ "$(head -c 4 "$1" | od -An -tx1 | tr -d ' \\n')" = 504b0304 ] && echo zip ;;
    *) [ "$(od -An -tx1 -j16 -N4 "$1" | tr -d ' \\n')" = edda0ced ] && echo bbolt ;;
  esac
  return 0
}

mnt=$(mktemp -d /run/k3s-gitops-snapshot.XXXXXX)
if ! mount -t nfs -o ro "$export_path" "$mnt"; then
  rmdir "$mnt"
  fail "cannot mount $export_path read-only (is nfs-common installed, and does the export let this machine in?); $again"
fi
unmount() { umount "$mnt" && rmdir "$mnt"; }
trap unmount EXIT

src="$mnt/$folder/$snapshot"
if [ ! -f "$src" ]; then
  newest=$(for f in "$mnt/$folder"/*; do [ -f "$f" ] && basename "$f"; done | tail -n 3 | tr '\\n' ' ')
  fail "snapshot $snapshot is not in $export_path, folder $folder (newest there: \${newest:-none}); $again"
fi
[ -s "$src" ] || fail "snapshot $snapshot in $export_path/$folder is empty; pick another; $again"
format=$(snapshot_format "$src")
[ -n "$format" ] || fail "$snapshot in $export_path/$folder is not an etcd snapshot K3s can restore (a bbolt database, or a zip archive named .zip); pick another; $again"

(umask 077 && mkdir -p "$dest")
partial="$dest/.$snapshot.partial"
cp "$src" "$partial" || { rm -f "$partial"; fail "copying $snapshot from $export_path failed; $again"; }
cmp -s "$src" "$partial" || { rm -f "$partial"; fail "the copy of $snapshot differs from the one on $export_path; $again"; }
chmod 0600 "$partial"
mv "$partial" "$dest/$snapshot"
echo "k3s-gitops: fetched $snapshot ($format, $(wc -c < "$dest/$snapshot") bytes) from $export_path/$folder"
`;
