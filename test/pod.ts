/**
 * Runs a CronJob's container for real: its own command and env, in busybox, with each
 * of its volumeMounts laid out in a temporary "pod root" the way the kubelet would
 * present it. Tests of the backup job use it, so the script they run is the one the
 * ConfigMap ships and the paths it sees are the ones the CronJob gives it.
 *
 * How a run differs from the pod on a server:
 * - busybox-static from the host (Debian's 1.35) runs the command, not the pinned
 *   busybox:1.36.1 image; PATH holds only busybox's applets, as the image's /bin does;
 * - each mountPath is a symlink under the pod root, not a bind mount, and every path in
 *   the command and env that lies under a mountPath is prefixed with the pod root (the
 *   script takes every path from its env, so nothing else needs it);
 * - an `nfs` volume is a local directory standing for the export, shared by every run
 *   given the same one, as one NAS export is shared by the clusters mounting it;
 * - `readOnly` is not enforced (the tests run as root); callers compare what they
 *   mounted read-only before and after instead;
 * - Secret-sourced env vars are left out (no S3 here).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './helpers';
import { writeConfigMapVolume } from './kubelet-volume';

/** What a run's volumes stand on: host paths and NFS exports, each a local directory. */
export interface PodDisks {
  /** hostPath volume path -> the directory standing for it on "the node". */
  readonly hostPaths: Readonly<Record<string, string>>;
  /** `server:path` of an nfs volume -> the directory standing for the export. */
  readonly nfsExports: Readonly<Record<string, string>>;
}

export interface PodRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A directory with one symlink per busybox applet: the PATH of a busybox image. */
export function busyboxBin(): string {
  const bin = tempDir('busybox-bin-');
  const busybox = spawnSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).stdout.trim();
  if (!busybox) throw new Error('busybox is not installed; apt-get install busybox-static');
  for (const applet of spawnSync(busybox, ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean)) {
    fs.symlinkSync(busybox, path.join(bin, applet));
  }
  return bin;
}

/** The container spec of a CronJob's pod, and the pod spec around it. */
function podOf(cronJob: any): { pod: any; container: any } {
  const pod = cronJob.spec.jobTemplate.spec.template.spec;
  return { pod, container: pod.containers[0] };
}

/**
 * Runs `cronJob`'s first container once. `objects` are the cluster's manifests (for
 * ConfigMap volumes), `disks` what its hostPath and nfs volumes stand on.
 */
export function runCronJob(cronJob: any, objects: readonly any[], disks: PodDisks, bin = busyboxBin()): PodRun {
  const { pod, container } = podOf(cronJob);
  const root = tempDir('pod-');
  const mountPaths: string[] = [];
  for (const mount of container.volumeMounts ?? []) {
    const volume = pod.volumes.find((v: { name: string }) => v.name === mount.name);
    let source: string;
    if (volume.hostPath) {
      source = disks.hostPaths[volume.hostPath.path];
      if (!source) throw new Error(`no directory given for hostPath ${volume.hostPath.path}`);
    } else if (volume.nfs) {
      source = disks.nfsExports[`${volume.nfs.server}:${volume.nfs.path}`];
      if (!source) throw new Error(`no directory given for the NFS export ${volume.nfs.server}:${volume.nfs.path}`);
    } else if (volume.configMap) {
      const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === volume.configMap.name);
      source = path.join(tempDir('configmap-'), 'volume');
      writeConfigMapVolume(source, new Map(Object.entries(cm.data as Record<string, string>).map(([k, v]) => [k, { content: v, mode: 0o644 }])));
    } else if (volume.emptyDir) {
      source = tempDir('emptydir-');
    } else {
      throw new Error(`volume ${mount.name}: only hostPath, nfs, configMap and emptyDir are laid out`);
    }
    if (mount.subPath) source = path.join(source, mount.subPath);
    const at = path.join(root, mount.mountPath);
    fs.mkdirSync(path.dirname(at), { recursive: true });
    fs.symlinkSync(source, at);
    mountPaths.push(mount.mountPath);
  }
  const reroot = (value: string) => (mountPaths.some((m) => value === m || value.startsWith(`${m}/`)) ? path.join(root, value) : value);
  const env: Record<string, string> = { PATH: bin };
  for (const e of container.env ?? []) if (e.value !== undefined) env[e.name] = reroot(e.value);
  const [command, ...args] = container.command as string[];
  if (command !== '/bin/sh') throw new Error(`the container runs ${command}; only /bin/sh commands are run here`);
  const r = spawnSync(path.join(bin, 'sh'), args.map(reroot), { encoding: 'utf8', env, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
