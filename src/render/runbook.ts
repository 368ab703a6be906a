import { parseK3sVersion, supportsRotateKeys } from '../k3s/version';
import { BACKUP_NAMES, CERT_NAMES, CONFIG_ROLLOUT_NAMES, K3S_UPGRADE_PLANS, SUC_JOB_SETTINGS, SUC_NAMES, SYSTEM_NAMESPACE } from '../names';
import { jobDeadlineSeconds, RESTART_LOCK, ROLLOUT_TIMING } from './apply-config-script';
import { endpointUrl, joinUrl, nfsCopyDir, quorumFor, type ResolvedBackupTarget, type ResolvedCluster, type ResolvedNode } from '../cluster-file/resolve';

type ResolvedBackupNfs = NonNullable<ResolvedBackupTarget['nfs']>;
import { S3_SECRET_TEMPLATE } from './etcd-s3-secret';
import { RUNCMD_SCRIPT } from './fetch-snapshot-script';
import { AIRGAP_IMAGES_DIR, AIRGAP_INSTALL_SCRIPT, imagesFromRegistry, seedTokenFlags } from './user-data';
import { REGISTRIES_PATH, registryCredentialFiles } from './registries';
import { clusterImages } from '../images';
import { generatedBy } from './text';
import { monitoringRunbook } from './runbook-alerts';

const CONFIG = '/etc/rancher/k3s/config.yaml';

function fence(lines: string[]): string {
  return ['```sh', ...lines, '```'].join('\n');
}

/** What losing n servers does to this cluster. */
function failureRows(c: ResolvedCluster): string[] {
  const n = c.servers.length;
  const rows = ['| servers down | etcd | API | what to do |', '| --- | --- | --- | --- |'];
  if (n === 1) {
    rows.push(`| 1 of 1 | **down** (its only member) | down | disk intact: start it again ([Server down, data intact](#server-down-data-intact)); data or machine lost: restore from a snapshot ([Restore](#restore-from-a-snapshot)) |`);
    return rows;
  }
  for (let down = 1; down <= n; down++) {
    const up = n - down;
    const holds = up >= c.quorum.quorum;
    const api = holds ? 'answers' : 'down: etcd refuses reads and writes';
    const action = holds ? 'replace the failed servers ([Replacing one failed server](#replacing-one-failed-server))'
      : up > 0 ? 'quorum lost: `cluster-reset` the most up-to-date survivor ([Quorum lost, data intact](#quorum-lost-data-intact)), or restore from a snapshot ([Restore](#restore-from-a-snapshot))'
        : 'all down: start them; etcd answers once a majority runs on intact disks. Fewer intact: [Quorum lost, data intact](#quorum-lost-data-intact); none: restore from a snapshot on a rebuilt server ([Restore](#restore-from-a-snapshot))';
    rows.push(`| ${down} of ${n} | ${holds ? `quorum holds (${up} of ${c.quorum.quorum} needed)` : `**no quorum** (${up} of ${c.quorum.quorum} needed)`} | ${api} | ${action} |`);
  }
  return rows;
}

function s3Flags(c: ResolvedCluster): string[] {
  const s3 = c.etcdS3;
  if (!s3) return [];
  return [
    '  --etcd-s3 \\',
    `  --etcd-s3-endpoint=${s3.endpoint} \\`,
    `  --etcd-s3-bucket=${s3.bucket} \\`,
    ...(s3.folder ? [`  --etcd-s3-folder=${s3.folder} \\`] : []),
    `  --etcd-s3-region=${s3.region} \\`,
    ...(s3.insecure ? ['  --etcd-s3-insecure \\'] : []),
    '  --etcd-s3-access-key="$AWS_ACCESS_KEY_ID" \\',
    '  --etcd-s3-secret-key="$AWS_SECRET_ACCESS_KEY" \\',
  ];
}

/** A one-off copy of config.yaml without `server:`, for the reset only. */
const RESET_CONFIG = '/etc/rancher/k3s/cluster-reset.yaml';

/**
 * K3s refuses `--cluster-reset` while a server URL is configured: "cannot perform
 * cluster-reset while server URL is set - remove server from configuration before
 * resetting" (k3s-io/k3s pkg/cli/server/server.go). A server that joined has one.
 */
const RESET_CONFIG_WHY = `Its config.yaml has a \`server\` key, and K3s refuses to reset while one is set, so the reset reads a copy without it (\`--config\`; config.yaml itself is never edited).`;

/** Whether this server's config.yaml has a `server:` key. */
const hasServerKey = (c: ResolvedCluster, s: ResolvedNode) => joinUrl(c, s) !== undefined;

/**
 * `k3s server --cluster-reset` on one server, with the flags given: straight from
 * config.yaml, or from a copy without `server:` where the server joined through one.
 */
function resetCommands(c: ResolvedCluster, s: ResolvedNode, flags: readonly string[], keepEnv = false): string[] {
  const sudo = keepEnv ? 'sudo -E' : 'sudo';
  if (!hasServerKey(c, s)) return [`${sudo} k3s server \\`, '  --cluster-reset' + (flags.length > 0 ? ' \\' : ''), ...flags];
  return [
    `sudo sh -c "umask 077; grep -v '^server:' ${CONFIG} > ${RESET_CONFIG}"`,
    `${sudo} k3s server --config ${RESET_CONFIG} \\`,
    '  --cluster-reset' + (flags.length > 0 ? ' \\' : ''),
    ...flags,
    `sudo rm ${RESET_CONFIG}`,
  ];
}

