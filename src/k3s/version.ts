/** A K3s release, `vMAJOR.MINOR.PATCH+k3sN`. */
export interface K3sVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  readonly build: number;
}

/** The release `init` pins in a starter cluster file: the one the examples and tests use. */
export const STARTER_K3S_VERSION = 'v1.36.3+k3s1';

const VERSION = /^v(\d+)\.(\d+)\.(\d+)\+k3s(\d+)$/;

/** Parses a pinned K3s release, or undefined for anything else. */
export function parseK3sVersion(text: string): K3sVersion | undefined {
  const m = VERSION.exec(text);
  return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), build: Number(m[4]) } : undefined;
}

/** Orders releases; `+k3sN` counts, unlike in semver, because K3s re-releases with it. */
export function compareK3sVersions(a: K3sVersion, b: K3sVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch || a.build - b.build;
}

/** Why going from `from` to `to` is not a supported K3s upgrade, or undefined. */
export function upgradeProblem(from: K3sVersion, to: K3sVersion): { code: 'K3S_DOWNGRADE' | 'K3S_MINOR_SKIP'; reason: string } | undefined {
  if (compareK3sVersions(to, from) < 0) return { code: 'K3S_DOWNGRADE', reason: 'K3s does not support downgrades; restore a snapshot taken before the upgrade instead' };
  if (to.major !== from.major || to.minor > from.minor + 1) {
    return { code: 'K3S_MINOR_SKIP', reason: `Kubernetes upgrades one minor version at a time: go to v${from.major}.${from.minor + 1}.x first` };
  }
  return undefined;
}

/**
 * The first release of each minor line that reads S3 settings from
 * `etcd-s3-config-secret`: "S3 Configuration Secret support is available as of the
 * August 2024 releases: v1.30.4+k3s1, v1.29.8+k3s1, v1.28.13+k3s1" (k3s-io/docs,
 * docs/cli/etcd-snapshot.md). Every minor after v1.30 has it from its first release.
 */
const S3_CONFIG_SECRET_SINCE: Readonly<Record<string, number>> = { '1.28': 13, '1.29': 8, '1.30': 4 };

/** Whether a release reads `etcd-s3-config-secret`. */
export function supportsS3ConfigSecret(v: K3sVersion): boolean {
  if (v.major !== 1) return v.major > 1;
  if (v.minor > 30) return true;
  const since = S3_CONFIG_SECRET_SINCE[`1.${v.minor}`];
  return since !== undefined && v.patch >= since;
}

/**
 * `k3s secrets-encrypt rotate-keys`: "Available as of the September 2024 releases:
 * v1.30.5+k3s1, v1.31.1+k3s1" (k3s-io/docs, docs/cli/secrets-encrypt.md). Older
 * releases rotate with prepare, rotate and reencrypt.
 */
export function supportsRotateKeys(v: K3sVersion): boolean {
  if (v.major !== 1) return v.major > 1;
  if (v.minor !== 30 && v.minor !== 31) return v.minor > 31;
  return v.patch >= (v.minor === 30 ? 5 : 1);
}
