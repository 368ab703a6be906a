import { parseK3sVersion, compareK3sVersions } from '../k3s/version';
import type { ResolvedCluster } from '../spec/resolve';
import { nodeTokenFiles, seedTokenFlags } from '../render/user-data';
import { renderRegistries } from '../render/registries';
import { REGISTRIES_FILE } from '../names';
import { YAML } from '../yaml';
import type { CommittedCluster } from './committed';

export type NodeAction = 'unchanged' | 'restart' | 'new' | 'removed' | 'reprovision';

/** What applying the commit does to one node. */
export interface NodePlan {
  readonly node: string;
  readonly action: NodeAction;
  readonly details: string;
  /** Config keys whose value changes (restart, reprovision). */
  readonly keys?: readonly string[];
  /** What the user runs by hand (new, removed, reprovision). */
  readonly commands?: readonly string[];
}

/** What applying the commit does to one cluster: per node, then cluster-wide steps. */
export interface ClusterPlan {
  readonly cluster: string;
  readonly nodes: readonly NodePlan[];
  readonly steps: readonly string[];
}

/**
 * Keys a running node cannot take by restart: its identity and where its state lives
 * (and, on a server, the address its etcd member is registered under).
 */
const REPROVISION_KEYS: ReadonlySet<string> = new Set(['node-name', 'data-dir']);
const SERVER_REPROVISION_KEYS: ReadonlySet<string> = new Set([...REPROVISION_KEYS, 'node-ip']);

/** Keys whose values differ between two configs, sorted. */
function changedKeys(before: Readonly<Record<string, unknown>>, after: Readonly<Record<string, unknown>>): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k])).sort();
}

/** `changed: a, b; added: c; removed: d`, for the keys that differ. */
function describeChange(keys: readonly string[], before: Readonly<Record<string, unknown>>, after: Readonly<Record<string, unknown>>): string {
  const groups: [string, string[]][] = [
    ['changed', keys.filter((k) => k in before && k in after)],
    ['added', keys.filter((k) => !(k in before))],
    ['removed', keys.filter((k) => !(k in after))],
  ];
  return groups.filter(([, ks]) => ks.length > 0).map(([what, ks]) => `${what}: ${ks.join(', ')}`).join('; ');
}

function removalCommands(name: string, role: 'server' | 'agent', address: string): string[] {
  return [
    `kubectl drain ${name} --ignore-daemonsets --delete-emptydir-data`,
    // K3s removes a server's etcd member when its Node object is deleted.
    `kubectl delete node ${name}${role === 'server' ? '                 # K3s removes its etcd member' : ''}`,
    `ssh ${address} sudo /usr/local/bin/${role === 'server' ? 'k3s-uninstall.sh' : 'k3s-agent-uninstall.sh'}`,
  ];
}

/**
 * Compares the specs' cluster with what is committed, node by node. `configs` is each
 * node's config.yaml as this commit renders it.
 */
