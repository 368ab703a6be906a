import { CONFIG_PATH } from '../k3s/facts';
import { foundsCluster, joinUrl, nfsCopyDir, nodeTokenFile, type ResolvedBackupTarget, type ResolvedCluster, type ResolvedNode } from '../cluster-file/resolve';
import { FETCH_SNAPSHOT_PATH, FETCH_SNAPSHOT_SCRIPT, RESTORE_DIR, RUNCMD_SCRIPT } from './fetch-snapshot-script';
import { k3sConfig, renderK3sConfig } from './k3s-config';
import { FILL_REGISTRIES_SCRIPT, REGISTRIES_PATH, renderRegistries } from './registries';
import { generatedBy, toYaml, yamlFile } from './text';

/** Where an airgapped machine keeps the install script (the binary goes to /usr/local/bin/k3s). */
export const AIRGAP_INSTALL_SCRIPT = '/usr/local/bin/k3s-install.sh';
const INSTALL_SCRIPT = '/var/tmp/k3s-install.sh';
const RESTORE_CONFIG = '/etc/rancher/k3s/restore-config.yaml';
/** The committed registries.yaml, credentials as references, and what fills them in. */
const COMMITTED_REGISTRIES = '/var/lib/k3s-gitops/registries.yaml';
const FILL_REGISTRIES = '/var/lib/k3s-gitops/fill-registries.sh';
/** Where K3s imports air-gap image tarballs from at start (docs/installation/airgap.md). */
export const AIRGAP_IMAGES_DIR = '/var/lib/rancher/k3s/agent/images';

/**
 * Kernel settings the K3s CIS hardening guide requires when `protect-kernel-defaults`
 * is on: the kubelet refuses to start if they differ.
 */
export const PROTECT_KERNEL_DEFAULTS_SYSCTLS: Readonly<Record<string, string>> = {
  'vm.panic_on_oom': '0',
  'vm.overcommit_memory': '1',
  'kernel.panic': '10',
  'kernel.panic_on_oops': '1',
};

/**
 * A restore from an etcd snapshot: a path on the machine, a snapshot name in K3s's own
 * S3 upload (etcd.s3), or a snapshot name on one of the cluster's backup targets.
 */