/** How to create the Secret K3s reads its S3 settings from; values never enter Git. */
function s3ConfigSecret(c: ResolvedCluster, p: (...lines: string[]) => void): void {
  const s3 = c.etcdS3;
  if (!s3?.configSecret) return;
  p('### The S3 config Secret');
  p(`K3s reads its S3 settings and keys from the kube-system Secret \`${s3.configSecret}\` each time it saves, lists or prunes snapshots (not during a restore). Until it exists, uploads fail. Its type is \`etcd.k3s.cattle.io/s3-config-secret\`; each setting is one \`etcd-s3-*\` key. \`${S3_SECRET_TEMPLATE}\` holds it with placeholders for the keys. Create it from your secret store:`);
  p(fence([
    `kubectl -n kube-system create secret generic ${s3.configSecret} \\`,
    '  --type=etcd.k3s.cattle.io/s3-config-secret \\',
    `  --from-literal=etcd-s3-endpoint=${s3.endpoint} \\`,
    `  --from-literal=etcd-s3-bucket=${s3.bucket} \\`,
    ...(s3.folder ? [`  --from-literal=etcd-s3-folder=${s3.folder} \\`] : []),
    `  --from-literal=etcd-s3-region=${s3.region} \\`,
    `  --from-literal=etcd-s3-insecure=${s3.insecure} \\`,
    '  --from-literal=etcd-s3-access-key="$AWS_ACCESS_KEY_ID" \\',
    '  --from-literal=etcd-s3-secret-key="$AWS_SECRET_ACCESS_KEY"',
  ]));
}

/** `systemctl <verb> k3s` on one server, by address, named. */
const onServer = (s: ResolvedNode, verb: 'stop' | 'start') => `ssh ${s.address} sudo systemctl ${verb} k3s        # ${s.name}`;

/**
 * Quorum lost with the data intact: reset the survivor with the newest data to a
 * one-member cluster, then rejoin the rest. Before bootstrap the first server founds
 * the cluster and every other server joins it; if the survivor is another server,
 * starting the first server with that config would found a second, empty cluster, so
 * every other server takes its bootstrapped config (joins through the endpoint) first.
 * Each survivor gets its own steps, so every command names the server it runs on.
 * One server is a one-member etcd, which always has its quorum: starting it is all.
 */
