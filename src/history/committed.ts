import * as fs from 'node:fs';
import * as path from 'node:path';
import { PLANS_FILE, REGISTRIES_FILE } from '../names';
import { YAML } from '../yaml';

/** One node as the committed tree has it. */
export interface CommittedNode {
  readonly name: string;
  readonly role: 'server' | 'agent';
  /** config.yaml as committed, byte for byte. */
  readonly text: string;
  readonly config: Readonly<Record<string, unknown>>;
}

/**
 * What is committed for one cluster under the out dir: the one reading of the tree
 * that the upgrade rules, IMMUTABLE_KEY and friends, and `plan` all compare with.
 */
export interface CommittedCluster {
  /** The K3s version its server upgrade Plan pins. */
  readonly k3sVersion?: string;
  /** registries.yaml as committed, where there is one. */
  readonly registries?: string;
  readonly nodes: ReadonlyMap<string, CommittedNode>;
  /** Servers, by name. */
  readonly servers: readonly CommittedNode[];
  /** The server committed with `cluster-init`; none once bootstrapped. */
  readonly founder?: CommittedNode;
  readonly bootstrapped: boolean;
  /** The VRRP version its keepalived.conf speaks, where it has a load balancer. */
  readonly vrrpVersion?: 2 | 3;
  /** Every node folder held a regular, parseable config.yaml; the lifecycle rules trust only such a tree. */
  readonly complete: boolean;
}

/** Every committed server config carries `cluster-cidr`; no agent's does. */
const isServerConfig = (config: Record<string, unknown>) => 'cluster-cidr' in config;

/** Reads dist/<cluster>/ once; undefined when nothing is committed for it yet. */
export function readCommitted(outDir: string, cluster: string): CommittedCluster | undefined {
  const root = path.join(outDir, cluster);
  const nodesDir = path.join(root, 'nodes');
  if (!fs.existsSync(nodesDir)) return undefined;
  const nodes = new Map<string, CommittedNode>();
  let complete = true;
  for (const name of fs.readdirSync(nodesDir).sort()) {
    const file = path.join(nodesDir, name, 'config.yaml');
    // Only regular files: a symlink in dist/ is never followed (see readTree).
    if (!fs.lstatSync(path.join(nodesDir, name)).isDirectory() || !fs.existsSync(file) || !fs.lstatSync(file).isFile()) {
      complete = false;
      continue;
    }
    const text = fs.readFileSync(file, 'utf8');
    const config = parseConfig(text);
    if (Object.keys(config).length === 0) complete = false;
    nodes.set(name, { name, role: isServerConfig(config) ? 'server' : 'agent', text, config });
  }
  const servers = [...nodes.values()].filter((n) => n.role === 'server');
  const founder = servers.find((s) => s.config['cluster-init'] === true);
  const registriesFile = path.join(root, REGISTRIES_FILE);
  const registries = fs.existsSync(registriesFile) && fs.lstatSync(registriesFile).isFile() ? fs.readFileSync(registriesFile, 'utf8') : undefined;
  const vrrp = vrrpVersion(root);
  return { k3sVersion: planVersion(root), ...(registries ? { registries } : {}), nodes, servers, founder, bootstrapped: servers.length > 0 && !founder, complete, ...(vrrp ? { vrrpVersion: vrrp } : {}) };
}

/**
 * The VRRP version of the committed keepalived.conf (the DaemonSet's ConfigMap, or the
 * LB machines' files): 3 with `version 3`, 2 without (keepalived's default), none
 * without a load balancer.
 */
function vrrpVersion(root: string): 2 | 3 | undefined {
  const lbDir = path.join(root, 'lb');
  const files = [path.join(root, 'manifests', 'load-balancer.k8s.yaml'),
    ...(fs.existsSync(lbDir) ? fs.readdirSync(lbDir).filter((f) => /^keepalived-.*\.conf$/.test(f)).map((f) => path.join(lbDir, f)) : [])];
  const conf = files.filter((f) => fs.existsSync(f) && fs.lstatSync(f).isFile()).map((f) => fs.readFileSync(f, 'utf8')).find((t) => t.includes('vrrp_instance'));
  if (conf === undefined) return undefined;
  return /^\s*version 3$/m.test(conf) ? 3 : 2;
}

/** A committed config.yaml as an object; one that is not YAML (edited by hand) counts as empty. */
function parseConfig(text: string): Record<string, unknown> {
  try {
    const value = YAML.parse(text);
    return value && typeof value === 'object' ? value as Record<string, unknown> : {};
  } catch {
    return {};
  }
}

/**
 * Where trees compiled before the Plans had their own folder keep them. Read as a
 * fallback, so the first synth after that change still checks a version change
 * against what the cluster runs.
 */
const LEGACY_PLANS_FILE = 'upgrades/plans.k8s.yaml';

/**
 * The version the committed Plans under `root` pin: every Plan's `spec.version`,
 * written at two spaces' indent. Read as text: the file also carries every node's
 * config and parsing it all cost more than the rest of an up-to-date synth (npm run
 * bench).
 */
function planVersion(root: string): string | undefined {
  const file = [PLANS_FILE, LEGACY_PLANS_FILE].map((rel) => path.join(root, ...rel.split('/'))).find((f) => fs.existsSync(f));
  if (!file) return undefined;
  return /^ {2}version: "?([^"\s]+)"?$/m.exec(fs.readFileSync(file, 'utf8'))?.[1];
}

/** Reads each cluster's committed tree at most once, however many callers ask. */
export function committedTrees(outDir: string): (cluster: string) => CommittedCluster | undefined {
  const read = new Map<string, CommittedCluster | undefined>();
  return (cluster) => {
    if (!read.has(cluster)) read.set(cluster, readCommitted(outDir, cluster));
    return read.get(cluster);
  };
}
