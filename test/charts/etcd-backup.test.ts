import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { IMAGES } from '../../src/images';
import { BACKUP_NAMES } from '../../src/names';
import { BACKUP_SCRIPT } from '../../src/render/backup-script';
import { longestIntervalSeconds } from '../../src/spec/cron';
import { GOOD, goodFixtures, loadCluster, manifestObjects, tempDir, treeOf } from '../helpers';
import { kubernetesSchemaFailures, shellcheckFailures } from '../tools';

const example = loadCluster(path.join(GOOD, 'ha.yaml'));
const enterprise = loadCluster(path.join(GOOD, 'enterprise.yaml'));
const cronJobs = (c: typeof example) => manifestObjects(treeOf(c)).filter((o) => o.kind === 'CronJob' && o.metadata.labels['app.kubernetes.io/component'] === 'etcd-backup');

describe('the backup script, run for real', () => {
  const HOUR = 3600;
  function setup(ages: number[], retention = 3, maxAge = 12 * HOUR) {
    const root = tempDir('backup-');
    const snapshots = path.join(root, 'snapshots');
    const target = path.join(root, 'target');
    fs.mkdirSync(snapshots);
    fs.mkdirSync(target);
    const script = path.join(root, 'etcd-backup.sh');
    fs.writeFileSync(script, BACKUP_SCRIPT);
    const now = Math.floor(Date.now() / 1000);
    const names = ages.map((age) => {
      const t = now - age;
      const name = `etcd-snapshot-master-1-${t}`;
      fs.writeFileSync(path.join(snapshots, name), `snapshot taken at ${t}`);
      fs.utimesSync(path.join(snapshots, name), t, t);
      return name;
    });
    const run = () => spawnSync('sh', [script], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, SNAPSHOT_DIR: snapshots, SNAPSHOT_PREFIX: 'etcd-snapshot', RETENTION: String(retention), MAX_AGE_SECONDS: String(maxAge), TARGET_KIND: 'dir', TARGET_DIR: target },
    });
    return { snapshots, target, names, now, run, list: () => fs.readdirSync(target).sort() };
  }

  test('copies new snapshots to the target', () => {
    const t = setup([3 * HOUR, 2 * HOUR, HOUR]);
    const r = t.run();
    expect(r.status).toBe(0);
    expect(t.list()).toEqual([...t.names].sort());
    for (const n of t.names) expect(fs.readFileSync(path.join(t.target, n), 'utf8')).toBe(fs.readFileSync(path.join(t.snapshots, n), 'utf8'));
    expect(r.stdout).toContain('ok: 3 new');
  });

  test('does not copy a snapshot the target already has', () => {
    const t = setup([2 * HOUR, HOUR]);
    expect(t.run().status).toBe(0);
    const marker = path.join(t.target, t.names[0]);
    fs.writeFileSync(marker, 'already there');
    const again = t.run();
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('ok: 0 new');
    expect(fs.readFileSync(marker, 'utf8')).toBe('already there');
  });

  test('keeps the target to the retention, pruning the oldest', () => {
    const t = setup([5 * HOUR, 4 * HOUR, 3 * HOUR], 3);
    expect(t.run().status).toBe(0);
    // Two new snapshots arrive; the two oldest copies go. One clock for the whole test.
    const { now } = t;
    for (const age of [2 * HOUR, HOUR]) {
      const name = `etcd-snapshot-master-1-${now - age}`;
      fs.writeFileSync(path.join(t.snapshots, name), 'x');
      fs.utimesSync(path.join(t.snapshots, name), now - age, now - age);
    }
    const r = t.run();
    expect(r.status).toBe(0);
    expect(t.list()).toEqual([`etcd-snapshot-master-1-${now - 3 * HOUR}`, `etcd-snapshot-master-1-${now - 2 * HOUR}`, `etcd-snapshot-master-1-${now - HOUR}`].sort());
    expect(r.stdout).toContain(`pruned ${t.names[0]}`);
  });

  test('fails: a stale newest snapshot fails the run, after copying what there is', () => {
    const t = setup([30 * HOUR, 25 * HOUR], 3, 12 * HOUR);
    const r = t.run();
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ERROR: newest snapshot etcd-snapshot-master-1-\d+ is \d+s old, more than 43200s \(twice the snapshot interval\): K3s snapshots have stopped/);
    expect(t.list()).toHaveLength(2);
  });

  test('fails: no snapshot at all, or a target that cannot be written', () => {
    const empty = setup([]);
    expect(empty.run().status).toBe(1);
    expect(empty.run().stderr).toContain('no etcd-snapshot-* snapshot');
    const t = setup([HOUR]);
    fs.rmSync(t.target, { recursive: true });
    const r = t.run();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('copying');
  });
});