function quorumLost(c: ResolvedCluster, p: (...lines: string[]) => void): void {
  const first = c.servers[0];
  if (c.servers.length === 1) {
    p('## Server down, data intact');
    p(`${first.name} is the whole etcd cluster, and a one-member etcd always has its quorum: when it stopped with its disk intact, starting it again is all it takes, no reset and no snapshot. Its data lost or broken: [Restore from a snapshot](#restore-from-a-snapshot).`);
    p(fence([onServer(first, 'start')]));
    return;
  }
  p('## Quorum lost, data intact');
  p(`When more than ${c.quorum.tolerated} of the ${c.servers.length} servers are gone for good but a survivor's disk is intact, no snapshot is needed: reset the survivor with the newest data (the highest \`etcdctl endpoint status\` revision, or the last to fail) to a one-member cluster, then rejoin the others to it.`);
  p('1. Stop K3s on every server that still runs:');
  p(fence(c.servers.map((s) => onServer(s, 'stop'))));
  p(`2. Follow the steps of the survivor: reset it and start it, then wipe the etcd data of each other server and start it, one at a time; it joins the survivor as a new member. A server whose machine is gone gets a new machine booted with its user-data instead, and joins the same way.`);
  for (const s of c.servers) {
    const rest = c.servers.filter((o) => o !== s);
    p(`### ${s.name} (${s.address}) survives`);
    p(`On ${s.name}:${hasServerKey(c, s) ? ` ${RESET_CONFIG_WHY}` : ''}`);
    p(fence([...resetCommands(c, s, []), 'sudo systemctl start k3s']));
    if (!c.bootstrapped && s !== first) {
      p(`${first.name}'s config founds the cluster (\`cluster-init\`) and the others join ${first.name}, so starting them as they are would found a second, empty cluster. First set \`bootstrapped: true\` in \`${c.source}\`, run \`npx k3s-gitops synth\`, commit, and install the new config.yaml of each other server: it joins through the endpoint, ${endpointUrl(c)}${c.loadBalancer.mode === 'daemonset' ? `, which ${s.name}'s load balancer pod serves` : ''}.`);
      p(fence(rest.flatMap((o) => [
        `scp dist/${c.name}/nodes/${o.name}/config.yaml ${o.address}:/tmp/k3s-config.yaml`,
        `ssh ${o.address} sudo install -m 0600 /tmp/k3s-config.yaml ${CONFIG}        # ${o.name}`,
      ])));
    }
    p(`Then, one server at a time:`);
    p(fence(rest.flatMap((o) => [`ssh ${o.address} sudo rm -rf ${c.dataDir}/server/db/     # ${o.name}`, onServer(o, 'start')])));
  }
}

/** Where the runbook mounts an NFS target on a server. */
const nfsMountPoint = (target: string) => `/mnt/k3s-gitops-${target}`;

/** A string matched literally inside an extended regular expression. */
const ereLiteral = (text: string) => text.replace(/[.[\]()*+?{}|^$\\]/g, '\\$&');

/**
 * Copies an NFS target holds in its root from before each cluster had a folder: named
 * `<etcd-snapshot-name>-<node>-<unix time>[.zip]` (k3s-io/k3s pkg/etcd/snapshot.go), so
 * only the server names can tell whose they are. The job never touches them; these
 * commands move the ones named after this cluster's servers into its folder, and
 * nothing else.
 */
function flatCopies(c: ResolvedCluster, target: string, nfs: ResolvedBackupNfs, p: (...lines: string[]) => void): void {
  const first = c.servers[0];
  const mnt = nfsMountPoint(target);
  const names = c.servers.map((s) => ereLiteral(s.name)).join('|');
  const pattern = `^${ereLiteral(c.snapshots.name)}-(${names})-[0-9]+(\\.zip)?$`;
  p(`### Copies from before per-cluster folders (${target})`);
  p(`Earlier releases copied into the root of \`${nfs.server}:${nfs.path}\`, named \`${c.snapshots.name}-<server>-<unix-time>\` with nothing naming the cluster. The job leaves them there (it logs how many): it cannot tell them from another cluster's. If no other cluster with servers named ${c.servers.map((s) => s.name).join(', ')} shares the export, move this cluster's into its folder, where the job keeps them to its retention. On ${first.name} (${first.address}), as root:`);
  p(fence([
    `mkdir -p ${mnt}`,
    `mount -t nfs ${nfs.server}:${nfs.path} ${mnt}`,
    `mkdir -p ${mnt}/${nfs.folder}`,
    `ls ${mnt} | grep -E '${pattern}' | while read -r f; do mv -n "${mnt}/$f" ${mnt}/${nfs.folder}/; done`,
    `ls -l ${mnt}            # what is left there is another cluster's, or already in the folder`,
    `umount ${mnt}`,
  ]));
}

/** Copies a local secret file to each node, 0600, without it touching the command line. */
const install = (nodes: readonly ResolvedNode[], from: string, to: string) => nodes.map((n) => `ssh ${n.address} 'sudo install -m 0600 /dev/stdin ${to}' < ${from}   # ${n.name}`);

/**
 * The tokens over the cluster's life, by K3s's docs/cli/token.md: the server token
 * encrypts the bootstrap data (a snapshot restores only with the token in use when it
 * was taken); the agent token "can be set before or after the cluster has been started,
 * by changing the CLI option ... on all servers"; after `k3s token rotate` "all servers
 * and any agents that originally joined with the old token must be restarted with the
 * new token".
 */
function tokens(c: ResolvedCluster, p: (...lines: string[]) => void): void {
  const [first] = c.servers;
  const serverTokenHolders = c.agentTokenFile ? c.servers : c.nodes;
  const restarts = (nodes: readonly ResolvedNode[]) => nodes.map((n) => `ssh ${n.address} sudo systemctl restart ${n.role === 'server' ? 'k3s' : 'k3s-agent'}        # ${n.name}`);
  p('## Tokens');
  p(`The server token sits at \`${c.tokenFile}\` on ${c.agentTokenFile ? 'every server' : 'every node'}${c.agentTokenFile ? `; agents hold only the agent token at \`${c.agentTokenFile}\`` : ''}. K3s encrypts its bootstrap data with the server token, so a snapshot restores only with the token that was in use when it was taken: keep each retired token beside the snapshots it belongs to.`);
  if (!c.agentTokenFile) {
    p('### Keeping the server token off agents');
    p(`Anyone who reads an agent's disk has the server token, which joins servers and opens etcd. K3s takes a separate agent token on a running cluster:`);
    p(fence([
      'openssl rand -hex 32 > agent-token                    # keep it in your secret store',
      ...install(c.nodes, 'agent-token', '/etc/rancher/k3s/agent-token'),
    ]));
    p(`Then set \`token.agentFile: /etc/rancher/k3s/agent-token\` in \`${c.source}\`, run \`npx k3s-gitops synth\` and commit. The servers restart one at a time with \`agent-token-file\`; the agents follow once every server runs it, and join with the agent token from then on. When \`kubectl get nodes -L ${CONFIG_ROLLOUT_NAMES.hashLabel}\` shows every agent on its new hash, take the server token off them:`);
    p(fence(c.agents.map((a) => `ssh ${a.address} sudo rm -f ${c.tokenFile}        # ${a.name}`)));
  }
  p('### Rotating the server token');
  p(fence([
    `ssh ${first.address} sudo k3s etcd-snapshot save --name pre-token-rotation   # restores with the OLD token: keep it with this snapshot`,
    'openssl rand -hex 32 > new-token',
    `ssh ${first.address} 'sudo install -m 0600 /dev/stdin /root/new-token' < new-token`,
    `ssh ${first.address} 'sudo sh -c "k3s token rotate --token \\"\\$(cat ${c.tokenFile})\\" --new-token \\"\\$(cat /root/new-token)\\""'`,
    ...install(serverTokenHolders, 'new-token', c.tokenFile),
    `# then restart, servers one at a time first${c.agentTokenFile ? '' : ', then the agents'}:`,
    ...restarts(serverTokenHolders),
    `ssh ${first.address} sudo rm -f /root/new-token`,
  ]));
  p(`From then on \`k3s-gitops seed\` takes the new token.${c.agentTokenFile ? ' Agents join with the agent token and are not touched.' : ''}`);
  if (c.agentTokenFile) {
    p('### Rotating the agent token');
    p('The agent token is static (K3s sets it from the servers\' option): write the new one on every node, then restart the servers one at a time, then the agents.');
    p(fence(['openssl rand -hex 32 > new-agent-token', ...install(c.nodes, 'new-agent-token', c.agentTokenFile), ...restarts(c.nodes)]));
  }
}

/**
 * K3s's certificates: 365-day client and server certificates, renewed when K3s starts
 * within 90 days of their expiry; `k3s certificate rotate` with K3s stopped renews them
 * at once (k3s-io/docs, docs/advanced.md and docs/cli/certificate.md).
 */
function certificates(c: ResolvedCluster, p: (...lines: string[]) => void): void {
  p('## Certificates');
  p(`K3s's client and server certificates last 365 days; K3s renews them when it starts within 90 days of their expiry. A CronJob per server (\`${CERT_NAMES.cronJob(c.servers[0].name)}\`, ...) checks them daily and fails when one expires within ${c.certificates.warnDays} days (\`certificates.warnDays\`):`);
  p(fence([
    `kubectl -n ${SYSTEM_NAMESPACE} get jobs -l app.kubernetes.io/component=cert-expiry   # a failed Job names the server and the certificates`,
    `kubectl -n ${SYSTEM_NAMESPACE} logs job/<failed-job>`,
  ]));
  p('Renew on one server at a time, waiting for it to be Ready before the next; a restart is enough inside the 90 days, `certificate rotate` renews at once:');
  p(fence(c.servers.flatMap((s) => [`ssh ${s.address} 'sudo systemctl stop k3s && sudo k3s certificate rotate && sudo systemctl start k3s'   # ${s.name}`])));
  if (c.agents.length > 0) p('Agents fetch fresh kubelet certificates from the servers each time `k3s-agent` starts: restart them one at a time after the servers (the alarm runs on servers only).');
}