export function planCluster(c: ResolvedCluster, committed: CommittedCluster | undefined, configs: ReadonlyMap<string, string>): ClusterPlan {
  const nodes: NodePlan[] = [];
  // Every node takes registries.yaml, and a change to it restarts K3s like a config change.
  const registriesChanged = committed !== undefined && (committed.registries ?? '') !== (renderRegistries(c) ?? '');
  for (const node of c.nodes) {
    const text = configs.get(node.name) as string;
    const before = committed?.nodes.get(node.name);
    if (!before) {
      nodes.push({
        node: node.name, action: 'new',
        details: `boot it with dist/${c.name}/nodes/${node.name}/user-data.yaml (token at ${nodeTokenFiles(c, node).join(' and ')}) or \`k3s-gitops seed\``,
        commands: [`npx k3s-gitops seed ${c.source} --node ${node.name} ${seedTokenFlags(c, node.role)} > user-data.yaml`],
      });
      continue;
    }
    const service = node.role === 'server' ? 'k3s' : 'k3s-agent';
    if (before.text === text) {
      nodes.push(registriesChanged
        ? { node: node.name, action: 'restart', keys: [REGISTRIES_FILE], details: `${service} restarts; changed: ${REGISTRIES_FILE}` }
        : { node: node.name, action: 'unchanged', details: 'config.yaml as committed' });
      continue;
    }
    const after = YAML.parse(text) as Record<string, unknown>;
    const keys = changedKeys(before.config, after);
    const fixed = node.role === 'server' ? SERVER_REPROVISION_KEYS : REPROVISION_KEYS;
    const blocking = before.role !== node.role ? ['role'] : keys.filter((k) => fixed.has(k));
    if (blocking.length > 0) {
      nodes.push({
        node: node.name, action: 'reprovision', keys,
        details: `${blocking.join(', ')} cannot change on a running node: remove it, then boot it again as new`,
        commands: [...removalCommands(node.name, before.role, node.address), `# then boot it with dist/${c.name}/nodes/${node.name}/user-data.yaml`],
      });
      continue;
    }
    const files = registriesChanged ? `; changed: ${REGISTRIES_FILE}` : '';
    nodes.push({ node: node.name, action: 'restart', keys: registriesChanged ? [...keys, REGISTRIES_FILE] : keys, details: `${service} restarts; ${describeChange(keys, before.config, after)}${files}` });
  }
  for (const before of committed?.nodes.values() ?? []) {
    if (c.nodes.some((n) => n.name === before.name)) continue;
    const address = String(before.config['node-ip'] ?? '').split(',')[0] || '<address>';
    nodes.push({ node: before.name, action: 'removed', details: `a ${before.role} leaves the cluster`, commands: removalCommands(before.name, before.role, address) });
  }
  return { cluster: c.name, nodes, steps: clusterSteps(c, committed) };
}

/** Cluster-wide steps: a K3s upgrade; secrets encryption flipped before bootstrap. */
function clusterSteps(c: ResolvedCluster, committed: CommittedCluster | undefined): string[] {
  const steps: string[] = [];
  const from = committed?.k3sVersion ? parseK3sVersion(committed.k3sVersion) : undefined;
  const to = parseK3sVersion(c.k3sVersion);
  if (from && to && compareK3sVersions(from, to) !== 0) {
    steps.push(`upgrade K3s ${committed?.k3sVersion} -> ${c.k3sVersion}: Plan k3s-server, one server at a time behind the quorum gate, then k3s-agent`);
  }
  const wasEncrypted = committed?.servers[0]?.config['secrets-encryption'] === true;
  // Once bootstrapped the rules refuse the change (IMMUTABLE_KEY); before, no server may have started yet.
  if (committed && committed.servers.length > 0 && wasEncrypted !== c.secretsEncryption) {
    steps.push(`secrets encryption ${c.secretsEncryption ? 'on' : 'off'}: only while no server has started yet; a running cluster cannot take the flag ${c.secretsEncryption ? 'on' : 'off'} (K3s docs/cli/secrets-encrypt.md; RUNBOOK.md, "Secrets encryption")`);
  }
  return steps;
}

/** One line per node, `<node> <action> <details>`, then the cluster-wide steps. */
export function formatPlan(plan: ClusterPlan): string {
  const width = Math.max(...plan.nodes.map((n) => n.node.length), 4);
  const lines = [`cluster ${plan.cluster}:`];
  for (const n of plan.nodes) {
    lines.push(`${n.node.padEnd(width)} ${n.action.padEnd(11)} ${n.details}`);
    for (const cmd of n.commands ?? []) lines.push(`${' '.repeat(width + 13)}$ ${cmd}`);
  }
  for (const step of plan.steps) lines.push(`cluster-wide: ${step}`);
  if (plan.steps.length === 0) lines.push('cluster-wide: nothing');
  return lines.join('\n');
}

