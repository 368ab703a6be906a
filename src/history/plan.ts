import { parseK3sVersion, compareK3sVersions } from '../k3s/version';
import type { ResolvedCluster } from '../cluster-file/resolve';
import { nodeTokenFiles, seedTokenFlags } from '../render/user-data';
import { renderRegistries } from '../render/registries';
import { K3S_UPGRADE_PLANS, REGISTRIES_FILE } from '../names';
import { ROLLOUT_TIMING } from '../render/apply-config-script';
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

/** What applying the commit does to one cluster: per node, the order it happens in, then cluster-wide steps. */
export interface ClusterPlan {
  readonly cluster: string;
  readonly nodes: readonly NodePlan[];
  /** How the restarts roll out, in order, and what each waits for. */
  readonly rollout: readonly string[];
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
  const upgrade = k3sUpgrade(c, committed);
  return { cluster: c.name, nodes, rollout: rollout(c, nodes, upgrade !== undefined), steps: [...(upgrade ? [upgrade] : []), ...clusterSteps(c, committed)] };
}

/**
 * The order restarts happen in. system-upgrade-controller picks a Plan's next node by a
 * hash of node and Plan UIDs (pkg/upgrade/plan/plan.go SelectConcurrentNodes), so which
 * server goes first is the cluster's choice, not the commit's; what each waits for is
 * fixed: the restart lock, then the gate.
 */
function rollout(c: ResolvedCluster, nodes: readonly NodePlan[], upgrade: boolean): string[] {
  const restarting = (role: 'server' | 'agent') => nodes.filter((n) => n.action === 'restart' && c.nodes.find((m) => m.name === n.node)?.role === role).map((n) => n.node);
  const servers = restarting('server');
  const agents = restarting('agent');
  if (servers.length + agents.length === 0 && !upgrade) return [];
  if (!c.gitops?.upgrades) {
    const why = c.gitops ? 'gitops.upgrades is false' : 'no spec.gitops (NO_GITOPS)';
    return [`nothing applies upgrades/ (${why}): no node changes until dist/${c.name}/upgrades/ is applied to the cluster`];
  }
  const steps: string[] = [];
  const health = ROLLOUT_TIMING.healthTimeoutSeconds;
  if (servers.length > 0) {
    const each = `takes the restart lock in etcd (one server restarting at a time across every Plan), waits for every etcd member healthy, restarts, and has ${health}s to be healthy or goes back to the previous config`;
    steps.push(servers.length === 1 ? `server ${servers[0]} ${each}` : `servers ${servers.join(', ')}, one at a time in an order system-upgrade-controller picks: each ${each}`);
  }
  if (upgrade) steps.push(`K3s ${c.k3sVersion} on every server, one at a time under the same lock and gate, a snapshot first`);
  if (agents.length > 0 || (upgrade && c.agents.length > 0)) {
    const which = `agents ${(agents.length > 0 ? agents : c.agents.map((a) => a.name)).join(', ')}`;
    steps.push(`${which}: ${c.upgrades.agentConcurrency} at a time, once every server runs this commit${upgrade ? `, config first, then K3s ${c.k3sVersion}` : ''}; no etcd gate`);
  }
  return steps;
}

function k3sUpgrade(c: ResolvedCluster, committed: CommittedCluster | undefined): string | undefined {
  const from = committed?.k3sVersion ? parseK3sVersion(committed.k3sVersion) : undefined;
  const to = parseK3sVersion(c.k3sVersion);
  if (!from || !to || compareK3sVersions(from, to) === 0) return undefined;
  return `upgrade K3s ${committed?.k3sVersion} -> ${c.k3sVersion}: Plan ${K3S_UPGRADE_PLANS.server}, one server at a time behind the restart lock and the quorum gate, then ${K3S_UPGRADE_PLANS.agent}`;
}

/** Cluster-wide steps besides the upgrade: secrets encryption flipped before bootstrap, the load balancer's VRRP version. */
function clusterSteps(c: ResolvedCluster, committed: CommittedCluster | undefined): string[] {
  const steps: string[] = [];
  const wasEncrypted = committed?.servers[0]?.config['secrets-encryption'] === true;
  // Once bootstrapped the rules refuse the change (IMMUTABLE_KEY); before, no server may have started yet.
  if (committed && committed.servers.length > 0 && wasEncrypted !== c.secretsEncryption) {
    steps.push(`secrets encryption ${c.secretsEncryption ? 'on' : 'off'}: only while no server has started yet; a running cluster cannot take the flag ${c.secretsEncryption ? 'on' : 'off'} (K3s docs/cli/secrets-encrypt.md; RUNBOOK.md, "Secrets encryption")`);
  }
  // keepalived drops adverts of the other version (vrrp/vrrp.c vrrp_check_packet, "wrong version").
  if (committed?.vrrpVersion === 2 && c.loadBalancer.mode !== 'none') {
    steps.push(c.loadBalancer.mode === 'daemonset'
      ? 'load balancer from VRRPv2 to VRRPv3: v2 and v3 peers ignore each other, so while the DaemonSet rolls, one server at a time, an updated peer can hold the VIP beside an old one; merge it in a quiet moment'
      : 'load balancer from VRRPv2 to VRRPv3: v2 and v3 peers ignore each other, so replace keepalived.conf on every LB machine (lb/keepalived-<host>.conf) in one go, not one machine a day');
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
  for (const [i, step] of plan.rollout.entries()) lines.push(`rollout ${i + 1}: ${step}`);
  for (const step of plan.steps) lines.push(`cluster-wide: ${step}`);
  if (plan.steps.length === 0) lines.push('cluster-wide: nothing');
  return lines.join('\n');
}