/** The day-2 config Plans this cluster has: one per role with nodes. */
/** etcdctl's way into K3s's etcd on a server: gRPC on 2379 with K3s's client certificate (k3s-io/k3s pkg/daemons/control/deps). */
const etcdctlFlags = (c: ResolvedCluster) => `--endpoints https://127.0.0.1:2379 --cacert ${c.dataDir}/server/tls/etcd/server-ca.crt --cert ${c.dataDir}/server/tls/etcd/client.crt --key ${c.dataDir}/server/tls/etcd/client.key`;

const configPlans = (c: ResolvedCluster) => [...(c.servers.length > 0 ? [CONFIG_ROLLOUT_NAMES.plan('server')] : []), ...(c.agents.length > 0 ? [CONFIG_ROLLOUT_NAMES.plan('agent')] : [])];

/**
 * Runs the config Plans again on every node: system-upgrade-controller applies a Plan to
 * every node whose `plan.upgrade.cattle.io/<plan>` label is not the Plan's hash, a
 * missing label included (pkg/upgrade/plan/plan.go).
 */
const rerunConfigPlans = (c: ResolvedCluster) => `kubectl label nodes --all ${configPlans(c).map((n) => `plan.upgrade.cattle.io/${n}-`).join(' ')}`;

/**
 * K3s's air-gap install (k3s-io/docs, docs/installation/airgap.md): the binary and the
 * install script on the machine, and K3s's images either in a registry or as the
 * release's images tarball in the agent images folder; plus the images of ours.
 */
function registriesAndAirgap(c: ResolvedCluster, p: (...lines: string[]) => void): void {
  if (c.install !== 'airgap' && !c.registries && !c.systemDefaultRegistry) return;
  p('## Registries and air gap');
  if (c.install === 'airgap') {
    p(`Nothing is downloaded at boot. Stage on every machine before it boots, from the K3s ${c.k3sVersion} release for its architecture:`);
    p(
      `- \`/usr/local/bin/k3s\` (mode 0755): the \`k3s\` binary; the user-data checks its version.`,
      `- \`${AIRGAP_INSTALL_SCRIPT}\`: the install script (https://get.k3s.io, saved).`,
      imagesFromRegistry(c)
        ? `- K3s's own images (the release's \`k3s-images.txt\`) in the registry${c.systemDefaultRegistry ? ` \`${c.systemDefaultRegistry}\`` : ' the mirrors point at'}.`
        : `- K3s's own images: the release's \`k3s-airgap-images-<arch>.tar.zst\` in \`${AIRGAP_IMAGES_DIR}/\`; the user-data stops without it.`,
    );
  }
  p(`The images of this tree${c.systemDefaultRegistry ? `, pulled from \`${c.systemDefaultRegistry}\`` : ''} (\`npx k3s-gitops images ${c.source}\` prints them for a mirroring script):`);
  p(fence(clusterImages(c).map((i) => `${i.image}   # ${i.usedBy}`)));
  const credentials = registryCredentialFiles(c);
  if (credentials.length > 0) {
    p(`Registry credentials are files on every node (0600), filled into \`${REGISTRIES_PATH}\` by the node itself: ${credentials.map((f) => `\`${f}\``).join(', ')}. \`k3s-gitops seed --registry-credential <path>=<local file>\` puts them on a new machine. containerd reads them only when K3s starts: after changing one, write it on every node, then run the config Plans again (the node refills registries.yaml and restarts, one node at a time):`);
    p(fence([
      ...install(c.nodes, 'new-credential', credentials[0]),
      rerunConfigPlans(c),
    ]));
  }
}

/**
 * Watching a day-2 rollout and resuming one that failed. system-upgrade-controller
 * labels a Plan's jobs `upgrade.cattle.io/plan`, retries a failed one twice
 * (backoffLimit 2) and deletes it 900 s after it failed (TTLSecondsAfterFinished),
 * after which it starts a new one for the same hash (pkg/upgrade/job/job.go,
 * pkg/upgrade/handle_batch.go).
 */
