/** A K3s release, `vMAJOR.MINOR.PATCH+k3sN`. */
export interface K3sVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  readonly build: number;
}

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