export interface RestorePlan {
  readonly snapshot: string;
  /** The backup target the snapshot is on, by name. @default - the machine (an absolute path) or etcd.s3 (a name) */
  readonly from?: string;
  /** For S3 snapshots: K3s cannot read the config Secret during a restore, so the keys come along. */
  readonly s3Credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

/** `seed --restore`'s arguments checked against the cluster: a plan, or the usage problem; and a note for stderr. */
export type PlannedRestore = { readonly plan: RestorePlan; readonly note?: string } | { readonly plan?: undefined; readonly problem: string };

/**
 * What `seed --restore` restores from: a path on the machine, a name in K3s's etcd.s3
 * upload, or with --restore-from a name on a backup target (an NFS folder the
 * user-data fetches from, or an S3 folder K3s downloads from). S3 needs the keys from
 * the environment: K3s cannot read the config Secret during a restore.
 */
export function planRestore(
  c: ResolvedCluster, node: ResolvedNode, args: { readonly snapshot?: string; readonly from?: string }, env: Readonly<Record<string, string | undefined>>,
): PlannedRestore {
  const { snapshot, from } = args;
  if (snapshot === undefined) return { problem: '--restore-from names where the --restore snapshot is; give --restore too' };
  if (node.role !== 'server') return { problem: `--restore rebuilds a server from an etcd snapshot; ${node.name} is an agent` };
  // It is written into the user-data's comments and commands: one line, nothing that could end either.
  if (snapshot === '' || /[\x00-\x1f\x7f]/.test(snapshot)) return { problem: '--restore takes a path or a snapshot name, one line without control characters' };
  const targets = c.backup?.targets ?? [];
  const names = targets.map((t) => t.name).join('|');
  const keys = env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY ? { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY } : undefined;
  const noKeys = 'restoring from S3 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment: K3s cannot read the config Secret during a restore';
  if (from !== undefined) {
    const target = targets.find((t) => t.name === from);
    if (!target) return { problem: `--restore-from ${from}: ${c.source} has no backup target "${from}"; targets: ${names || 'none'}` };
    if (!isSnapshotFileName(snapshot)) return { problem: `with --restore-from, --restore takes the snapshot's file name in the target's folder (such as ${c.snapshots.name}-${node.name}-1760000000); found "${snapshot}"` };
    if (target.s3) return keys ? { plan: { snapshot, from, s3Credentials: keys } } : { problem: noKeys };
    return { plan: { snapshot, from } };
  }
  if (isLocalSnapshot(snapshot)) {
    // Nothing but the operator can put a file on a machine before its first boot: say so before it boots.
    const also = names ? `; to have the first boot take it from a backup target instead: --restore <file name> --restore-from ${names}` : '';
    return { plan: { snapshot }, note: `${snapshot} must be on the machine, mode 0600, before cloud-init runs this user-data's commands, or the first boot stops before installing K3s${also}` };
  }
  if (!c.etcdS3) return { problem: `"${snapshot}" is not an absolute path, and ${c.source} has no etcd.s3 to fetch a snapshot name from${names ? `; for a copy on a backup target add --restore-from ${names}` : ''}` };
  return keys ? { plan: { snapshot, s3Credentials: keys } } : { problem: noKeys };
}

/** Where a restore takes its snapshot from, and the path or name K3s's reset is given. */
type RestoreSource =
  | { readonly kind: 'machine'; readonly path: string }
  | { readonly kind: 'etcd-s3'; readonly s3: NonNullable<ResolvedCluster['etcdS3']> }
  | { readonly kind: 'nfs'; readonly target: string; readonly nfs: NonNullable<ResolvedBackupTarget['nfs']>; readonly path: string }
  | { readonly kind: 's3-target'; readonly target: string; readonly s3: NonNullable<ResolvedBackupTarget['s3']> };

/** The restore's source, resolved against the cluster; throws on a target the cluster lacks (seed checks first). */
export function restoreSource(c: ResolvedCluster, plan: RestorePlan): RestoreSource {
  if (plan.from !== undefined) {
    const target = c.backup?.targets.find((t) => t.name === plan.from);
    if (target?.nfs) return { kind: 'nfs', target: target.name, nfs: target.nfs, path: `${RESTORE_DIR}/${plan.snapshot}` };
    if (target?.s3) return { kind: 's3-target', target: target.name, s3: target.s3 };
    throw new Error(`no backup target "${plan.from}" in ${c.source}`);
  }
  if (isLocalSnapshot(plan.snapshot)) return { kind: 'machine', path: plan.snapshot };
  if (c.etcdS3) return { kind: 'etcd-s3', s3: c.etcdS3 };
  throw new Error(`"${plan.snapshot}" is no path, and ${c.source} has no etcd.s3`);
}

/** Whether a snapshot name is a plain file name: what a backup target holds, and nothing that leaves its folder. */
export const isSnapshotFileName = (name: string): boolean => /^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(name) && name.length <= 255;

/** What `seed` adds to a node's user-data; the committed file has neither. */
export interface SeedOptions {
  /** The server token: servers, and agents where there is no agent token. */
  readonly token?: string;
  /** The agent token, where token.agentFile is set: servers and agents. */
  readonly agentToken?: string;
  /** Registry credentials by their path on the node. */
  readonly registryCredentials?: ReadonlyMap<string, string>;
  readonly restore?: RestorePlan;
}

/**
 * The token files a node needs before K3s starts: a server its own and, where there is
 * one, the agent token it accepts agents with; an agent only the token it joins with.
 */
export function nodeTokenFiles(c: ResolvedCluster, node: ResolvedNode): string[] {
  if (node.role === 'agent') return [nodeTokenFile(c, node)];
  return c.agentTokenFile ? [c.tokenFile, c.agentTokenFile] : [c.tokenFile];
}

/** What a token file holds, as messages name it. */
const tokenKind = (c: ResolvedCluster, file: string) => (file === c.agentTokenFile ? 'agent' : 'join');

/** The token flags `seed` needs for a node, reading each token from the environment. */
export function seedTokenFlags(c: ResolvedCluster, role: 'server' | 'agent'): string {
  if (!c.agentTokenFile) return '--token-env K3S_TOKEN';
  return role === 'agent' ? '--agent-token-env K3S_AGENT_TOKEN' : '--token-env K3S_TOKEN --agent-token-env K3S_AGENT_TOKEN';
}

/** One `write_files` entry, root-owned. */
interface WriteFile {
  readonly path: string;
  readonly content: string;
  readonly permissions: string;
  readonly owner: 'root:root';
}

const file = (path: string, content: string, permissions = '0600'): WriteFile => ({ path, content, permissions, owner: 'root:root' });

/** Whether a snapshot argument names a file on the machine rather than an S3 object. */
export const isLocalSnapshot = (snapshot: string): boolean => snapshot.startsWith('/');

/** Single-quotes a value for sh. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Whether images come from a registry of the user's: the system default registry, or a mirror. */
export function imagesFromRegistry(c: ResolvedCluster): boolean {
  return Boolean(c.systemDefaultRegistry) || Object.keys(c.registries?.mirrors ?? {}).length > 0;
}

/** The install command: the official script, pinned, server or agent; fails the boot script if it fails. */
function installCommand(c: ResolvedCluster, role: string, extraEnv: Record<string, string> = {}): string[] {
  const airgap = c.install === 'airgap';
  const env = { INSTALL_K3S_VERSION: c.k3sVersion, INSTALL_K3S_EXEC: role, ...(airgap ? { INSTALL_K3S_SKIP_DOWNLOAD: 'true' } : {}), ...extraEnv };
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`).join(' ');
  if (airgap) {
    return [
      `[ -x /usr/local/bin/k3s ] && [ -f ${AIRGAP_INSTALL_SCRIPT} ] || { echo "k3s-gitops: airgap install needs /usr/local/bin/k3s and ${AIRGAP_INSTALL_SCRIPT} pre-staged" >&2; exit 1; }`,
      `/usr/local/bin/k3s --version | grep -qF ${shellQuote(c.k3sVersion)} || { echo "k3s-gitops: pre-staged k3s is not ${c.k3sVersion}" >&2; exit 1; }`,
      // Without a registry to pull from, K3s's own images must be staged as a tarball.
      ...(imagesFromRegistry(c) ? [] : [`ls ${AIRGAP_IMAGES_DIR}/*.tar* >/dev/null 2>&1 || { echo "k3s-gitops: airgap install needs the K3s images tarball in ${AIRGAP_IMAGES_DIR}/ (or a registry: k3s.systemDefaultRegistry or registries.mirrors)" >&2; exit 1; }`]),
      `${assignments} sh ${AIRGAP_INSTALL_SCRIPT} || exit 1`,
    ];
  }
  return [
    `curl -sfL https://get.k3s.io -o ${INSTALL_SCRIPT} || { echo "k3s-gitops: cannot download the K3s install script" >&2; exit 1; }`,
    `${assignments} sh ${INSTALL_SCRIPT} || exit 1`,
  ];
}

/**
 * The keys for the one-off `k3s server --cluster-reset` run: no `server` (the reset
 * must not join anything). A file on the machine goes with `etcd-s3: false` where S3
 * is configured (K3s would look for it in the bucket otherwise); a snapshot in S3 goes
 * by name with every S3 setting and the keys, as K3s cannot read the config Secret
 * during a restore (docs.k3s.io, cli/etcd-snapshot: S3 restore flags). A backup target
 * in S3 is read the same way: K3s downloads `<folder>/<name>` from it itself.
 */
function restoreConfig(c: ResolvedCluster, node: ResolvedNode, plan: RestorePlan): Record<string, unknown> {
  const source = restoreSource(c, plan);
  const restorePath = source.kind === 'machine' || source.kind === 'nfs' ? source.path : plan.snapshot;
  const config: Record<string, unknown> = { ...k3sConfig(c, node), 'cluster-reset': true, 'cluster-reset-restore-path': restorePath };
  delete config.server;
  delete config['cluster-init'];
  for (const key of Object.keys(config)) if (key.startsWith('etcd-s3')) delete config[key];
  if (source.kind === 'machine' || source.kind === 'nfs') {
    if (c.etcdS3) config['etcd-s3'] = false;
  } else if (plan.s3Credentials) {
    const s3 = source.s3;
    const insecure = source.kind === 'etcd-s3' && source.s3.insecure;
    Object.assign(config, {
      'etcd-s3': true,
      'etcd-s3-endpoint': s3.endpoint,
      'etcd-s3-bucket': s3.bucket,
      'etcd-s3-region': s3.region,
      ...(s3.folder ? { 'etcd-s3-folder': s3.folder } : {}),
      ...(insecure ? { 'etcd-s3-insecure': true } : {}),
      'etcd-s3-access-key': plan.s3Credentials.accessKeyId,
      'etcd-s3-secret-key': plan.s3Credentials.secretAccessKey,
    });
  }
  return config;
}

/**
 * The first-boot commands that put the snapshot where the reset reads it, before K3s
 * is installed, so a boot that cannot have it stops before changing anything: fetched
 * from the cluster's NFS folder, or checked on the machine. S3 needs neither: K3s
 * downloads it during the reset.
 */
function snapshotCommands(c: ResolvedCluster, plan: RestorePlan): string[] {
  const source = restoreSource(c, plan);
  const again = `then run this first boot's commands again: sudo sh ${RUNCMD_SCRIPT}`;
  if (source.kind === 'nfs') {
    return [`sh ${FETCH_SNAPSHOT_PATH} ${[`${source.nfs.server}:${source.nfs.path}`, source.nfs.folder, plan.snapshot, RESTORE_DIR].map(shellQuote).join(' ')} || exit 1`];
  }
  if (source.kind === 'machine') {
    return [`[ -s ${shellQuote(source.path)} ] || { echo ${shellQuote(`k3s-gitops: snapshot ${source.path} is not on this machine (or is empty): copy it there, mode 0600, ${again}`)} >&2; exit 1; }`];
  }
  return [];
}

/**
 * Distribution packages a node needs for what the cluster file asks of it. The backup
 * CronJobs mount NFS targets on a server, and the kubelet mounts an NFS volume with
 * the host's `mount.nfs`, which Debian and Ubuntu ship in `nfs-common`.
 */
export function nodePackages(c: ResolvedCluster, node: ResolvedNode): string[] {
  const nfs = node.role === 'server' && (c.backup?.targets ?? []).some((t) => t.nfs);
  return nfs ? ['nfs-common'] : [];
}

/**
 * The `#cloud-config` that turns a blank machine into this node: config.yaml (0600),
 * the pinned K3s from the official installer, started. Without a token it expects the
 * token at token.file already; `seed` passes one, and a restore plan to rebuild a
 * server from a snapshot. `configText` (the node's config.yaml) and `registries` (the
 * cluster's registries.yaml) are passed in when the caller has them already.
 */
export function renderNodeUserData(
  c: ResolvedCluster, node: ResolvedNode, seed: SeedOptions = {}, configText = renderK3sConfig(c, node), registries = renderRegistries(c),
): string {
  const config = k3sConfig(c, node);
  const files: WriteFile[] = [file(CONFIG_PATH, configText)];
  const tokens = nodeTokenFiles(c, node);
  for (const [path, secret] of [[c.tokenFile, seed.token], [c.agentTokenFile, seed.agentToken]]) {
    if (path && secret !== undefined && tokens.includes(path)) files.push(file(path, `${secret}\n`));
  }
  const hardened = config['protect-kernel-defaults'] === true;
  if (hardened) {
    const lines = Object.entries(PROTECT_KERNEL_DEFAULTS_SYSCTLS).map(([k, v]) => `${k}=${v}`);
    files.push(file('/etc/sysctl.d/90-kubelet.conf', `# ${generatedBy(c.source)}\n# Required by protect-kernel-defaults (K3s CIS hardening guide).\n${lines.join('\n')}\n`, '0644'));
  }
  const restore = seed.restore;
  if (restore) files.push(file(RESTORE_CONFIG, yamlFile(c.source, restoreConfig(c, node, restore))));
  if (restore && restoreSource(c, restore).kind === 'nfs') files.push(file(FETCH_SNAPSHOT_PATH, FETCH_SNAPSHOT_SCRIPT, '0700'));
  for (const [path, secret] of seed.registryCredentials ?? []) files.push(file(path, `${secret}\n`));
  if (registries) files.push(file(COMMITTED_REGISTRIES, registries), file(FILL_REGISTRIES, FILL_REGISTRIES_SCRIPT, '0700'));

  const runcmd: string[] = [
    ...tokens.map((t) => `[ -s ${shellQuote(t)} ] || { echo "k3s-gitops: the ${tokenKind(c, t)} token must be at ${t} before K3s starts" >&2; exit 1; }`),
    `chmod 0600 ${tokens.map(shellQuote).join(' ')} ${CONFIG_PATH}`,
    // K3s reads registries.yaml when it starts: written before the install starts it.
    ...(registries ? [`sh ${FILL_REGISTRIES} ${COMMITTED_REGISTRIES} ${REGISTRIES_PATH} || exit 1`] : []),
    ...c.cloudInit.preInstallCommands,
  ];
  if (hardened) runcmd.push('sysctl --system >/dev/null');
  if (restore) {
    runcmd.push(...snapshotCommands(c, restore), ...installCommand(c, node.role, { INSTALL_K3S_SKIP_START: 'true' }));
    const fetched = restoreSource(c, restore).kind === 'nfs' ? [`rm -f ${shellQuote(`${RESTORE_DIR}/${restore.snapshot}`)}`] : [];
    runcmd.push(
      // The one-off config may hold S3 keys: it goes either way, so a failed reset re-runs from the user-data.
      `k3s server --config ${RESTORE_CONFIG} || { rm -f ${RESTORE_CONFIG}; echo ${shellQuote(`k3s-gitops: cluster-reset from ${restore.snapshot} failed (its log is above); fix the cause, then run the whole first boot again from the user-data: sudo cloud-init clean --logs --reboot`)} >&2; exit 1; }`,
      `rm -f ${RESTORE_CONFIG}`,
      ...fetched,
      'systemctl start k3s',
    );
  } else {
    runcmd.push(...installCommand(c, node.role));
  }
  runcmd.push(...c.cloudInit.postInstallCommands);

  const body: Record<string, unknown> = { hostname: node.name, write_files: files, runcmd };
  if (c.cloudInit.sshAuthorizedKeys.length > 0) body.ssh_authorized_keys = [...c.cloudInit.sshAuthorizedKeys];
  const packages = [...nodePackages(c, node), ...c.cloudInit.packages];
  if (packages.length > 0) {
    body.packages = [...new Set(packages)];
    body.package_update = true;
  }
  const join = joinUrl(c, node);
  const notes = [
    seed.token === undefined && seed.agentToken === undefined
      ? `No secret here: ${tokens.map((t) => `the ${tokenKind(c, t)} token must already be at ${t}`).join(' and ')} (mode 0600), or use \`k3s-gitops seed\`.`
      : `Contains the ${tokens.map((t) => tokenKind(c, t)).join(' and ')} token: hand it to the machine, never commit it.`,
    ...(restore ? [`Restores ${node.name} from etcd snapshot ${restore.snapshot}${restoreWhere(c, restore)} (k3s server --cluster-reset), then starts it.`] : []),
    ...(!restore && node.role === 'server' && foundsCluster(c, node) ? ['Founds the cluster (cluster-init).'] : []),
    ...(!restore && join ? [`Joins ${join}.`] : []),
  ];
  return cloudConfig(c.source, notes, body);
}

/** Where a restore's snapshot is, as the user-data's header says it. */
function restoreWhere(c: ResolvedCluster, plan: RestorePlan): string {
  const source = restoreSource(c, plan);
  switch (source.kind) {
    case 'machine': return ', which must be on the machine before its first boot runs these commands';
    case 'etcd-s3': return `, downloaded by K3s from s3://${source.s3.bucket}/${source.s3.folder ? `${source.s3.folder}/` : ''}`;
    case 'nfs': return `, fetched read-only at first boot from NFS ${source.nfs.server}:${nfsCopyDir(source.nfs)}/ (backup target ${source.target})`;
    case 's3-target': return `, downloaded by K3s from s3://${source.s3.bucket}/${source.s3.folder}/ (backup target ${source.target})`;
  }
}

/** A `#cloud-config` document: the marker line, the generated-by line, notes, then the body. */
export function cloudConfig(source: string, notes: readonly string[], body: Record<string, unknown>): string {
  return `#cloud-config\n# ${generatedBy(source)}\n${notes.map((n) => `# ${n}\n`).join('')}${toYaml(body)}`;
}