function dayTwo(c: ResolvedCluster, p: (...lines: string[]) => void): void {
  const plans = configPlans(c);
  const t = ROLLOUT_TIMING;
  p('## Changes through Git (day 2)');
  if (!c.gitops?.upgrades) p(`**Nothing applies \`upgrades/\` for this cluster** (${c.gitops ? '`gitops.upgrades: false`' : 'no `spec.gitops`, warning `NO_GITOPS`'}): the Plans below act only once \`dist/${c.name}/upgrades/\` is applied to the cluster${c.gitops ? '' : ', and the load balancer, backups and certificate checks in `manifests/` only once that is'}.`);
  p(`A commit that changes a node's config.yaml reaches it through the Plans ${plans.map((n) => `\`${n}\``).join(' and ')} in \`${SUC_NAMES.namespace}\`: servers one at a time, agents ${c.upgrades.agentConcurrency} at a time. Before merging, \`npx k3s-gitops plan\` says which nodes restart, which keys change and in what order.`);
  p(`Every server restart, a config change or a K3s upgrade (\`${K3S_UPGRADE_PLANS.server}\`), holds one lock in etcd itself, \`${RESTART_LOCK}\`: two Plans run side by side, and each one's \`concurrency\` counts only its own jobs, so the lock is what keeps two servers from restarting together. The job takes it over gRPC through every member (no API server needed), then checks that every etcd member is a healthy voting member, writes the config, restarts K3s and waits for health before letting go. Its etcd lease (${t.lockTtlSeconds} s) is kept alive through the other members while the server's own member restarts; a job that dies frees the lock within ${t.lockTtlSeconds} s (${t.lockTtlSeconds + 5} s when etcd elects a leader meanwhile: a new leader extends every lease by its 5 s election timeout). A job waiting for the lock logs who holds it:`);
  p(fence([
    `ssh ${c.servers[0].address} sudo ETCDCTL_API=3 etcdctl ${etcdctlFlags(c)} get --print-value-only ${RESTART_LOCK}-holder`,
  ]));
  p('### Watching a rollout');
  p(fence([
    `kubectl get nodes -L ${CONFIG_ROLLOUT_NAMES.hashLabel}       # the hash of the config each node runs`,
    `kubectl -n ${SUC_NAMES.namespace} get plans,jobs                    # one job per node and change`,
    `kubectl -n ${SUC_NAMES.namespace} logs -l upgrade.cattle.io/plan=${plans[0]} --tail=50`,
  ]));
  p(`The hash is the first 16 hex digits of the sha256 of the node's file: \`sha256sum dist/${c.name}/nodes/<node>/config.yaml | cut -c1-16\` is what Git says the node runs. A job logs "config.yaml unchanged; no restart" on a node that already runs it.`);
  p('### When a job fails');
  p(`The job says why in its log and leaves the node as it was: an etcd member not healthy or not yet a voting member (nothing changed), a new server URL that does not answer yet (nothing changed), or a config the node did not become healthy with in ${t.healthTimeoutSeconds} s (the previous config.yaml is back and K3s restarted on it). A job stopped while it waits for health (its deadline, a deleted pod) puts the previous config back before it ends. The Plan stops there: no other node of that role changes.`);
  p(fence([
    `kubectl -n ${SUC_NAMES.namespace} get jobs -l upgrade.cattle.io/plan=<plan>   # the failed job and its node`,
    `kubectl -n ${SUC_NAMES.namespace} logs job/<failed-job>`,
    'ssh <node> sudo journalctl -u k3s --since -30min          # k3s-agent on agents',
  ]));
  p(`- **A bad config**: the node marks it, \`/etc/rancher/k3s/config.yaml.k3s-gitops-failed\` (its hash and when it failed), and every retry on that node fails at once naming the hash, without restarting anything. Fix \`${c.source}\`, re-synthesize, commit: the new hash starts a new job, and the rollout goes on from there. To try the same config again (the cause was outside it), remove the mark on the node and retry the job.`);
  p(`- **A passing cause** (an etcd member restarting, a VIP not up yet): Kubernetes retries the job's pod, up to ${SUC_JOB_SETTINGS.backoffLimit} times with a pause that doubles from 10 s to 6 min, within the job's deadline (${jobDeadlineSeconds(c, 'server')} s for servers${c.servers.length > 1 ? ': long enough to wait for the lock behind every other server of both server Plans' : ''}). A job that ran out of retries or time is deleted ${SUC_JOB_SETTINGS.ttlSecondsAfterFinished / 60} minutes after it failed, and system-upgrade-controller starts a new one. To retry now: \`kubectl -n ${SUC_NAMES.namespace} delete job <failed-job>\`.`);
  p(`- **A K3s upgrade a server is not healthy after**: the new binary stays (k3s-upgrade keeps no old one) and the Plan stops. Read \`journalctl -u k3s\` there. Going back by a commit is refused (\`K3S_DOWNGRADE\`): etcd's data may already be the new version's. Fix what the log says, or restore from the \`pre-<version>\` snapshot the job took first.`);
  p(`- **An etcd member that never started** (\`(added, never started)\` in the log: a server that died while joining) blocks every server's change until it is removed; a learner (\`(a learner, still joining)\`) blocks it until K3s promotes it. K3s ships no etcdctl; the distribution's \`etcd-client\` package has one. Port 2379 speaks only gRPC on K3s, which etcdctl does:`);
  p(fence([
    `ssh ${c.servers[0].address} sudo ETCDCTL_API=3 etcdctl ${etcdctlFlags(c)} member list -w table`,
    `ssh ${c.servers[0].address} sudo ETCDCTL_API=3 etcdctl ... member remove <ID>   # same flags; the ID from the list`,
  ]));
  if (c.agents.length > 0) p(`Agents start only once the servers' Plan applies to no server and every server runs K3s ${c.k3sVersion} (k3s-upgrade's \`prepare\` step): while a K3s upgrade of the servers is stuck, agent changes wait for it.`);
  p('To run the config Plans again on every node without a commit (after changing a registry credential file on the nodes, say), take their labels off the nodes; system-upgrade-controller then applies them again, one node at a time, each job comparing and restarting only what changed:');
  p(fence([rerunConfigPlans(c)]));
  planCrd(c, p);
}

/**
 * The Plans wait for their CRD, which system-upgrade-controller registers only when it
 * starts (pkg/upgrade/controller.go registerCRD): one deleted under a running controller,
 * or pruned by GitOps when a tree that shipped one is replaced, is back only after a
 * restart.
 */
function planCrd(c: ResolvedCluster, p: (...lines: string[]) => void): void {
  if (!c.gitops?.upgrades) return;
  const waits = c.gitops.engine === 'flux'
    ? `Flux applies the Plans (\`${c.name}-upgrades\`) only once ${c.upgrades.controller === 'bundled' ? `\`${c.name}-${SUC_NAMES.deployment}\` is Ready: the controller runs and the CRD is Established` : `\`${c.name}-manifests\` is Ready, and retries them each minute while the CRD is missing`}`
    : `Argo CD applies the Plans a sync wave after the controller and retries a sync that reached them before the CRD, 5 times over about 5 minutes; after that, sync again by hand (\`argocd app sync ${c.name}-upgrades\`)`;
  p('### When the Plans are not applied');
  p(`The Plans' CRD, \`${SUC_NAMES.planCrd}\`, is system-upgrade-controller's: it registers the CRD each time it starts, and the tree never ships one. ${waits}. A CRD deleted while the controller runs (by hand, or pruned by GitOps when a tree that still shipped one is replaced) comes back only when the controller starts again:`);
  p(fence(c.upgrades.controller === 'bundled'
    ? [`kubectl get crd ${SUC_NAMES.planCrd}`, `kubectl -n ${SUC_NAMES.namespace} rollout restart deployment/${SUC_NAMES.deployment}`]
    : [`kubectl get crd ${SUC_NAMES.planCrd}      # missing: restart the cluster's own system-upgrade-controller`]));
}

