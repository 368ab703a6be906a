import { STARTER_K3S_VERSION } from '../k3s/version';
import { APISERVER_PORT } from '../k3s/facts';
import { DEFAULTS } from './resolve';
import { INLINE_REGISTRY_AUTH } from './rules';

/** Editor help for one field of the cluster file: what it does, its default, sample values. */
export interface FieldDoc {
  readonly description: string;
  /** The value `resolveCluster` applies when the field is left out; absent where none is fixed. */
  readonly default?: unknown;
  readonly examples: readonly unknown[];
}

const VERSION = STARTER_K3S_VERSION;
const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmB0MUFrQs5sT1bcCbtS9nOZpSrRbRXmkY1uCNsVCqr ops@acme';
const LB_HOSTS = [{ name: 'lb-1', address: '10.0.0.5' }, { name: 'lb-2', address: '10.0.0.6' }];
const NODES = [
  { name: 'master-1', role: 'server', address: '10.0.0.11' },
  { name: 'master-2', role: 'server', address: '10.0.0.12' },
  { name: 'master-3', role: 'server', address: '10.0.0.13' },
  { name: 'worker-1', role: 'agent', address: '10.0.0.21', labels: { tier: 'app' } },
];
const NFS_TARGET = { name: 'nas', nfs: { server: '10.0.0.50', path: '/exports/k3s' } };
const S3_TARGET = { name: 'dr-bucket', s3: { endpoint: 's3.eu-west-1.amazonaws.com', bucket: 'acme-dr', region: 'eu-west-1', credentialsSecret: 'dr-s3' } };

/**
 * Hover text for every field of the cluster file, keyed by its path in the document
 * (`*` for an array item or a map value). Defaults are the ones `resolveCluster`
 * applies; the tests hold both to it and to the schema.
 */
