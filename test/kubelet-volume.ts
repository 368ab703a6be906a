/**
 * A ConfigMap volume laid out on disk as the kubelet lays it out, so tests that run
 * keepalived on the daemonset's files see the modes and symlinks the pod sees.
 *
 * What the kubelet makes (kubernetes/kubernetes pkg/volume/configmap/configmap.go
 * `SetUpAt`, which sets up a wrapped emptyDir and then writes through
 * pkg/volume/util/atomic_writer.go `AtomicWriter.Write`):
 *
 *   <volume>/                              0777, no sticky bit (emptyDir's defaultPerm,
 *                                          pkg/volume/emptydir/empty_dir.go)
 *   <volume>/..2026_12_01_10_00_00.123456789/  0755 (`newTimestampDir`), the real files,
 *                                          each with its item's mode (`writePayloadToDir`)
 *   <volume>/..data -> ..2026_12_01_10_00_00.123456789
 *   <volume>/<key> -> ..data/<key>         one per item (`createUserVisibleFiles`)
 *
 * and the container runtime bind-mounts <volume> itself at the container's mountPath,
 * read-only here (`readOnly: true`). kubernetes/kubernetes#125876 and #133641,
 * k3s-io/k3s#12785 are the reports of the 0777 root.
 *
 * How this layout differs from the kubelet's:
 * - it is written under the test's temporary directory, not under
 *   /var/lib/kubelet/pods/<uid>/volumes/kubernetes.io~configmap/<name> (both on disk: a
 *   configMap volume is no tmpfs, unlike a Secret's; configmap.go `wrappedVolumeSpec`);
 * - it is owned by root:root, as the kubelet leaves it for a pod without fsGroup (ours
 *   sets none); an fsGroup's chgrp and setgid bit (`SetVolumeOwnership`) are not modelled;
 * - it is written once, with a fixed timestamp: no atomic update (the kubelet writes a
 *   new timestamped directory and renames `..data_tmp` over `..data` when the ConfigMap
 *   changes, then removes the old directory), no `..data_tmp`;
 * - item paths are flat (no `a/b` items, whose first element the kubelet links as a
 *   directory); no SELinux relabelling.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseManifests } from './helpers';

/** The timestamped directory's name, in the kubelet's format (`..2006_01_02_15_04_05.` plus a random suffix). */
export const TIMESTAMP_DIR = '..2026_12_01_10_00_00.123456789';

/** One projected file: its content and its item's mode (or the volume's defaultMode). */
export interface VolumeFile {
  readonly content: string;
  readonly mode: number;
}

/** Writes `files` (keyed by item path) into `volume`, an absent or empty directory, as the kubelet would. */
export function writeConfigMapVolume(volume: string, files: ReadonlyMap<string, VolumeFile>): void {
  fs.mkdirSync(volume, { recursive: true });
  const data = path.join(volume, TIMESTAMP_DIR);
  fs.mkdirSync(data);
  fs.chmodSync(data, 0o755);
  for (const [item, file] of files) {
    if (item.includes('/') || item.startsWith('..')) throw new Error(`item path ${item}: only flat paths are modelled`);
    const real = path.join(data, item);
    fs.writeFileSync(real, file.content);
    fs.chmodSync(real, file.mode); // the umask would otherwise trim it, as the kubelet knows too
  }
  fs.symlinkSync(TIMESTAMP_DIR, path.join(volume, '..data'));
  for (const item of files.keys()) fs.symlinkSync(path.join('..data', item), path.join(volume, item));
  // Last, so the umask cannot narrow it: emptyDir chmods its root 0777 the same way.
  fs.chmodSync(volume, 0o777);
}

/** How keepalived finds its folder: plain files from cloud-init, or a ConfigMap volume. */
export type KeepalivedLayout = 'files' | 'kubelet';

/**
 * The shell that puts the folder `$0` at /etc/keepalived, in the mount namespace
 * `ip netns exec` gives each command; a volume goes read-only, as the pod mounts it.
 */
export function mountAtEtcKeepalived(layout: KeepalivedLayout): string {
  return layout === 'kubelet'
    ? 'mount --bind "$0" /etc/keepalived && mount -o remount,bind,ro /etc/keepalived'
    : 'mount --bind "$0" /etc/keepalived';
}

/** Writes a keepalived folder in its layout: a kubelet volume, or files in a root-owned 0755 directory. */
export function writeKeepalivedDir(dir: string, layout: KeepalivedLayout, files: ReadonlyMap<string, VolumeFile>): void {
  if (layout === 'kubelet') return writeConfigMapVolume(dir, files);
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, 0o755);
  for (const [name, file] of files) {
    fs.writeFileSync(path.join(dir, name), file.content);
    fs.chmodSync(path.join(dir, name), file.mode);
  }
}

interface ManifestObject {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec?: { template: { spec: { volumes: { configMap?: { name: string; defaultMode?: number; items?: { key: string; path: string; mode?: number }[] } }[] } } };
}

/**
 * The files a DaemonSet's ConfigMap volume projects, keyed by item path, with the
 * modes its items give (kubernetes pkg/volume/configmap/configmap.go `makePayload`:
 * the item's mode, else defaultMode, else 0644; without items, every key).
 */
export function configMapVolumeFiles(manifest: string, daemonSet: string): Map<string, VolumeFile> {
  const objects = parseManifests(manifest) as ManifestObject[];
  const ds = objects.find((o) => o.kind === 'DaemonSet' && o.metadata.name === daemonSet);
  const source = ds?.spec?.template.spec.volumes.find((v) => v.configMap)?.configMap;
  if (!source) throw new Error(`no DaemonSet ${daemonSet} with a ConfigMap volume in the manifest`);
  const data = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === source.name)?.data;
  if (!data) throw new Error(`no ConfigMap ${source.name} in the manifest`);
  const defaultMode = source.defaultMode ?? 0o644;
  const items = source.items ?? Object.keys(data).map((key) => ({ key, path: key, mode: undefined }));
  return new Map(items.map((i) => {
    if (data[i.key] === undefined) throw new Error(`item ${i.key} is no key of ConfigMap ${source.name}`);
    return [i.path, { content: data[i.key], mode: i.mode ?? defaultMode }];
  }));
}