/**
 * Secrets encryption on a running cluster, K3s's procedures (docs/cli/secrets-encrypt.md):
 * the `secrets-encryption` flag stays in config.yaml, and encryption is switched and
 * its key rotated with `k3s secrets-encrypt` on one server, restarting the servers.
 */
function secretsEncryption(c: ResolvedCluster, p: (...lines: string[]) => void): void {
  const [first, ...others] = c.servers;
  const restartFirst = `ssh ${first.address} sudo systemctl restart k3s        # ${first.name}`;
  const restartOthers = others.length > 0 ? [`# once ${first.name} is Ready, one at a time:`, ...others.map((s) => `ssh ${s.address} sudo systemctl restart k3s        # ${s.name}`)] : [];
  const restartAll = [restartFirst, ...restartOthers];
  const onFirst = (cmd: string) => `ssh ${first.address} sudo k3s secrets-encrypt ${cmd}`;
  const version = parseK3sVersion(c.k3sVersion);
  p('## Secrets encryption');
  p(`Secrets are encrypted at rest (\`secretsEncryption: true\`). The flag stays on for the cluster's life: the apiserver reads the encryption config only through it, and K3s cannot turn encryption on for a cluster started without it, so once bootstrapped the compiler refuses changing it (\`IMMUTABLE_KEY\`). Run the commands on ${first.name}; \`${onFirst('status')}\` shows the stage and whether every server has the same keys.`);
  p('### Rotating the encryption key');
  if (version && supportsRotateKeys(version)) {
    p(fence([onFirst('rotate-keys'), `${onFirst('status')}    # wait for: Current Rotation Stage: reencrypt_finished`, ...restartAll]));
  } else {
    p(`K3s ${c.k3sVersion} has no \`rotate-keys\` (v1.30.5+k3s1, v1.31.1+k3s1 and later): prepare, rotate, reencrypt, restarting the servers after each.`);
    p(fence([onFirst('prepare'), ...restartAll, onFirst('rotate'), ...restartAll, onFirst('reencrypt'), ...restartAll]));
  }
  p('### Turning encryption off, and on again');
  p('Keep `secretsEncryption: true` in the cluster file: these steps switch what the encryption config does.');
  p(fence([`${onFirst('disable')}         # or: enable`, ...restartAll, onFirst('reencrypt --force --skip')]));
}

/** Replacing a dead server while the others keep the data; with one server there are no others. */
function replaceServer(c: ResolvedCluster, p: (...lines: string[]) => void): void {
  const q = c.quorum;
  const first = c.servers[0];
  if (c.servers.length === 1) {
    p('## Replacing the server');
    p(`${first.name} is the whole cluster: nothing else holds its data, and its API goes down with it. A machine that is gone is rebuilt from a snapshot: [Restore onto a new machine](#restore-onto-a-new-machine).`);
    return;
  }
  p('## Replacing one failed server');
  p(`While quorum holds (at least ${q.quorum} of the ${q.servers} servers up), a dead server is replaced without a restore. Deleting its Node makes K3s remove its etcd member.`);
  p(fence([
    'kubectl delete node <dead-server>',
    '# boot the replacement machine (same name and address) with its user-data:',
    `#   dist/${c.name}/nodes/<dead-server>/user-data.yaml, token placed at ${c.tokenFile}${c.agentTokenFile ? `, agent token at ${c.agentTokenFile}` : ''}`,
    `#   or: npx k3s-gitops seed ${c.source} --node <dead-server> ${seedTokenFlags(c, 'server')}`,
    'kubectl get nodes -w                                   # it rejoins as a new etcd member',
  ]));
  if (!c.bootstrapped) p(`> \`bootstrapped\` is still false: ${first.name} would found a **new, empty** cluster if rebuilt. Set \`bootstrapped: true\` in \`${c.source}\` and commit before replacing ${first.name}.`);
}

/** The reset on the first server, from each place a snapshot can be: local, a backup target, K3s's S3 upload. */
function resetFromSnapshot(c: ResolvedCluster, p: (...lines: string[]) => void): void {
  const first = c.servers[0];
  const localSnapshot = `${c.snapshots.dir}/${c.snapshots.name}-${first.name}-<unix-time>`;
  p('From a local snapshot (one this server took, or a copy fetched from a backup target):');
  p(fence(resetCommands(c, first, [
    ...(c.etcdS3 ? ['  --etcd-s3=false \\'] : []),
    `  --cluster-reset-restore-path=${localSnapshot}`,
  ])));
  for (const t of c.backup?.targets ?? []) {
    if (t.nfs) {
      const mnt = nfsMountPoint(t.name);
      p(`A copy on the NFS target \`${t.name}\`, in this cluster's folder \`${nfsCopyDir(t.nfs)}/\`: fetch it onto ${first.name}, as root, then restore it as above:`);
      p(fence([
        `mkdir -p ${mnt} && mount -t nfs -o ro ${t.nfs.server}:${t.nfs.path} ${mnt}`,
        `ls -l ${mnt}/${t.nfs.folder}/`,
        `install -D -m 0600 ${mnt}/${t.nfs.folder}/<snapshot> ${c.snapshots.dir}/<snapshot>`,
        `umount ${mnt}`,
      ]));
    } else if (t.s3) {
      p(`A copy in \`s3://${t.s3.bucket}/${t.s3.folder}/\`: \`aws s3 cp --endpoint-url https://${t.s3.endpoint} s3://${t.s3.bucket}/${t.s3.folder}/<snapshot> ${c.snapshots.dir}/\`, then restore it as above.`);
    }
  }
  if (c.etcdS3) {
    p(`From K3s's own S3 upload: K3s cannot read the \`${c.etcdS3.configSecret ?? 'S3'}\` Secret during a restore, so the S3 settings and keys are passed explicitly, and the snapshot is given by name only:`);
    p(fence(['export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...   # from your secret store', ...resetCommands(c, first, [
      ...s3Flags(c),
      `  --cluster-reset-restore-path=${c.snapshots.name}-${first.name}-<unix-time>`,
    ], true)]));
  }
  p('K3s prints `Managed etcd cluster membership has been reset, restart without --cluster-reset flag now.` and exits.');
}

