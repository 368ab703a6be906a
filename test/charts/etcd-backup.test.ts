import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { analyzeSpec } from '../../src/compile';
import { IMAGES } from '../../src/images';
import { BACKUP_NAMES } from '../../src/names';
import { BACKUP_SCRIPT } from '../../src/render/backup-script';
import { longestIntervalSeconds } from '../../src/cluster-file/cron';
import { BAD, GOOD, goodFixtures, loadCluster, manifestObjects, runCli, tempDir, treeOf } from '../helpers';
import { busyboxBin, runCronJob } from '../pod';
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
    // The cluster's folder is made when missing; a target where it cannot be is a failure.
    const t = setup([HOUR]);
    fs.rmSync(t.target, { recursive: true });
    fs.writeFileSync(t.target, 'not a directory');
    const r = t.run();
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`cannot create ${t.target} on the target`);
  });
});

describe('two clusters on one NFS export: each job run for real in busybox, with its CronJob\'s env and mounts', () => {
  const HOUR = 3600;
  const ha = path.join(GOOD, 'ha.yaml');
  /** ha.yaml renamed; both keep 3 copies, both on 10.0.0.50:/exports/k3s-snapshots, both with a server master-1. */
  const named = (name: string) => loadCluster(ha, (t) => t.replace('name: example', `name: ${name}`).replace('folder: example', `folder: ${name}`).replace('retention: 7', 'retention: 3'));
  const bin = busyboxBin();

  /** One server of a cluster: its snapshot folder with snapshots of these ages, and its backup job. */
  function server(name: string, now: number, ages: number[]) {
    const c = named(name);
    const dir = tempDir(`${name}-snapshots-`);
    const names = ages.map((age) => {
      const file = path.join(dir, `etcd-snapshot-master-1-${now - age}`);
      fs.writeFileSync(file, `${name} at ${now - age}`);
      fs.utimesSync(file, now - age, now - age);
      return path.basename(file);
    });
    const objects = manifestObjects(treeOf(c));
    const job = objects.find((o) => o.kind === 'CronJob' && o.metadata.name === 'etcd-backup-nas');
    return { c, dir, names, run: (nas: string) => runCronJob(job, objects, { hostPaths: { [c.snapshots.dir]: dir }, nfsExports: { '10.0.0.50:/exports/k3s-snapshots': nas } }, bin) };
  }

  test('neither deletes the other\'s copies: each keeps its own in its folder, and copies from before the folders stay', () => {
    const now = Math.floor(Date.now() / 1000);
    const nas = tempDir('nas-export-');
    // A copy from before per-cluster folders: nothing in its name says whose it is.
    const flat = `etcd-snapshot-master-1-${now - 90 * 24 * HOUR}`;
    fs.writeFileSync(path.join(nas, flat), 'from before');
    const prod = server('prod', now, [5 * HOUR, 4 * HOUR, 3 * HOUR]);
    const staging = server('staging', now, [2.5 * HOUR, 1.5 * HOUR, 0.5 * HOUR]);
    const before = fs.readdirSync(prod.dir).map((f) => fs.readFileSync(path.join(prod.dir, f), 'utf8'));

    const runs = [prod.run(nas), staging.run(nas), prod.run(nas)];
    for (const r of runs) expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(fs.readdirSync(path.join(nas, 'prod')).sort()).toEqual([...prod.names].sort());
    expect(fs.readdirSync(path.join(nas, 'staging')).sort()).toEqual([...staging.names].sort());
    for (const n of prod.names) expect(fs.readFileSync(path.join(nas, 'prod', n), 'utf8')).toBe(fs.readFileSync(path.join(prod.dir, n), 'utf8'));
    expect(runs.map((r) => r.stdout).join('')).not.toMatch(/pruned etcd-snapshot/);
    // The old flat copy is nobody's to prune: it stays, and the job says so.
    expect(fs.readFileSync(path.join(nas, flat), 'utf8')).toBe('from before');
    expect(runs[0].stdout).toContain('1 copy in the export\'s root from before per-cluster folders');
    expect(fs.readdirSync(prod.dir).map((f) => fs.readFileSync(path.join(prod.dir, f), 'utf8'))).toEqual(before);
  });

  test('a cluster prunes its own folder to its retention, and nothing of the other\'s', () => {
    const now = Math.floor(Date.now() / 1000);
    const nas = tempDir('nas-export-');
    const staging = server('staging', now, [9 * HOUR, 8 * HOUR, 7 * HOUR]);
    expect(staging.run(nas).status).toBe(0);
    const prod = server('prod', now, [6 * HOUR, 5 * HOUR, 4 * HOUR, 3 * HOUR, 2 * HOUR]);
    const r = prod.run(nas);
    expect(r.status).toBe(0);
    expect(fs.readdirSync(path.join(nas, 'prod')).sort()).toEqual(prod.names.slice(2).sort());
    expect(fs.readdirSync(path.join(nas, 'staging')).sort()).toEqual([...staging.names].sort());
  });
  test('RUNBOOK\'s commands move this cluster\'s copies from before the folders into its folder, and only those', () => {
    const now = Math.floor(Date.now() / 1000);
    const nas = tempDir('nas-export-');
    const ours = [50, 40, 30, 20].map((d) => `etcd-snapshot-master-${1 + (d % 3)}-${now - d * 24 * HOUR}`);
    const theirs = [`etcd-snapshot-worker-9-${now}`, `etcd-snapshot-master-1-extra-${now}`, `etcd-snapshot-master-1-${now}.part`, 'notes.txt'];
    for (const f of [...ours, ...theirs]) fs.writeFileSync(path.join(nas, f), f);
    const prod = server('prod', now, [3 * HOUR, 2 * HOUR, HOUR]);
    const md = treeOf(prod.c).get('RUNBOOK.md') as string;
    const block = /### Copies from before per-cluster folders \(nas\)\n[\s\S]*?```sh\n([\s\S]*?)```/.exec(md)?.[1] as string;
    expect(block).toContain('mount -t nfs 10.0.0.50:/exports/k3s-snapshots /mnt/k3s-gitops-nas');
    // Run as on the server: its /bin/sh and tools, the export "mounted" where the commands
    // expect it, mount and umount stand-ins first on PATH.
    const host = tempDir('host-');
    fs.symlinkSync(nas, path.join(host, 'nas'));
    const standins = tempDir('standins-');
    for (const cmd of ['mount', 'umount']) fs.writeFileSync(path.join(standins, cmd), `#!/bin/sh\necho "${cmd} $*" >> ${host}/calls\n`, { mode: 0o755 });
    const r = spawnSync('/bin/sh', ['-eu', '-c', block.replaceAll('/mnt/k3s-gitops-nas', path.join(host, 'nas'))], { encoding: 'utf8', env: { PATH: `${standins}:/usr/sbin:/usr/bin:/sbin:/bin` } });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    expect(fs.readFileSync(path.join(host, 'calls'), 'utf8')).toBe(`mount -t nfs 10.0.0.50:/exports/k3s-snapshots ${host}/nas\numount ${host}/nas\n`);
    expect(fs.readdirSync(path.join(nas, 'prod')).sort()).toEqual([...ours].sort());
    for (const f of theirs) expect(fs.readFileSync(path.join(nas, f), 'utf8')).toBe(f);
    // From there the job keeps them to its retention like its own.
    expect(prod.run(nas).status).toBe(0);
    expect(fs.readdirSync(path.join(nas, 'prod')).sort()).toEqual([...prod.names].sort());
  });
});

