import { IMMUTABLE_KEYS } from '../k3s/facts';
import { parseK3sVersion, upgradeProblem } from '../k3s/version';
import { type Finding, show } from '../cluster-file/diagnostics';
import { quorumFor, type ResolvedCluster } from '../cluster-file/resolve';
import type { CommittedCluster } from './committed';

/**
 * What a commit may not do to a cluster that may be running: compared with the
 * committed tree, never with a guess. Empty when nothing is committed yet.
 */
export function checkAgainstCommitted(c: ResolvedCluster, committed: CommittedCluster | undefined): Finding[] {
  if (!committed) return [];
  // A tree edited by hand (a config missing or replaced) says nothing sure about the lifecycle.
  const trusted = committed.complete ? [...lifecycle(c, committed), ...immutable(c, committed), ...encryption(c, committed), ...removals(c, committed)] : [];
  return [...version(c, committed), ...trusted];
}

function version(c: ResolvedCluster, committed: CommittedCluster): Finding[] {
  const from = committed.k3sVersion ? parseK3sVersion(committed.k3sVersion) : undefined;
  const to = parseK3sVersion(c.k3sVersion);
  const problem = from && to ? upgradeProblem(from, to) : undefined;
  return problem ? [{ code: problem.code, pointer: '/spec/k3s/version', message: `found ${c.k3sVersion}, but dist/${c.name} was compiled for ${committed.k3sVersion}; ${problem.reason}` }] : [];
}

function lifecycle(c: ResolvedCluster, committed: CommittedCluster): Finding[] {
  if (committed.bootstrapped && !c.bootstrapped) {
    return [{ code: 'BOOTSTRAP_REVERSED', pointer: '/spec/bootstrapped', message: `dist/${c.name} is committed with bootstrapped: true; setting it back to false would give the first server cluster-init, and a rebuilt first server would found a new, empty cluster. Keep it true` }];
  }
  const founder = committed.founder;
  if (!c.bootstrapped && founder && c.servers[0]?.name !== founder.name) {
    return [{ code: 'FOUNDER_CHANGED', pointer: '/spec/nodes', message: `${founder.name} founded this cluster (committed with cluster-init), but the first server is now ${show(c.servers[0]?.name ?? 'none')}; that server would found a second cluster. Keep ${founder.name} first, or set bootstrapped: true once the cluster runs` }];
  }
  return [];
}

function immutable(c: ResolvedCluster, committed: CommittedCluster): Finding[] {
  const before = committed.servers[0]?.config;
  const server = c.servers[0];
  if (!committed.bootstrapped || !before || !server) return [];
  const now: Record<string, unknown> = { 'cluster-cidr': c.network.clusterCidr, 'service-cidr': c.network.serviceCidr, 'cluster-dns': c.network.clusterDns, 'cluster-domain': c.network.clusterDomain };
  return [...IMMUTABLE_KEYS].filter(([key]) => before[key] !== undefined && before[key] !== now[key]).map(([key, pointer]) => ({
    code: 'IMMUTABLE_KEY', pointer,
    message: `${key} is ${show(String(before[key]))} in the running cluster (dist/${c.name}) and K3s fixes it when the cluster is created; found ${show(String(now[key]))}. Changing it means a new cluster and a migration`,
  }));
}

/**
 * K3s: "Starting K3s without encryption and enabling it at a later time is currently
 * not supported" (docs/cli/secrets-encrypt.md); on a running HA cluster each server
 * would generate a key of its own. Turning it off is K3s's `secrets-encrypt disable`
 * with the flag kept: the apiserver reads the encrypted Secrets only through the
 * encryption config the flag loads, so dropping the flag first would lose them.
 */
function encryption(c: ResolvedCluster, committed: CommittedCluster): Finding[] {
  const before = committed.servers[0]?.config['secrets-encryption'] === true;
  if (!committed.bootstrapped || before === c.secretsEncryption) return [];
  const why = before
    ? 'keep it true and turn encryption off with K3s\'s own steps instead (RUNBOOK.md, "Secrets encryption": `k3s secrets-encrypt disable` on one server, restart the servers one at a time, then `k3s secrets-encrypt reencrypt --force --skip`); without the flag the apiserver cannot read the encrypted Secrets'
    : 'K3s does not support turning encryption on for a cluster started without it (docs/cli/secrets-encrypt.md): each server would generate its own key';
  return [{
    code: 'IMMUTABLE_KEY', pointer: '/spec/secretsEncryption',
    message: `secrets-encryption is ${before} in the running cluster (dist/${c.name}); found ${c.secretsEncryption}. ${why}`,
  }];
}

function removals(c: ResolvedCluster, committed: CommittedCluster): Finding[] {
  const names = new Set(c.servers.map((s) => s.name));
  const removed = committed.servers.filter((s) => !names.has(s.name));
  const { tolerated, quorum } = quorumFor(committed.servers.length);
  if (removed.length === 0 || removed.length <= tolerated) return [];
  return [{
    code: 'QUORUM_REMOVAL', pointer: '/spec/nodes',
    message: `this commit removes ${removed.length} server(s) (${removed.map((s) => s.name).join(', ')}) of ${committed.servers.length}; etcd needs ${quorum} of them, so at most ${tolerated} may go in one commit. Remove them one commit at a time, each after the last is out of etcd`,
  }];
}