/**
 * `seed --restore` for the first server, from each place its snapshots are: a new
 * machine that restores itself at first boot. An NFS folder is fetched by the
 * user-data, S3 is downloaded by K3s; a path must be on the machine before it boots.
 */
function seedRestore(c: ResolvedCluster): string[] {
  const first = c.servers[0];
  const seed = `npx k3s-gitops seed ${c.source} --node ${first.name} ${seedTokenFlags(c, 'server')}`;
  const keys = 'AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...';
  const name = `${c.snapshots.name}-${first.name}-<unix-time>`;
  const lines: string[] = [];
  for (const t of c.backup?.targets ?? []) {
    if (t.nfs) lines.push(`# from NFS ${t.nfs.server}:${nfsCopyDir(t.nfs)}/: the first boot mounts it read-only and fetches the snapshot`, `${seed} --restore ${name} --restore-from ${t.name} > user-data.yaml`);
    else if (t.s3) lines.push(`# from s3://${t.s3.bucket}/${t.s3.folder}/: K3s downloads it; the target's keys from the environment`, `${keys} ${seed} --restore ${name} --restore-from ${t.name} > user-data.yaml`);
  }
  if (c.etcdS3) lines.push(`# from K3s's own upload, s3://${c.etcdS3.bucket}/${c.etcdS3.folder ? `${c.etcdS3.folder}/` : ''}: K3s downloads it; the keys from the environment`, `${keys} ${seed} --restore ${name} > user-data.yaml`);
  lines.push('# a snapshot you put on the machine yourself, before it boots:', `${seed} --restore ${c.snapshots.dir}/${name} > user-data.yaml`);
  return lines;
}

/**
 * A restore's first boot that stopped: cloud-init runs runcmd once per instance, from
 * the script it wrote (cloudinit/config/cc_runcmd.py: <instance>/scripts/runcmd);
 * `cloud-init clean` removes its state "so cloud-init can re-run", and `--reboot`
 * reboots into a first boot (cloud-init(1), `cloud-init clean --help`).
 */
function stoppedFirstBoot(c: ResolvedCluster, p: (...lines: string[]) => void): void {
  p('### A first boot that stopped');
  const hooks = c.cloudInit.preInstallCommands.length > 0 ? ' (your `cloudInit.preInstallCommands` run again too)' : '';
  p(`cloud-init runs a machine's first-boot commands once. When a restore stops (no snapshot, an export that refuses the machine, a failed reset), the machine is up and K3s is not started; \`sudo cloud-init status --long\` says so and \`/var/log/cloud-init-output.log\` has the reason. Fix it, then:`);
  p(
    `- it stopped before the reset (the snapshot, the export): run the commands again as cloud-init wrote them; the steps before the reset are safe to run twice${hooks}: \`sudo sh ${RUNCMD_SCRIPT}\``,
    '- the reset failed: its one-off config is gone (it may hold S3 keys), so run the whole first boot again from the user-data, which also writes every file again (and may give the machine new SSH host keys): `sudo cloud-init clean --logs --reboot`',
  );
}

/**
 * K3s's restore (docs.k3s.io, cli/etcd-snapshot: "Restoring a Cluster from a Snapshot"):
 * `cluster-reset` with `cluster-reset-restore-path` on one server, which moves the old
 * etcd data aside (`server/db/etcd-old-<unix time>`, k3s-io/k3s pkg/etcd/etcd.go
 * `Restore`) and starts a one-member etcd from the snapshot; then the other servers'
 * `server/db` is removed and they rejoin. One server has no others: it restores in
 * place, or onto a new machine from `seed --restore`.
 */
function restore(c: ResolvedCluster, p: (...lines: string[]) => void): void {
  const first = c.servers[0];
  const others = c.servers.slice(1);
  p('## Restore from a snapshot');
  const token = `The token at \`${c.tokenFile}\` must be the one in use when the snapshot was taken: K3s decrypts its bootstrap data with it.`;
  if (others.length === 0) {
    p(`Restoring rolls the cluster back to the snapshot. ${token} K3s moves ${first.name}'s old etcd data aside (\`${c.dataDir}/server/db/etcd-old-<unix-time>\`) and starts a one-member etcd from the snapshot.`);
    p('### Restore in place');
    p(`When ${first.name}'s machine runs but its etcd data is broken, or the cluster must go back to the snapshot:`);
    p('1. Stop K3s:');
    p(fence([onServer(first, 'stop')]));
    p(`2. On ${first.name} (${first.address}), reset etcd from the snapshot.${hasServerKey(c, first) ? ` ${RESET_CONFIG_WHY}` : ''}`);
    resetFromSnapshot(c, p);
    p('3. Start K3s:');
    p(fence([onServer(first, 'start')]));
    p(`4. Check: \`kubectl get nodes\` lists ${first.name} Ready; agents reconnect by themselves.`);
    p('### Restore onto a new machine');
    p(`When ${first.name} is gone: boot a new machine with its name and address (${first.address}) from this user-data. At first boot it installs K3s ${c.k3sVersion} without starting it, resets etcd from the snapshot, then starts K3s; agents reconnect by themselves.`);
    p(fence(seedRestore(c)));
    stoppedFirstBoot(c, p);
    return;
  }
  p(`Restoring rolls the whole cluster back to the snapshot. ${token} The restore runs on **${first.name}** (${first.address}); the other ${others.length} servers are wiped and rejoin it.`);
  p('1. Stop K3s on every server:');
  p(fence(c.servers.map((s) => onServer(s, 'stop'))));
  p(`2. On ${first.name}, reset etcd from the snapshot.${hasServerKey(c, first) ? ` ${RESET_CONFIG_WHY}` : ''}`);
  resetFromSnapshot(c, p);
  p(`3. Start K3s on ${first.name}:`);
  p(fence([`ssh ${first.address} sudo systemctl start k3s`]));
  p(`4. On ${others.map((s) => s.name).join(', ')}, delete the old etcd data, then start K3s so it rejoins ${first.name}:`);
  p(fence(others.flatMap((s) => [`ssh ${s.address} sudo rm -rf ${c.dataDir}/server/db/     # ${s.name}`, `ssh ${s.address} sudo systemctl start k3s`])));
  if (c.loadBalancer.mode === 'daemonset' && c.bootstrapped) p(`They join through the VIP, which returns once the load balancer pod runs on ${first.name}; K3s retries until then.`);
  p('5. Check: `kubectl get nodes` lists every server Ready; agents reconnect by themselves.');
  p(`If ${first.name}'s machine is gone, rebuild it and restore in one step: boot a new machine with its name and address from this user-data instead of steps 2 and 3, then continue with step 4.`);
  p(fence(seedRestore(c)));
  stoppedFirstBoot(c, p);
}

