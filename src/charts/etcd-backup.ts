import { posix } from 'node:path';
import { Chart, Cron, type CronOptions, Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import type { Construct } from 'constructs';
import { BACKUP_SCRIPT } from '../render/backup-script';
import { longestIntervalSeconds } from '../cluster-file/cron';
import type { ResolvedBackupTarget, ResolvedCluster } from '../cluster-file/resolve';
import { commonLabels, CONTROL_PLANE_SELECTOR, dropAllCapabilities, HOST_READER_SECURITY, serverTaintKeys } from './common';
import { BACKUP_NAMES, JOB_DEADLINES, SYSTEM_NAMESPACE } from '../names';
import { clusterImage, IMAGES } from '../images';


/** A copy may take this long before the Job is failed. */
const ACTIVE_DEADLINE = Duration.seconds(JOB_DEADLINES.backupSeconds);

/** The S3 endpoint as a URL the AWS CLI takes. */
function endpointUrl(endpoint: string): string {
  return /^https?:\/\//.test(endpoint) ? endpoint : `https://${endpoint}`;
}

/**
 * One CronJob per backup target, copying K3s's local snapshots off the node. Each runs
 * on a server (snapshots live there), reads the snapshot directory read-only, and fails
 * when the copy fails or the newest snapshot is older than twice the snapshot interval.
 */
export class EtcdBackupChart extends Chart {
  constructor(scope: Construct, id: string, c: ResolvedCluster) {
    super(scope, id, { disableResourceNameHashes: true, namespace: SYSTEM_NAMESPACE });
    const labels = commonLabels(c.name, 'etcd-backup');
    const script = new kplus.ConfigMap(this, 'script', { metadata: { name: BACKUP_NAMES.configMap, labels }, data: { 'etcd-backup.sh': BACKUP_SCRIPT } });
    const serviceAccount = new kplus.ServiceAccount(this, 'sa', { metadata: { name: BACKUP_NAMES.serviceAccount, labels }, automountToken: false });
    const maxAge = 2 * longestIntervalSeconds(c.snapshots.schedule);
    for (const target of c.backup?.targets ?? []) this.addTarget(c, target, { labels, script, serviceAccount, maxAge, tolerated: serverTaintKeys(c) });
  }

  private addTarget(c: ResolvedCluster, target: ResolvedBackupTarget, shared: {
    labels: Record<string, string>; script: kplus.ConfigMap; serviceAccount: kplus.ServiceAccount; maxAge: number; tolerated: string[];
  }): void {
    const id = `target-${target.name}`;
    const cron = new kplus.CronJob(this, id, {
      metadata: { name: BACKUP_NAMES.cronJob(target.name), labels: { ...shared.labels, 'k3s-gitops.dev/backup-target': target.name } },
      podMetadata: { labels: { ...shared.labels, 'k3s-gitops.dev/backup-target': target.name } },
      schedule: Cron.schedule(cronFields(c.backup?.schedule ?? '')),
      // K3s snapshots on each server's local clock; the user names the zone that matches.
      timeZone: c.backup?.timeZone,
      concurrencyPolicy: kplus.ConcurrencyPolicy.FORBID,
      startingDeadline: Duration.minutes(10),
      successfulJobsRetained: 3,
      failedJobsRetained: 3,
      activeDeadline: ACTIVE_DEADLINE,
      backoffLimit: 1,
      serviceAccount: shared.serviceAccount,
      automountServiceAccountToken: false,
      restartPolicy: kplus.RestartPolicy.NEVER,
      securityContext: { ensureNonRoot: false },
    });
    for (const [key, value] of Object.entries(CONTROL_PLANE_SELECTOR)) cron.scheduling.attract(kplus.Node.labeled(kplus.NodeLabelQuery.is(key, value)));
    for (const key of shared.tolerated) cron.scheduling.tolerate(kplus.Node.tainted(kplus.NodeTaintQuery.exists(key)));

    // A server that has not taken its first snapshot has no folder yet; the copy then
    // finds nothing and fails as stale, which says more than a pod stuck on a mount.
    const snapshots = kplus.Volume.fromHostPath(this, `${id}-snapshots`, 'snapshots', { path: c.snapshots.dir, type: kplus.HostPathVolumeType.DIRECTORY_OR_CREATE });
    const scriptVolume = kplus.Volume.fromConfigMap(this, `${id}-script`, shared.script, { name: 'script' });
    const env: Record<string, kplus.EnvValue> = {
      SNAPSHOT_DIR: kplus.EnvValue.fromValue('/snapshots'),
      SNAPSHOT_PREFIX: kplus.EnvValue.fromValue(c.snapshots.name),
      RETENTION: kplus.EnvValue.fromValue(String(c.snapshots.retention)),
      MAX_AGE_SECONDS: kplus.EnvValue.fromValue(String(shared.maxAge)),
    };
    const mounts: kplus.VolumeMount[] = [
      { path: '/snapshots', volume: snapshots, readOnly: true },
      { path: '/scripts', volume: scriptVolume, readOnly: true },
    ];
    let image: string;
    if (target.nfs) {
      image = clusterImage(c, IMAGES.busybox);
      const nfs = kplus.Volume.fromNfs(this, `${id}-nfs`, 'target', { server: target.nfs.server, path: target.nfs.path });
      mounts.push({ path: '/target', volume: nfs });
      // The export is shared by clusters; this one's copies live in its own folder.
      Object.assign(env, {
        TARGET_KIND: kplus.EnvValue.fromValue('dir'),
        TARGET_DIR: kplus.EnvValue.fromValue(posix.join('/target', target.nfs.folder)),
        FLAT_DIR: kplus.EnvValue.fromValue('/target'),
      });
    } else {
      const s3 = target.s3 as NonNullable<ResolvedBackupTarget['s3']>;
      image = clusterImage(c, IMAGES.awsCli);
      const secret = kplus.Secret.fromSecretName(this, `${id}-credentials`, s3.credentialsSecret);
      const tmp = kplus.Volume.fromEmptyDir(this, `${id}-tmp`, 'tmp', { sizeLimit: Size.mebibytes(64) });
      mounts.push({ path: '/tmp', volume: tmp });
      Object.assign(env, {
        TARGET_KIND: kplus.EnvValue.fromValue('s3'),
        S3_URL: kplus.EnvValue.fromValue(`s3://${s3.bucket}/${s3.folder}`),
        S3_ENDPOINT_URL: kplus.EnvValue.fromValue(endpointUrl(s3.endpoint)),
        AWS_DEFAULT_REGION: kplus.EnvValue.fromValue(s3.region),
        AWS_ACCESS_KEY_ID: kplus.EnvValue.fromSecretValue({ secret, key: 'AWS_ACCESS_KEY_ID' }),
        AWS_SECRET_ACCESS_KEY: kplus.EnvValue.fromSecretValue({ secret, key: 'AWS_SECRET_ACCESS_KEY' }),
        // The AWS CLI writes its cache under HOME; the root filesystem is read-only.
        HOME: kplus.EnvValue.fromValue('/tmp'),
      });
    }
    cron.addContainer({
      name: 'copy',
      image,
      imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
      command: ['/bin/sh', '/scripts/etcd-backup.sh'],
      envVariables: env,
      volumeMounts: mounts,
      // Root only to read K3s's root-owned 0600 snapshots; no capability at all.
      securityContext: HOST_READER_SECURITY,
      resources: {
        cpu: { request: kplus.Cpu.millis(50), limit: kplus.Cpu.millis(500) },
        memory: { request: Size.mebibytes(64), limit: Size.mebibytes(256) },
      },
    });
    dropAllCapabilities(cron);
  }
}

/** kplus.Cron takes the five fields by name. */
function cronFields(schedule: string): CronOptions {
  const [minute, hour, day, month, weekDay] = schedule.trim().split(/\s+/);
  return { minute, hour, day, month, weekDay };
}
