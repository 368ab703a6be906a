import type { JSONSchemaType } from 'ajv';
import { FLANNEL_BACKENDS, PACKAGED_COMPONENTS } from '../k3s/facts';
import type { BackupTarget, ClusterFile, K3sConfigMap, NodeSpec, RegistriesSpec } from './types';

/** RFC 1123 label: what Kubernetes accepts as a namespace or a cluster's folder name. */
export const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/**
 * A folder below an NFS export: relative, `/`-separated names of letters, digits, `.`,
 * `_` and `-`, none of them `.` or `..` (each starts with a letter, digit or `_`), so
 * it can never leave the export.
 */
export const RELATIVE_FOLDER = '^[A-Za-z0-9_][A-Za-z0-9._-]*(/[A-Za-z0-9_][A-Za-z0-9._-]*)*$';
/** RFC 1123 subdomain: what Kubernetes accepts as a node name. */
export const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

/**
 * keepalived's VRRPv3 advert interval, in seconds: a count of hundredths (RFC 5798
 * section 5.2.7, a 12-bit field of centiseconds, so 40.95 at most; keepalived masks it
 * with 0x0FFF, vrrp/vrrp.c vrrp_build_vrrp_v3), and no less than 0.01 (vrrp_parser.c
 * vrrp_adv_handler).
 */
export const ADVERT_INTERVAL_LIMITS = { minimum: 0.01, maximum: 40.95, step: 0.01 } as const;
const nonEmpty = { type: 'string', minLength: 1, maxLength: 4096 } as const;
const optionalString = { type: 'string', minLength: 1, maxLength: 4096, nullable: true } as const;
const optionalBool = { type: 'boolean', nullable: true } as const;
/** Kubernetes labels: values up to 63 characters, keys up to a 253-character prefix, a slash and a 63-character name. */
const labelMap = {
  type: 'object',
  additionalProperties: { type: 'string', maxLength: 63 },
  propertyNames: { maxLength: 317 },
  required: [],
  nullable: true,
} as const;
const stringList = { type: 'array', items: { type: 'string', minLength: 1, maxLength: 4096 }, maxItems: 1000, nullable: true } as const;

// The value union (string | number | boolean | string[]) is beyond what
// JSONSchemaType can express, so this one sub-schema is cast; the rest is checked.
const k3sConfigMap = {
  type: 'object',
  propertyNames: { pattern: '^[a-z0-9][a-z0-9-]*$', maxLength: 100 },
  additionalProperties: {
    anyOf: [
      { type: 'string', maxLength: 4096 },
      { type: 'number' },
      { type: 'boolean' },
      { type: 'array', items: { type: 'string', maxLength: 4096 }, maxItems: 1000 },
    ],
  },
  required: [],
  nullable: true,
} as unknown as JSONSchemaType<K3sConfigMap | undefined> & { nullable: true };

const node: JSONSchemaType<NodeSpec> = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'role', 'address'],
  properties: {
    name: { type: 'string', pattern: DNS_SUBDOMAIN, maxLength: 253 },
    role: { type: 'string', enum: ['server', 'agent'] },
    address: nonEmpty,
    externalAddress: optionalString,
    labels: labelMap,
    taints: stringList,
    extraConfig: k3sConfigMap,
  },
};

/** An absolute path on a node: where a secret lives, never the secret. */
export const NODE_PATH = '^/[^\\s]*$';
const nodePath = { type: 'string', pattern: NODE_PATH, maxLength: 4096, nullable: true } as const;
const registryName = { pattern: '^(\\*|[A-Za-z0-9.-]+(:[0-9]{1,5})?)$', maxLength: 253 } as const;