/**
 * RUNBOOK.md for one cluster: its quorum, what failures do, how to check backups, and
 * K3s's restore procedure with this cluster's names, addresses, paths and bucket.
 */
export function renderRunbook(c: ResolvedCluster): string {
  const q = c.quorum;
  const first = c.servers[0];
  const out: string[] = [];
  const p = (...lines: string[]) => out.push(...lines, '');

  p(`<!-- ${generatedBy(c.source)} -->`, `# Runbook: cluster ${c.name}`);
  p(`K3s ${c.k3sVersion}, ${c.servers.length} server(s) on embedded etcd, ${c.agents.length} agent(s). API endpoint: \`${endpointUrl(c)}\`${c.loadBalancer.mode === 'none' ? '' : ` (load balancer: ${c.loadBalancer.mode})`}.`);
  p('| server | address |', '| --- | --- |', ...c.servers.map((s) => `| ${s.name} | ${s.address} |`));

  p('## Quorum');
  p(`etcd needs a majority of its members. This cluster has **${q.servers}** servers: quorum is **${q.quorum}**, it tolerates **${q.tolerated}** server failure(s).${q.servers === 1 ? ' One server is no HA: lab only.' : ''}`);
  const sizes = [...new Set([1, 3, 5, 7, q.servers])].sort((a, b) => a - b);
  p('| servers | quorum | failures tolerated |', '| --- | --- | --- |', ...sizes.map((n) => {
    const r = quorumFor(n);
    return `| ${n}${n === q.servers ? ' (this cluster)' : ''} | ${r.quorum} | ${r.tolerated} |`;
  }));
  p('### When servers fail');
  p(...failureRows(c));

  p('## Checking that backups run');
  p(`K3s snapshots etcd on every server on \`${c.snapshots.schedule}\` in each server's local time zone (K3s reads the cron in the node's zone), keeping ${c.snapshots.retention}, in \`${c.snapshots.dir}\`.${c.etcdS3 ? ` K3s also uploads them to \`s3://${c.etcdS3.bucket}${c.etcdS3.folder ? `/${c.etcdS3.folder}` : ''}\` at \`${c.etcdS3.endpoint}\`.` : ''}`);
  const checks = [
    `ssh ${first.address} sudo k3s etcd-snapshot ls          # snapshots this server holds${c.etcdS3 ? ', and those in S3' : ''}`,
    'kubectl get etcdsnapshotfiles                          # every snapshot K3s knows of, all servers',
  ];
  for (const t of c.backup?.targets ?? []) {
    checks.push(`kubectl -n ${SYSTEM_NAMESPACE} get cronjob ${BACKUP_NAMES.cronJob(t.name)} -o jsonpath='{.status.lastSuccessfulTime}{"\\n"}'`);
  }
  if ((c.backup?.targets.length ?? 0) > 0) checks.push(`kubectl -n ${SYSTEM_NAMESPACE} get jobs -l app.kubernetes.io/component=etcd-backup   # a failed Job means a failed copy or stopped snapshots`);
  p(fence(checks));
  for (const t of c.backup?.targets ?? []) {
    const where = t.nfs ? `NFS \`${t.nfs.server}:${nfsCopyDir(t.nfs)}/\`` : `\`s3://${t.s3?.bucket}/${t.s3?.folder}/\` at \`${t.s3?.endpoint}\``;
    p(`- CronJob \`${BACKUP_NAMES.cronJob(t.name)}\` copies the snapshots to ${where} on \`${c.backup?.schedule}\` in ${c.backup?.timeZone} (\`backup.timeZone\`; set it to the servers' zone so copies follow snapshots), keeps ${c.snapshots.retention}, and fails when the newest snapshot is older than twice the snapshot interval. That folder is this cluster's alone: other clusters may share the ${t.nfs ? 'export' : 'bucket'}, each in a folder of its own, and the job lists and prunes nothing outside its folder.`);
  }
  for (const t of c.backup?.targets ?? []) if (t.nfs) flatCopies(c, t.name, t.nfs, p);
  if (!c.etcdS3 && (c.backup?.targets.length ?? 0) === 0) p('**No off-node copy is configured: the snapshots die with the server disks.** Add `etcd.s3` or `backup.targets`.');

  if (c.etcdS3?.configSecret) s3ConfigSecret(c, p);

  replaceServer(c, p);
  restore(c, p);
  quorumLost(c, p);
  dayTwo(c, p);
  tokens(c, p);
  certificates(c, p);
  registriesAndAirgap(c, p);
  if (c.secretsEncryption) secretsEncryption(c, p);
  monitoringRunbook(c, p);
  return `${out.join('\n').trimEnd()}\n`;
}