describe('the backup CronJobs', () => {
  test('one per target, validating against the Kubernetes schemas', () => {
    expect(cronJobs(example).map((j) => j.metadata.name)).toEqual(['etcd-backup-nas']);
    expect(cronJobs(enterprise).map((j) => j.metadata.name).sort()).toEqual(['etcd-backup-dr-bucket', 'etcd-backup-nas']);
    for (const c of goodFixtures().map((f) => loadCluster(f))) expect(kubernetesSchemaFailures(manifestObjects(treeOf(c)))).toEqual([]);
  });

  test.each(cronJobs(enterprise).map((j) => [j.metadata.name, j]))('%s: on a server, read-only snapshots, bounded, least privilege', (_name, job) => {
    expect(job.spec.concurrencyPolicy).toBe('Forbid');
    expect(job.spec.successfulJobsHistoryLimit).toBeLessThanOrEqual(3);
    expect(job.spec.failedJobsHistoryLimit).toBeLessThanOrEqual(3);
    expect(job.spec.schedule).toBe('20 */4 * * *');
    const jobSpec = job.spec.jobTemplate.spec;
    expect(jobSpec.activeDeadlineSeconds).toBeGreaterThan(0);
    const pod = jobSpec.template.spec;
    expect(JSON.stringify(pod.affinity)).toContain('node-role.kubernetes.io/control-plane');
    expect(pod.tolerations.map((t: { key: string }) => t.key)).toEqual(expect.arrayContaining(['CriticalAddonsOnly', 'node-role.kubernetes.io/control-plane']));
    const snapshots = pod.volumes.find((v: { name: string }) => v.name === 'snapshots');
    expect(snapshots.hostPath).toEqual({ path: '/var/lib/rancher/k3s/server/db/snapshots', type: 'DirectoryOrCreate' });
    const container = pod.containers[0];
    expect(container.volumeMounts.find((m: { name: string }) => m.name === 'snapshots').readOnly).toBe(true);
    expect(container.securityContext).toMatchObject({ privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect([IMAGES.busybox, IMAGES.awsCli]).toContain(container.image);
    expect(container.image).toMatch(/:[0-9][^:]*$/);
    expect(pod.automountServiceAccountToken).toBe(false);
    const env = Object.fromEntries(container.env.map((e: { name: string; value?: string }) => [e.name, e]));
    expect(env.RETENTION.value).toBe('12');
    expect(env.MAX_AGE_SECONDS.value).toBe(String(2 * 4 * 3600)); // twice the 4-hour snapshot interval
  });

  test('S3 credentials come from the named Secret, never inline', () => {
    const job = cronJobs(enterprise).find((j) => j.metadata.name === BACKUP_NAMES.cronJob('dr-bucket'));
    const env = job.spec.jobTemplate.spec.template.spec.containers[0].env;
    const byName = Object.fromEntries(env.map((e: { name: string }) => [e.name, e]));
    expect(byName.AWS_ACCESS_KEY_ID).toEqual({ name: 'AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: 'dr-s3', key: 'AWS_ACCESS_KEY_ID' } } });
    expect(byName.AWS_SECRET_ACCESS_KEY.valueFrom.secretKeyRef.name).toBe('dr-s3');
    expect(byName.S3_URL.value).toBe('s3://acme-k3s-dr/enterprise');
  });

  test('NFS targets mount the export', () => {
    const job = cronJobs(example)[0];
    const nfs = job.spec.jobTemplate.spec.template.spec.volumes.find((v: { nfs?: unknown }) => v.nfs);
    expect(nfs.nfs).toEqual({ server: '10.0.0.50', path: '/exports/k3s-snapshots' });
  });

  test('the interval behind the staleness check is the schedule\'s longest gap', () => {
    expect(longestIntervalSeconds('0 */6 * * *')).toBe(6 * 3600);
    expect(longestIntervalSeconds('0 0 * * 1')).toBe(7 * 24 * 3600);
    expect(longestIntervalSeconds('0 1,23 * * *')).toBe(22 * 3600);
    expect(longestIntervalSeconds('0 0 31 * *')).toBe(61 * 24 * 3600); // Jul 31 to Aug 31 is short; Aug 31 to Oct 31 is not
  });

  test('shellcheck passes on every script in the manifests', async () => {
    const scripts = new Map<string, string>();
    for (const c of [example, enterprise]) {
      for (const o of manifestObjects(treeOf(c))) {
        for (const [key, value] of Object.entries(o.data ?? {})) if (key.endsWith('.sh')) scripts.set(`${c.name}/${o.metadata.name}/${key}`, value as string);
        const pod = o.spec?.template?.spec ?? o.spec?.jobTemplate?.spec?.template?.spec;
        for (const container of pod?.containers ?? []) {
          const cmd: string[] = container.command ?? [];
          if (cmd[0] === '/bin/sh' && cmd[1] === '-c') scripts.set(`${c.name}/${o.metadata.name}/${container.name}`, cmd[2]);
        }
      }
    }
    expect([...scripts.keys()].some((k) => k.endsWith('etcd-backup.sh'))).toBe(true);
    expect(await shellcheckFailures(scripts)).toEqual([]);
  });
});
