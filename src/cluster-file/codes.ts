/**
 * Every diagnostic code, with the rule it stands for. Codes are stable: tests assert
 * codes and pointers, never wording, and users search for them; the reference page
 * docs/reference/errors.md is rendered from this list (a test keeps them in step, and
 * holds every code the compiler emits to an entry here).
 */
export interface CodeGroup {
  /** Codes of one rule; `YAML_*` stands for the yaml library's codes, prefixed. */
  readonly codes: readonly string[];
  /** Codes that only warn: they print, and the run goes on. */
  readonly warnings?: readonly string[];
  /** The rule, in Markdown. */
  readonly rule: string;
}

export const DIAGNOSTIC_CODES: readonly CodeGroup[] = [
  { codes: ['YAML_*', 'YAML_ALIAS_LIMIT'], rule: 'the file is not well-formed YAML (the suffix is the `yaml` library\'s code), has duplicate keys, several documents, or expands more than 200 aliases' },
  { codes: ['NOT_UTF8', 'FILE_TOO_LARGE'], rule: 'not UTF-8; over 1 MiB' },
  { codes: ['MISSING_FIELD', 'UNKNOWN_FIELD', 'WRONG_TYPE', 'NOT_ALLOWED', 'BAD_FORMAT', 'OUT_OF_RANGE', 'DUPLICATE_ITEM'], rule: 'JSON Schema (unknown fields are errors, so typos never pass silently)' },
  { codes: ['K3S_MINOR_SKIP', 'K3S_DOWNGRADE'], rule: '`synth` against a committed `dist/`: an upgrade that skips a minor version or goes backwards' },
  { codes: ['NO_GITOPS'], warnings: ['NO_GITOPS'], rule: 'no `spec.gitops`: nothing applies `manifests/` or `upgrades/` (no load balancer, backups or day 2)' },
  { codes: ['IMMUTABLE_KEY', 'BOOTSTRAP_REVERSED', 'FOUNDER_CHANGED', 'QUORUM_REMOVAL'], rule: 'against a committed `dist/`: what K3s cannot change on a running cluster (docs/guides/day-2.md)' },
  { codes: ['K3S_VERSION'], rule: '`k3s.version` is not `vMAJOR.MINOR.PATCH+k3sN` (a channel such as `stable` is refused)' },
  { codes: ['NO_SERVER', 'EVEN_SERVERS', 'SINGLE_SERVER'], warnings: ['SINGLE_SERVER'], rule: 'etcd quorum: servers must be odd' },
  { codes: ['DUPLICATE_NAME', 'DUPLICATE_ADDRESS', 'DUPLICATE_CLUSTER'], rule: 'names and addresses unique across nodes and LB hosts; one file per cluster name' },
  { codes: ['INVALID_ADDRESS'], rule: 'node, LB host and clusterDns addresses must be IPv4/IPv6; the endpoint an IP or DNS name' },
  { codes: ['ENDPOINT_REQUIRED', 'ENDPOINT_IS_NODE', 'ENDPOINT_NOT_IP'], rule: 'more than one server needs a fixed endpoint that is no node\'s address; a keepalived VIP must be an IP' },
  { codes: ['INVALID_CIDR', 'CIDR_OVERLAP', 'DNS_OUTSIDE_SERVICE_CIDR', 'ADDRESS_IN_CLUSTER_CIDR'], rule: 'CIDRs valid (no host bits) and disjoint, clusterDns inside serviceCidr, nodes outside both' },
  { codes: ['INVALID_CRON'], rule: 'schedules are 5-field cron expressions' },
  { codes: ['LB_PORT_CONFLICT'], rule: 'in daemonset mode the LB port is not a port K3s binds on servers (6443, 6444, 2379-2381, 10250, ...) nor in the NodePort range' },
  { codes: ['LB_HOSTS_REQUIRED', 'LB_HOSTS_UNUSED', 'LB_SINGLE_HOST'], warnings: ['LB_SINGLE_HOST'], rule: 'LB machines go with external mode, two or more for HA' },
  { codes: ['INVALID_LABEL', 'RESTRICTED_LABEL', 'INVALID_TAINT'], rule: 'label and taint syntax; labels in kubernetes.io / k8s.io namespaces that the kubelet may not set on itself (`node-role.kubernetes.io/*` among them)' },
  { codes: ['UNKNOWN_K3S_FLAG'], rule: 'an `extraConfig` key that is not a K3s flag for that role; agents silently ignore server flags, so we refuse them' },
  { codes: ['OWNED_KEY'], rule: 'an `extraConfig` key the cluster file already owns (e.g. `cluster-cidr`, `tls-san`, `server`)' },
  { codes: ['NODE_CRITICAL_KEY'], rule: 'a per-node key K3s requires identical on all servers (`cluster-cidr`, `egress-selector-mode`, `disable`, ...)' },
  { codes: ['ADDRESS_FAMILY'], rule: 'a node has one address, or one IPv4 and one IPv6 (dual-stack); its families equal clusterCidr\'s (K3s refuses to start otherwise, `pkg/agent/run.go`), serviceCidr\'s equal clusterCidr\'s, and every keepalived peer has an address in the VIP\'s family' },
  { codes: ['S3_ENDPOINT'], rule: 'S3 endpoints are `host[:port]`: K3s hands them to its S3 client as is and picks the scheme from `insecure`' },
  { codes: ['S3_CONFIG_SECRET_UNSUPPORTED'], rule: '`etcd.s3.configSecret` on a K3s release that does not read it (before v1.28.13, v1.29.8, v1.30.4)' },
  { codes: ['INVALID_TIME_ZONE'], rule: '`backup.timeZone` is not an IANA zone name' },
  { codes: ['SECRET_IN_CONFIG'], rule: 'a key that carries a secret (`token`, `agent-token`, `etcd-s3-secret-key`, ..., or a registry `username`/`password`/`auth`/`token` written inline), or a string shaped like a K3s join token anywhere in the file (a cloud-init command, a label): `dist/` is committed' },
  { codes: ['BACKUP_TARGET_KIND'], rule: 'a backup target must have exactly one of `nfs` or `s3`' },
  { codes: ['BACKUP_TARGET_SHARED'], rule: 'two clusters of one run whose copies would land in one place (the same NFS server, path and folder; the same S3 endpoint, bucket and folder, K3s\'s own `etcd.s3` upload included): each one\'s job would list and prune the other\'s' },
  { codes: ['AGENT_TOKEN_FILE'], rule: '`token.agentFile` is the server token\'s file' },
  { codes: ['REGISTRY_AUTH', 'INVALID_REGISTRY'], rule: 'basic auth comes as `username_file` and `password_file` together, or `auth_file`; `systemDefaultRegistry` is `host[:port]`' },
  { codes: ['SCHEMA'], rule: 'any other JSON Schema violation, with the validator\'s own words' },
];