export const FIELD_DOCS: Readonly<Record<string, FieldDoc>> = {
  '/apiVersion': { description: "The cluster file's format version.", examples: ['k3s-gitops/v1alpha1'] },
  '/kind': { description: 'The document kind: always Cluster.', examples: ['Cluster'] },
  '/metadata': { description: 'Identifies the cluster.', examples: [{ name: 'prod' }] },
  '/metadata/name': {
    description: "The cluster's name, a DNS-1123 label: the tree goes to dist/<name>/, every object is labelled part-of it, and it is the default folder of S3 backup copies.",
    examples: ['prod', 'lab'],
  },
  '/spec': {
    description: 'The cluster: its K3s release, nodes, API endpoint, networks, backups and GitOps.',
    examples: [{ k3s: { version: VERSION }, nodes: [{ name: 'server-1', role: 'server', address: '10.0.0.11' }] }],
  },

  '/spec/k3s': { description: 'The K3s release every node runs.', examples: [{ version: VERSION }, { version: VERSION, airgap: true }] },
  '/spec/k3s/version': {
    description: 'The pinned K3s release, vMAJOR.MINOR.PATCH+k3sN, never a channel: nodes install it and the upgrade Plans roll it out. A change moves up at most one minor version, never down.',
    examples: [VERSION],
  },
  '/spec/k3s/install': {
    description: "How nodes get K3s. online: the user-data runs the official installer (get.k3s.io). airgap: K3s's air-gap install from files staged on the machine (the binary at /usr/local/bin/k3s, the install script at /usr/local/bin/k3s-install.sh, and, without a registry, the images tarball in /var/lib/rancher/k3s/agent/images/); nothing is downloaded.",
    default: 'online',
    examples: ['airgap'],
  },
  '/spec/k3s/airgap': {
    description: 'The earlier spelling of install: airgap; install wins where both are set.',
    default: false,
    examples: [true],
  },
  '/spec/k3s/systemDefaultRegistry': {
    description: "K3s's system-default-registry (host[:port]): K3s pulls its system images from it, and every image of the tree (load balancer, backups, upgrades, certificate check) is prefixed with it the same way; `k3s-gitops images` lists them to mirror.",
    examples: ['registry.example.internal:5000'],
  },
  '/spec/bootstrapped': {
    description: 'Set true once the cluster runs: no server carries cluster-init any more, so a rebuilt first server joins instead of founding a new cluster. Once committed true, it cannot go back.',
    default: false,
    examples: [true],
  },

  '/spec/controlPlane': {
    description: 'How nodes and clients reach the Kubernetes API: the registration address, its certificate names and the load balancer that holds it.',
    examples: [{ endpoint: '10.0.0.100', dnsNames: ['k8s.example.com'], loadBalancer: { mode: 'daemonset' } }],
  },
  '/spec/controlPlane/endpoint': {
    description: "The fixed registration address, a VIP or DNS name in every server's tls-san, that nodes join through once bootstrapped. Required with more than one server or a load balancer (which holds it as a keepalived VIP, so an IP); otherwise the first server's address.",
    examples: ['10.0.0.100', 'k8s.example.internal'],
  },
  '/spec/controlPlane/dnsNames': {
    description: "More names for the API server's certificate: every server's tls-san holds them beside the endpoint from the start.",
    default: [],
    examples: [['k8s.example.com'], ['api.prod.acme.internal', 'k8s.acme.internal']],
  },
  '/spec/controlPlane/loadBalancer': {
    description: 'What holds the endpoint: HAProxy and keepalived on the servers (daemonset), on machines of their own (external), or nothing (none).',
    examples: [{ mode: 'daemonset' }, { mode: 'external', hosts: LB_HOSTS }],
  },
  '/spec/controlPlane/loadBalancer/mode': {
    description: "daemonset: a hostNetwork DaemonSet on the servers runs keepalived for the VIP and HAProxy over every server's apiserver. external: the same pair on the hosts machines, rendered under lb/ with their own user-data. none: for lab clusters, the endpoint is the first server.",
    default: DEFAULTS.loadBalancerMode,
    examples: ['daemonset', 'external'],
  },
  '/spec/controlPlane/loadBalancer/port': {
    description: `Where HAProxy listens: the endpoint's port. Defaults to ${DEFAULTS.daemonsetPort} in daemonset mode, as K3s holds ${APISERVER_PORT} on the servers, and ${DEFAULTS.externalPort} in external mode; mode none uses K3s's own ${APISERVER_PORT}.`,
    examples: [DEFAULTS.daemonsetPort, DEFAULTS.externalPort],
  },
  '/spec/controlPlane/loadBalancer/interface': {
    description: 'The network interface keepalived speaks VRRP on and puts the VIP on, on every server (daemonset) or LB machine (external).',
    default: DEFAULTS.vrrpInterface,
    examples: ['eth0', 'ens192'],
  },
  '/spec/controlPlane/loadBalancer/virtualRouterId': {
    description: "keepalived's VRRP virtual router id, 1-255: unique among the VRRP groups on the network segment.",
    default: DEFAULTS.virtualRouterId,
    examples: [51, 60],
  },
  '/spec/controlPlane/loadBalancer/advertInterval': {
    description: "Seconds between the VIP holder's VRRPv3 adverts, in hundredths (0.01-40.95). A backup takes over three missed adverts after the holder dies, so this sets how fast a crashed holder is replaced; a holder whose HAProxy stops gives the VIP up within a second whatever this is. Below 0.1 the adverts compete with a loaded machine's scheduler and packet loss; see the load-balancer guide for what the drill measured.",
    default: DEFAULTS.advertIntervalSeconds,
    examples: [0.2, 1],
  },
  '/spec/controlPlane/loadBalancer/hosts': {
    description: 'External mode only: the LB machines that run HAProxy and keepalived, two or more for HA; each gets lb/<name>/user-data.yaml.',
    default: [],
    examples: [LB_HOSTS],
  },
  '/spec/controlPlane/loadBalancer/hosts/*/name': {
    description: "The LB machine's hostname, a DNS-1123 label unique among nodes and LB machines.",
    examples: ['lb-1'],
  },
  '/spec/controlPlane/loadBalancer/hosts/*/address': {
    description: "The LB machine's IP address, where its keepalived peers reach it; in the VIP's family.",
    examples: ['10.0.0.5', 'fd00:10::5'],
  },

  '/spec/token': { description: 'Where every node reads the join token; its value never enters Git.', examples: [{ file: DEFAULTS.tokenFile }] },
  '/spec/token/file': {
    description: "Path of the join token on every node (K3s's token-file). The user-data stops before installing K3s unless the file is there and not empty; `k3s-gitops seed` writes it.",
    default: DEFAULTS.tokenFile,
    examples: [DEFAULTS.tokenFile, '/run/k3s/token'],
  },
  '/spec/token/agentFile': {
    description: "Path of a separate agent token. Servers accept agents with it (agent-token-file) and agents join with it, so no agent holds the server token, which opens etcd. `k3s-gitops seed` writes it (--agent-token-file or --agent-token-env). Unset: agents use the server token.",
    examples: ['/etc/rancher/k3s/agent-token'],
  },

  '/spec/nodes': {
    description: 'Every machine of the cluster. The first server founds it while bootstrapped is false; etcd needs an odd number of servers, 3 or 5 for HA.',
    examples: [NODES],
  },
  '/spec/nodes/*/name': {
    description: "The node's name (K3s's node-name) and hostname, a DNS-1123 subdomain unique in the cluster; its files go to nodes/<name>/.",
    examples: ['master-1', 'worker-1'],
  },
  '/spec/nodes/*/role': { description: 'server runs the control plane and an embedded etcd member; agent runs workloads only.', examples: ['server', 'agent'] },
  '/spec/nodes/*/address': {
    description: "The node's IP address (K3s's node-ip), or one IPv4 and one IPv6 comma-separated for dual-stack; the first is the one peers and commands use. It must be in clusterCidr's families and outside the pod and service ranges.",
    examples: ['10.0.0.11', '10.0.0.11,fd00::11'],
  },
  '/spec/nodes/*/externalAddress': {
    description: "The node's public address, or one per family comma-separated (K3s's node-external-ip).",
    examples: ['203.0.113.11', '203.0.113.11,2001:db8::11'],
  },
  '/spec/nodes/*/labels': {
    description: "Labels the node registers with (K3s's node-label). Keys under kubernetes.io or k8s.io are refused, except the ones the kubelet may set such as topology.kubernetes.io/zone and node.kubernetes.io/*.",
    default: {},
    examples: [{ tier: 'app' }, { 'topology.kubernetes.io/zone': 'a' }],
  },
  '/spec/nodes/*/taints': {
    description: "Taints the node registers with (K3s's node-taint), each key[=value]:Effect with Effect NoSchedule, PreferNoSchedule or NoExecute. The load balancer and backup jobs tolerate every taint a server carries.",
    default: [],
    examples: [['dedicated=db:NoSchedule'], ['CriticalAddonsOnly=true:NoExecute']],
  },
  '/spec/nodes/*/extraConfig': {
    description: "Raw K3s config.yaml keys for this node only, merged last and checked against its role's flags. Keys the cluster file sets and secrets are refused, and on a server so are keys every server must share.",
    default: {},
    examples: [{ 'kubelet-arg': ['max-pods=250'] }, { 'flannel-iface': 'eth1' }],
  },

  '/spec/network': {
    description: 'Pod and service networking, the same on every server.',
    examples: [{ clusterCidr: '10.52.0.0/16', serviceCidr: '10.53.0.0/16', clusterDns: '10.53.0.10' }],
  },
  '/spec/network/clusterCidr': {
    description: "Pod IP ranges (K3s's cluster-cidr), comma-separated for dual-stack, disjoint from serviceCidr and the nodes' addresses. Fixed when the cluster is created.",
    default: DEFAULTS.clusterCidr,
    examples: ['10.52.0.0/16', '10.42.0.0/16,fd00:42::/56'],
  },
  '/spec/network/serviceCidr': {
    description: "Service IP ranges (K3s's service-cidr), in the same families as clusterCidr. Fixed when the cluster is created.",
    default: DEFAULTS.serviceCidr,
    examples: ['10.53.0.0/16', '10.43.0.0/16,fd00:43::/112'],
  },
  '/spec/network/clusterDns': {
    description: "CoreDNS's Service IP (K3s's cluster-dns), inside serviceCidr. Fixed when the cluster is created.",
    default: DEFAULTS.clusterDns,
    examples: ['10.53.0.10', 'fd00:43::a'],
  },
  '/spec/network/clusterDomain': {
    description: "The cluster's DNS domain (K3s's cluster-domain). Fixed when the cluster is created.",
    default: DEFAULTS.clusterDomain,
    examples: ['cluster.local', 'prod.internal'],
  },
  '/spec/network/flannelBackend': {
    description: "Flannel's backend (K3s's flannel-backend); none turns flannel off for a CNI of your own.",
    default: DEFAULTS.flannelBackend,
    examples: ['wireguard-native', 'none'],
  },
  '/spec/disable': {
    description: "K3s packaged components not to deploy (K3s's disable), the same on every server.",
    default: [],
    examples: [['traefik'], ['traefik', 'servicelb']],
  },
  '/spec/secretsEncryption': {
    description: "Encrypts Secrets at rest (K3s's secrets-encryption on every server). Choose it before the cluster starts: once bootstrapped a change is refused, and RUNBOOK.md gives K3s's steps to disable or rotate.",
    default: false,
    examples: [true],
  },

  '/spec/etcd': { description: "K3s's etcd snapshots: when, how many, and K3s's own upload to S3.", examples: [{ snapshots: { schedule: '0 */6 * * *', retention: 7 } }] },
  '/spec/etcd/snapshots': { description: 'When K3s snapshots etcd on each server, and how many it keeps.', examples: [{ schedule: '0 */6 * * *', retention: 7 }] },
  '/spec/etcd/snapshots/schedule': {
    description: "Cron schedule of K3s's snapshots (etcd-snapshot-schedule-cron), read in each server's local time. The backup jobs fail when the newest snapshot is older than twice its interval.",
    default: DEFAULTS.snapshotSchedule,
    examples: ['0 */6 * * *', '0 */4 * * *'],
  },
  '/spec/etcd/snapshots/retention': {
    description: 'How many snapshots K3s keeps on each server (etcd-snapshot-retention); each backup target keeps as many copies.',
    default: DEFAULTS.snapshotRetention,
    examples: [7, 12],
  },
  '/spec/etcd/s3': {
    description: "K3s's own upload of every snapshot to S3 (etcd-s3). Its keys come from configSecret or the servers' environment, never from Git.",
    examples: [{ endpoint: 'minio.backup.example.internal:9000', bucket: 'k3s-snapshots', folder: 'prod', configSecret: 'k3s-etcd-s3' }],
  },
  '/spec/etcd/s3/endpoint': {
    description: 'The S3 endpoint as host[:port], without a scheme; insecure picks plain HTTP.',
    examples: ['s3.eu-west-1.amazonaws.com', 'minio.backup.example.internal:9000'],
  },
  '/spec/etcd/s3/bucket': { description: 'The bucket K3s uploads snapshots to.', examples: ['k3s-snapshots'] },
  '/spec/etcd/s3/folder': { description: "The folder in the bucket; without it, the bucket's root.", examples: ['prod'] },
  '/spec/etcd/s3/region': { description: "The bucket's region.", default: DEFAULTS.s3Region, examples: ['eu-west-1'] },
  '/spec/etcd/s3/configSecret': {
    description: "A kube-system Secret with the S3 settings and keys (etcd-s3-config-secret), from K3s v1.28.13, v1.29.8 and v1.30.4 on: config.yaml then carries only etcd-s3 and this name, and the tree has a template of the Secret. Without it, the keys come from the servers' environment.",
    examples: ['k3s-etcd-s3'],
  },
  '/spec/etcd/s3/insecure': { description: 'Reach the endpoint over plain HTTP instead of HTTPS (etcd-s3-insecure).', default: false, examples: [true] },

  '/spec/upgrades': {
    description: 'How the upgrades/ Plans roll out K3s versions and config.yaml changes.',
    examples: [{ controller: 'external' }, { agentConcurrency: 2 }],
  },
  '/spec/upgrades/controller': {
    description: 'bundled: upgrades/ installs a pinned system-upgrade-controller before its Plans; external: the cluster runs one already.',
    default: 'bundled',
    examples: ['external'],
  },
  '/spec/upgrades/agentConcurrency': {
    description: 'How many agents take a config change or a K3s upgrade at once; servers always go one at a time.',
    default: 1,
    examples: [2],
  },

  '/spec/certificates': { description: 'The certificate expiry alarm: a daily CronJob on every server.', examples: [{ warnDays: 30 }] },
  '/spec/certificates/warnDays': {
    description: 'The alarm Job fails when a K3s certificate on a server expires within this many days. K3s renews its 365-day certificates only when it starts within 90 days of their expiry.',
    default: DEFAULTS.certificateWarnDays,
    examples: [30, 60],
  },
  '/spec/monitoring': {
    description: "Alerts and scrape objects for a Prometheus run by prometheus-operator (kube-prometheus-stack): PrometheusRule, PodMonitor and ServiceMonitor objects in manifests/. They need the operator's CRDs in the cluster; without them GitOps cannot apply manifests/.",
    examples: [{ prometheusRules: true, namespace: 'monitoring', labels: { release: 'kube-prometheus-stack' }, etcdMetrics: true }],
  },
  '/spec/monitoring/prometheusRules': {
    description: "PrometheusRule objects with alerts for etcd (with etcdMetrics), snapshots and off-node copies, certificates, day-2 rollouts and the load balancer, thresholds from this file, each linking its RUNBOOK.md section; also HAProxy's Prometheus exporter on port 8404 and its scrape objects. Off: no object needs the operator's CRDs.",
    default: false,
    examples: [true],
  },
  '/spec/monitoring/namespace': {
    description: 'The namespace the monitoring objects go in, one the Prometheus watches (kube-prometheus-stack watches every namespace by default).',
    default: DEFAULTS.monitoringNamespace,
    examples: ['monitoring'],
  },
  '/spec/monitoring/labels': {
    description: "Labels on every monitoring object: what the Prometheus's ruleSelector, podMonitorSelector and serviceMonitorSelector match (kube-prometheus-stack matches release: <its Helm release> by default).",
    default: {},
    examples: [{ release: 'kube-prometheus-stack' }],
  },
  '/spec/monitoring/etcdMetrics': {
    description: "K3s's etcd-expose-metrics on every server (K3s then serves etcd's metrics over plain HTTP on the node's address, port 2381, as well as on loopback; changing it restarts the servers one at a time), and a Service and ServiceMonitor that scrape each server's :2381. The etcd alerts need it.",
    default: false,
    examples: [true],
  },
  '/spec/backup': {
    description: "Off-node copies of K3s's local snapshots: one CronJob per target, on a server, reading the snapshots read-only. Without it, snapshots stay on the servers (and in etcd.s3, if set).",
    examples: [{ schedule: '30 */6 * * *', targets: [NFS_TARGET] }],
  },
  '/spec/backup/schedule': {
    description: 'Cron schedule of the copy jobs, read in timeZone; set it after the snapshots, such as 30 minutes past them.',
    examples: ['30 */6 * * *', '20 */4 * * *'],
  },
  '/spec/backup/timeZone': {
    description: "The IANA time zone schedule is read in. K3s reads its snapshot schedule in each server's local time, so give the servers' zone to keep the copies after the snapshots.",
    default: DEFAULTS.backupTimeZone,
    examples: ['Europe/Berlin'],
  },
  '/spec/backup/targets': { description: 'Where the copies go; each target has exactly one of nfs or s3.', examples: [[NFS_TARGET], [NFS_TARGET, S3_TARGET]] },
  '/spec/backup/targets/*/name': { description: "The target's name, unique among targets; its CronJob is etcd-backup-<name>.", examples: ['nas', 'dr-bucket'] },
  '/spec/backup/targets/*/nfs': {
    description: 'An NFS export the copy job mounts; it must let root write. Servers get nfs-common installed for the mount.',
    examples: [NFS_TARGET.nfs],
  },
  '/spec/backup/targets/*/nfs/server': { description: "The NFS server's IP address or DNS name.", examples: ['10.0.0.50', 'nas.example.internal'] },
  '/spec/backup/targets/*/nfs/path': { description: 'The exported directory, an absolute path. Several clusters may share it: each keeps its copies in its own folder below it.', examples: ['/exports/k3s'] },
  '/spec/backup/targets/*/nfs/folder': {
    description: "The folder below the export that holds this cluster's copies; the job lists and prunes nothing outside it. Defaults to the cluster's name. Two clusters of one repository may not share one (BACKUP_TARGET_SHARED).",
    examples: ['prod', 'site-a/prod'],
  },
  '/spec/backup/targets/*/s3': {
    description: 'An S3 bucket the copy job uploads to with the AWS CLI, with the keys from credentialsSecret.',
    examples: [S3_TARGET.s3],
  },
  '/spec/backup/targets/*/s3/endpoint': {
    description: 'The S3 endpoint as host[:port], without a scheme; reached over HTTPS.',
    examples: ['s3.eu-west-1.amazonaws.com', 'minio.backup.example.internal:9000'],
  },
  '/spec/backup/targets/*/s3/bucket': { description: 'The bucket the copies go to.', examples: ['acme-dr'] },
  '/spec/backup/targets/*/s3/region': { description: "The bucket's region.", default: DEFAULTS.s3Region, examples: ['eu-west-1'] },
  '/spec/backup/targets/*/s3/folder': { description: "The folder in the bucket that holds this cluster's copies; the job lists and prunes nothing outside it. Defaults to the cluster's name. Two clusters of one repository may not share one (BACKUP_TARGET_SHARED).", examples: ['prod'] },
  '/spec/backup/targets/*/s3/credentialsSecret': {
    description: 'A Secret in k3s-gitops-system with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; the tree only names it.',
    examples: ['dr-s3'],
  },

  '/spec/gitops': {
    description: 'The objects, under flux/ or argocd/, that point the cluster at its manifests/ and upgrades/ in Git. Without it, none are emitted.',
    examples: [{ engine: 'flux', repository: 'https://github.com/acme/fleet.git' }],
  },
  '/spec/gitops/engine': {
    description: 'flux: a GitRepository and Kustomizations in flux-system; argocd: Applications in the argocd namespace.',
    examples: ['flux', 'argocd'],
  },
  '/spec/gitops/repository': {
    description: 'The Git repository that holds dist/, as an https://, ssh:// or git@ URL.',
    examples: ['https://github.com/acme/fleet.git', 'ssh://git@github.com/acme/fleet.git'],
  },
  '/spec/gitops/branch': { description: 'The branch Flux or Argo CD follows.', default: DEFAULTS.branch, examples: ['production'] },
  '/spec/gitops/secretName': {
    description: "Flux only: the Secret in flux-system with the repository's credentials; without it the repository must be public. Argo CD ignores it.",
    examples: ['fleet-git'],
  },
  '/spec/gitops/upgrades': {
    description: 'Whether GitOps also applies upgrades/: system-upgrade-controller and the Plans for K3s versions and config changes.',
    default: true,
    examples: [false],
  },

  '/spec/cloudInit': { description: "Additions to every node's user-data.", examples: [{ sshAuthorizedKeys: [SSH_KEY] }] },
  '/spec/cloudInit/sshAuthorizedKeys': {
    description: 'SSH public keys for the default user of every node and LB machine.',
    default: [],
    examples: [[SSH_KEY]],
  },
  '/spec/cloudInit/packages': { description: 'Distribution packages cloud-init installs on every node.', default: [], examples: [['open-iscsi'], ['open-iscsi', 'nfs-common']] },
  '/spec/cloudInit/preInstallCommands': {
    description: 'Shell commands every node runs before K3s is installed, after the token check.',
    default: [],
    examples: [['systemctl disable --now ufw']],
  },
  '/spec/cloudInit/postInstallCommands': {
    description: 'Shell commands every node runs once K3s is installed and started.',
    default: [],
    examples: [['systemctl enable --now iscsid']],
  },

  '/spec/extraConfig': {
    description: "Raw K3s config.yaml keys per role, laid over the compiler's keys.",
    examples: [{ servers: { 'kube-apiserver-arg': ['audit-log-maxage=30'] }, agents: { 'kubelet-arg': ['max-pods=250'] } }],
  },
  '/spec/extraConfig/servers': {
    description: "Raw K3s config.yaml keys for every server, checked against k3s server's flags; keys the cluster file sets and secrets are refused. data-dir, etcd-snapshot-dir and etcd-snapshot-name set here also tell the backup jobs where to look.",
    default: {},
    examples: [{ 'kube-apiserver-arg': ['audit-log-maxage=30'] }, { 'protect-kernel-defaults': true }],
  },
  '/spec/registries': {
    description: "K3s's registries.yaml (docs/installation/private-registry.md), written 0600 to /etc/rancher/k3s/registries.yaml on every node at first boot and rolled out like config.yaml after. Credentials stay files on the nodes.",
    examples: [{ mirrors: { 'docker.io': { endpoint: ['https://registry.example.internal:5000'] } } }],
  },
  '/spec/registries/mirrors': {
    description: 'Per registry name (or "*"), the endpoints containerd pulls from instead, tried in order before the registry itself.',
    examples: [{ 'docker.io': { endpoint: ['https://registry.example.internal:5000'] } }],
  },
  '/spec/registries/mirrors/*/endpoint': { description: 'Mirror URLs, http:// or https://.', examples: [['https://registry.example.internal:5000']] },
  '/spec/registries/mirrors/*/rewrite': {
    description: 'Regular expressions that rename images pulled from the mirror (the name only, not the tag).',
    examples: [{ '^rancher/(.*)': 'mirrors/rancher/$1' }],
  },
  '/spec/registries/configs': {
    description: 'Per registry host[:port] (or "*"): its credentials, as files on the node, and its TLS settings.',
    examples: [{ 'registry.example.internal:5000': { tls: { ca_file: '/etc/rancher/k3s/registry/ca.crt' } } }],
  },
  '/spec/registries/configs/*/auth': {
    description: 'Where the credentials sit on every node; the node fills them into registries.yaml. `k3s-gitops seed --registry-credential` puts them there.',
    examples: [{ username_file: '/etc/rancher/k3s/registry/username', password_file: '/etc/rancher/k3s/registry/password' }],
  },
  '/spec/registries/configs/*/auth/username_file': { description: 'File on the node holding the basic-auth user name (one line).', examples: ['/etc/rancher/k3s/registry/username'] },
  '/spec/registries/configs/*/auth/password_file': { description: 'File on the node holding the basic-auth password (one line).', examples: ['/etc/rancher/k3s/registry/password'] },
  '/spec/registries/configs/*/auth/auth_file': { description: "File on the node holding K3s's `auth` value, a basic-auth token, instead of a user name and password.", examples: ['/etc/rancher/k3s/registry/auth'] },
  ...Object.fromEntries(Object.entries(INLINE_REGISTRY_AUTH).map(([key, fileKey]) => [
    `/spec/registries/configs/*/auth/${key}`,
    { description: `Refused (SECRET_IN_CONFIG): dist/ is committed. Use ${fileKey}.`, examples: [`(refused: use ${fileKey})`] },
  ])),
  '/spec/registries/configs/*/tls': { description: "The registry's TLS: a private CA, a client certificate, or no verification.", examples: [{ ca_file: '/etc/rancher/k3s/registry/ca.crt' }] },
  '/spec/registries/configs/*/tls/ca_file': { description: "Path on the node of the CA that signed the registry's certificate.", examples: ['/etc/rancher/k3s/registry/ca.crt'] },
  '/spec/registries/configs/*/tls/cert_file': { description: 'Path on the node of the client certificate the registry asks for.', examples: ['/etc/rancher/k3s/registry/client.crt'] },
  '/spec/registries/configs/*/tls/key_file': { description: "Path on the node of that certificate's key.", examples: ['/etc/rancher/k3s/registry/client.key'] },
  '/spec/registries/configs/*/tls/insecure_skip_verify': { description: "Skip verifying the registry's certificate (K3s's default: verify).", examples: [true] },
  '/spec/extraConfig/agents': {
    description: "Raw K3s config.yaml keys for every agent, checked against k3s agent's flags; keys the cluster file sets and secrets are refused.",
    default: {},
    examples: [{ 'kubelet-arg': ['max-pods=250'] }],
  },
};