describe('BACKUP_TARGET_SHARED: two clusters of one run whose copies would land in one place', () => {
  const shared = path.join(BAD, 'backup-target-shared');
  const prodText = fs.readFileSync(path.join(shared, 'prod.yaml'), 'utf8');
  /** prod.yaml as staging: its own name and server, the same NAS export (its own folder there). */
  const stagingText = prodText.replace('name: prod', 'name: staging').replace('10.1.0.11', '10.2.0.11');
  /** prod.yaml with an S3 target beside its NFS one: bucket k3s, folder prod (its default). */
  const prodWithS3 = prodText.replace(/(- \{ name: nas[^\n]*\n)/, '$1      - { name: dr, s3: { endpoint: s3.example.internal, bucket: k3s, credentialsSecret: dr-s3 } }\n');
  /** Validates two cluster files as one run, in a repository of their own. */
  function validate(prod: string, staging: string) {
    const dir = tempDir('shared-');
    fs.writeFileSync(path.join(dir, 'package.json'), '{}'); // the repository root names the files
    fs.mkdirSync(path.join(dir, 'clusters'));
    fs.writeFileSync(path.join(dir, 'clusters', 'prod.yaml'), prod);
    fs.writeFileSync(path.join(dir, 'clusters', 'staging.yaml'), staging);
    return runCli(['validate', 'clusters/prod.yaml', 'clusters/staging.yaml'], { cwd: dir });
  }
  const errors = (stderr: string) => stderr.split('\n').filter((l) => / error /.test(l));

  test('fails: an NFS folder that is another cluster\'s, at its file, line, column and pointer, naming the other', () => {
    const r = runCli(['validate', path.join(shared, 'prod.yaml'), path.join(shared, 'staging.yaml')]);
    expect(r.status).toBe(1);
    const [line, ...more] = errors(r.stderr);
    expect(more).toEqual([]);
    expect(line).toMatch(/^test\/fixtures\/bad\/backup-target-shared\/staging\.yaml:19:\d+ \/spec\/backup\/targets\/0\/nfs error BACKUP_TARGET_SHARED: /);
    expect(line).toContain('NFS 10.0.0.50:/exports/k3s/prod');
    expect(line).toContain('cluster "prod" (test/fixtures/bad/backup-target-shared/prod.yaml /spec/backup/targets/0/nfs)');
    // Each file alone is valid: the clash exists only between the two.
    for (const f of ['prod.yaml', 'staging.yaml']) expect(runCli(['validate', path.join(shared, f)]).status).toBe(0);
  });

  test('one export or one bucket for both, each cluster in its own folder, is fine', () => {
    const r = validate(prodWithS3, stagingText.replace(/(- \{ name: nas[^\n]*\n)/, '$1      - { name: dr, s3: { endpoint: s3.example.internal, bucket: k3s, credentialsSecret: dr-s3 } }\n'));
    expect(errors(r.stderr)).toEqual([]);
    expect(r.status).toBe(0);
  });

  test.each([
    ['an NFS path and folder that name the same directory', stagingText.replace('{ server: 10.0.0.50, path: /exports/k3s }', '{ server: 10.0.0.50, path: /exports/, folder: k3s/prod }'), '/spec/backup/targets/0/nfs'],
    ['an S3 target in another cluster\'s bucket folder', stagingText.replace(/(- \{ name: nas[^\n]*\n)/, '$1      - { name: dr, s3: { endpoint: s3.example.internal, bucket: k3s, folder: /prod/, credentialsSecret: dr-s3 } }\n'), '/spec/backup/targets/1/s3'],
    ['K3s\'s own upload into another cluster\'s bucket folder', stagingText.replace('  backup:', '  etcd:\n    s3: { endpoint: s3.example.internal, bucket: k3s, folder: prod }\n  backup:'), '/spec/etcd/s3'],
  ])('fails: %s', (_what, staging, ptr) => {
    const r = validate(prodWithS3, staging);
    expect(r.status).toBe(1);
    expect(errors(r.stderr)).toEqual([expect.stringMatching(new RegExp(`^clusters/staging\\.yaml:\\d+:\\d+ ${ptr} error BACKUP_TARGET_SHARED: .*cluster "prod" \\(clusters/prod\\.yaml `))]);
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

  test('NFS targets mount the export; the copies go to the cluster\'s folder in it, by default its name', () => {
    const env = (job: any) => Object.fromEntries(job.spec.jobTemplate.spec.template.spec.containers[0].env.map((e: { name: string; value: string }) => [e.name, e.value]));
    const job = cronJobs(example)[0];
    const nfs = job.spec.jobTemplate.spec.template.spec.volumes.find((v: { nfs?: unknown }) => v.nfs);
    expect(nfs.nfs).toEqual({ server: '10.0.0.50', path: '/exports/k3s-snapshots' });
    expect(env(job)).toMatchObject({ TARGET_KIND: 'dir', TARGET_DIR: '/target/example', FLAT_DIR: '/target' });
    const custom = loadCluster(path.join(GOOD, 'ha.yaml'), (t) => t.replace('path: /exports/k3s-snapshots }', 'path: /exports/k3s-snapshots, folder: site-a/example }'));
    expect(env(cronJobs(custom)[0]).TARGET_DIR).toBe('/target/site-a/example');
  });

  test.each(['..', 'a/../..', '/abs', 'a//b', '.hidden'])('fails: NFS folder %j could leave the export', (folder) => {
    const text = fs.readFileSync(path.join(GOOD, 'ha.yaml'), 'utf8').replace('path: /exports/k3s-snapshots }', `path: /exports/k3s-snapshots, folder: "${folder}" }`);
    const d = analyzeSpec('x.yaml', text).diagnostics.filter((x) => x.severity === 'error');
    expect(d).toEqual([expect.objectContaining({ code: 'BAD_FORMAT', pointer: '/spec/backup/targets/0/nfs/folder' })]);
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
