import { CONFIG_PATH } from '../k3s/facts';
import { foundsCluster, joinUrl, nodeTokenFile, type ResolvedCluster, type ResolvedNode } from '../spec/resolve';
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

/** A restore from an etcd snapshot: a local path, or a snapshot name in the cluster's S3 bucket. */
export interface RestorePlan {
  readonly snapshot: string;
  /** For S3 snapshots: K3s cannot read the config Secret during a restore, so the keys come along. */
  readonly s3Credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

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

/** The keys for the one-off `k3s server --cluster-reset` run: no `server` (the reset must not join anything). */
function restoreConfig(c: ResolvedCluster, node: ResolvedNode, plan: RestorePlan): Record<string, unknown> {
  const config: Record<string, unknown> = { ...k3sConfig(c, node), 'cluster-reset': true, 'cluster-reset-restore-path': plan.snapshot };
  delete config.server;
  delete config['cluster-init'];
  for (const key of Object.keys(config)) if (key.startsWith('etcd-s3')) delete config[key];
  const s3 = c.etcdS3;
  if (isLocalSnapshot(plan.snapshot)) {
    // With S3 configured K3s would look for the file in the bucket; the docs say to turn it off.
    if (s3) config['etcd-s3'] = false;
  } else if (s3 && plan.s3Credentials) {
    Object.assign(config, {
      'etcd-s3': true,
      'etcd-s3-endpoint': s3.endpoint,
      'etcd-s3-bucket': s3.bucket,
      'etcd-s3-region': s3.region,
      ...(s3.folder ? { 'etcd-s3-folder': s3.folder } : {}),
      ...(s3.insecure ? { 'etcd-s3-insecure': true } : {}),
      'etcd-s3-access-key': plan.s3Credentials.accessKeyId,
      'etcd-s3-secret-key': plan.s3Credentials.secretAccessKey,
    });
  }
  return config;
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
    runcmd.push(...installCommand(c, node.role, { INSTALL_K3S_SKIP_START: 'true' }));
    if (isLocalSnapshot(restore.snapshot)) {
      runcmd.push(`[ -f ${shellQuote(restore.snapshot)} ] || { echo "k3s-gitops: snapshot ${restore.snapshot} is not on this machine" >&2; exit 1; }`);
    }
    runcmd.push(
      `k3s server --config ${RESTORE_CONFIG} || { rm -f ${RESTORE_CONFIG}; echo "k3s-gitops: cluster-reset from ${restore.snapshot} failed" >&2; exit 1; }`,
      `rm -f ${RESTORE_CONFIG}`,
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
    ...(restore ? [`Restores ${node.name} from etcd snapshot ${restore.snapshot} (k3s server --cluster-reset), then starts it.`] : []),
    ...(!restore && node.role === 'server' && foundsCluster(c, node) ? ['Founds the cluster (cluster-init).'] : []),
    ...(!restore && join ? [`Joins ${join}.`] : []),
  ];
  return cloudConfig(c.source, notes, body);
}

/** A `#cloud-config` document: the marker line, the generated-by line, notes, then the body. */
export function cloudConfig(source: string, notes: readonly string[], body: Record<string, unknown>): string {
  return `#cloud-config\n# ${generatedBy(source)}\n${notes.map((n) => `# ${n}\n`).join('')}${toYaml(body)}`;
}