/** A JSON Schema object, as far as walking its fields needs. */
interface SchemaObject {
  properties?: Record<string, SchemaObject>;
  [keyword: string]: unknown;
}

const isSchemaObject = (value: unknown): value is SchemaObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Adds each field's doc to its sub-schema, in place, below `path`. */
function addDocs(schema: SchemaObject, path: string): void {
  const properties = schema.properties ?? {};
  for (const [name, field] of Object.entries(properties)) {
    const fieldPath = `${path}/${name}`;
    addDocs(field, fieldPath);
    const doc = FIELD_DOCS[fieldPath];
    if (!doc) continue;
    const { description, default: value, examples } = structuredClone(doc);
    properties[name] = { description, ...field, ...(value === undefined ? {} : { default: value }), examples };
  }
  for (const child of [schema.items, schema.additionalProperties]) if (isSchemaObject(child)) addDocs(child, `${path}/*`);
  for (const combinator of ['anyOf', 'oneOf', 'allOf']) {
    const branches = schema[combinator];
    if (Array.isArray(branches)) branches.filter(isSchemaObject).forEach((branch) => addDocs(branch, path));
  }
}

/**
 * A copy of `schema` with each field's description, default and examples from
 * FIELD_DOCS, for editors. The input is left as it is: ajv compiles it too.
 */
export function documentedSchema<T>(schema: T): T {
  // A JSON round trip, not structuredClone: fields share sub-schema objects (nonEmpty,
  // k3sConfigMap), and each field's copy needs its own to carry its own docs.
  const copy = JSON.parse(JSON.stringify(schema)) as SchemaObject;
  addDocs(copy, '');
  return copy as T;
}