const registries: JSONSchemaType<RegistriesSpec | undefined> & { nullable: true } = {
  type: 'object',
  additionalProperties: false,
  required: [],
  nullable: true,
  properties: {
    mirrors: {
      type: 'object',
      propertyNames: registryName,
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['endpoint'],
        properties: {
          endpoint: { type: 'array', items: { type: 'string', pattern: '^https?://[^\\s]+$', maxLength: 2048 }, minItems: 1, maxItems: 20 },
          rewrite: { type: 'object', additionalProperties: { type: 'string', maxLength: 1024 }, propertyNames: { maxLength: 1024 }, required: [], nullable: true },
        },
      },
      required: [],
      nullable: true,
    },
    configs: {
      type: 'object',
      propertyNames: registryName,
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: [],
        properties: {
          auth: {
            type: 'object',
            additionalProperties: false,
            required: [],
            nullable: true,
            properties: {
              username_file: nodePath, password_file: nodePath, auth_file: nodePath,
              username: optionalString, password: optionalString, auth: optionalString, token: optionalString, identity_token: optionalString,
            },
          },
          tls: {
            type: 'object',
            additionalProperties: false,
            required: [],
            nullable: true,
            properties: { ca_file: nodePath, cert_file: nodePath, key_file: nodePath, insecure_skip_verify: optionalBool },
          },
        },
      },
      required: [],
      nullable: true,
    },
  },
};

const backupTarget: JSONSchemaType<BackupTarget> = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', pattern: DNS_LABEL, maxLength: 40 },
    nfs: {
      type: 'object',
      additionalProperties: false,
      required: ['server', 'path'],
      properties: {
        server: nonEmpty,
        path: { type: 'string', pattern: '^/', maxLength: 4096 },
        folder: { type: 'string', pattern: RELATIVE_FOLDER, maxLength: 253, nullable: true },
      },
      nullable: true,
    },
    s3: {
      type: 'object',
      additionalProperties: false,
      required: ['endpoint', 'bucket', 'credentialsSecret'],
      properties: {
        endpoint: nonEmpty,
        bucket: nonEmpty,
        region: optionalString,
        folder: optionalString,
        credentialsSecret: { type: 'string', pattern: DNS_SUBDOMAIN, maxLength: 253 },
      },
      nullable: true,
    },
  },
};

/**
 * The JSON Schema of the cluster file. Typed against `ClusterFile`, so the compiler
 * refuses a schema that drifts from the types; published as
 * `schema/cluster.schema.json` for editors.
 */
export const clusterSchema: JSONSchemaType<ClusterFile> = {
  $id: 'https://k3s-gitops.dev/schema/v1alpha1/cluster.json',
  title: 'k3s-gitops Cluster',
  type: 'object',
  additionalProperties: false,
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
  properties: {
    apiVersion: { type: 'string', const: 'k3s-gitops/v1alpha1' },
    kind: { type: 'string', const: 'Cluster' },
    metadata: {
      type: 'object',
      additionalProperties: false,
      required: ['name'],
      properties: { name: { type: 'string', pattern: DNS_LABEL, maxLength: 63 } },
    },
    spec: {
      type: 'object',
      additionalProperties: false,
      required: ['k3s', 'nodes'],
      properties: {
        k3s: {
          type: 'object',
          additionalProperties: false,
          required: ['version'],
          properties: {
            version: nonEmpty,
            install: { type: 'string', enum: ['online', 'airgap'], nullable: true },
            airgap: optionalBool,
            systemDefaultRegistry: { type: 'string', minLength: 1, maxLength: 253, nullable: true },
          },
        },
        bootstrapped: optionalBool,
        controlPlane: {
          type: 'object',
          additionalProperties: false,
          required: [],
          nullable: true,
          properties: {
            endpoint: optionalString,
            dnsNames: { type: 'array', items: { type: 'string', pattern: DNS_SUBDOMAIN, maxLength: 253 }, maxItems: 100, nullable: true },
            loadBalancer: {
              type: 'object',
              additionalProperties: false,
              required: [],
              nullable: true,
              properties: {
                mode: { type: 'string', enum: ['daemonset', 'external', 'none'], nullable: true },
                port: { type: 'integer', minimum: 1, maximum: 65535, nullable: true },
                interface: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,15}$', nullable: true },
                virtualRouterId: { type: 'integer', minimum: 1, maximum: 255, nullable: true },
                advertInterval: { type: 'number', minimum: ADVERT_INTERVAL_LIMITS.minimum, maximum: ADVERT_INTERVAL_LIMITS.maximum, multipleOf: ADVERT_INTERVAL_LIMITS.step, nullable: true },
                hosts: {
                  type: 'array',
                  maxItems: 20,
                  nullable: true,
                  items: {
                    type: 'object',
                    additionalProperties: false,
                    required: ['name', 'address'],
                    properties: { name: { type: 'string', pattern: DNS_LABEL, maxLength: 63 }, address: nonEmpty },
                  },
                },
              },
            },
          },
        },
        token: {
          type: 'object',
          additionalProperties: false,
          required: [],
          nullable: true,
          properties: {
            file: nodePath,
            agentFile: nodePath,
          },
        },
        nodes: { type: 'array', items: node, minItems: 1, maxItems: 5000 },
        network: {
          type: 'object',
          additionalProperties: false,
          required: [],
          nullable: true,
          properties: {
            clusterCidr: optionalString,
            serviceCidr: optionalString,
            clusterDns: optionalString,
            clusterDomain: { type: 'string', pattern: DNS_SUBDOMAIN, maxLength: 253, nullable: true },
            flannelBackend: { type: 'string', enum: [...FLANNEL_BACKENDS], nullable: true },
          },
        },
        disable: { type: 'array', items: { type: 'string', enum: [...PACKAGED_COMPONENTS] }, uniqueItems: true, nullable: true },
        secretsEncryption: optionalBool,
        etcd: {
          type: 'object',
          additionalProperties: false,
          required: [],
          nullable: true,
          properties: {
            snapshots: {
              type: 'object',
              additionalProperties: false,
              required: [],
              nullable: true,
              properties: {
                schedule: optionalString,
                retention: { type: 'integer', minimum: 1, maximum: 1000, nullable: true },
              },
            },
            s3: {
              type: 'object',
              additionalProperties: false,
              required: ['endpoint', 'bucket'],
              nullable: true,
              properties: {
                endpoint: nonEmpty,
                bucket: nonEmpty,
                folder: optionalString,
                region: optionalString,
                configSecret: { type: 'string', pattern: DNS_SUBDOMAIN, maxLength: 253, nullable: true },
                insecure: optionalBool,
              },
            },
          },
        },
        upgrades: {
          type: 'object',
          additionalProperties: false,
          required: [],
          nullable: true,
          properties: {
            controller: { type: 'string', enum: ['bundled', 'external'], nullable: true },
            agentConcurrency: { type: 'integer', minimum: 1, maximum: 1000, nullable: true },
          },
        },
        certificates: {
          type: 'object',
          additionalProperties: false,
          required: [],
          nullable: true,
          properties: { warnDays: { type: 'integer', minimum: 1, maximum: 365, nullable: true } },
        },
        monitoring: {
          type: 'object',
          additionalProperties: false,
          required: [],
          nullable: true,
          properties: {
            prometheusRules: optionalBool,
            namespace: { type: 'string', pattern: DNS_LABEL, maxLength: 63, nullable: true },
            labels: labelMap,
            etcdMetrics: optionalBool,
          },
        },
        backup: {
          type: 'object',
          additionalProperties: false,
          required: ['schedule', 'targets'],
          nullable: true,
          properties: {
            schedule: nonEmpty,
            timeZone: optionalString,
            targets: { type: 'array', items: backupTarget, minItems: 1, maxItems: 20 },
          },
        },
        gitops: {
          type: 'object',
          additionalProperties: false,
          required: ['engine', 'repository'],
          nullable: true,
          properties: {
            engine: { type: 'string', enum: ['flux', 'argocd'] },
            repository: { type: 'string', pattern: '^(https?|ssh)://|^git@', maxLength: 4096 },
            branch: optionalString,
            secretName: { type: 'string', pattern: DNS_SUBDOMAIN, maxLength: 253, nullable: true },
            upgrades: optionalBool,
          },
        },
        cloudInit: {
          type: 'object',
          additionalProperties: false,
          required: [],
          nullable: true,
          properties: {
            sshAuthorizedKeys: stringList,
            packages: { type: 'array', items: { type: 'string', pattern: '^[a-z0-9][a-z0-9+.:=~-]*$', maxLength: 200 }, maxItems: 200, nullable: true },
            preInstallCommands: stringList,
            postInstallCommands: stringList,
          },
        },
        extraConfig: {
          type: 'object',
          additionalProperties: false,
          required: [],
          nullable: true,
          properties: { servers: k3sConfigMap, agents: k3sConfigMap },
        },
        registries,
      },
    },
  },
};
