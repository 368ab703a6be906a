import type { ResolvedCluster } from '../cluster-file/resolve';
import { yamlFile } from './text';

/** Where K3s reads its registry configuration on every node (docs/installation/private-registry.md). */
export const REGISTRIES_PATH = '/etc/rancher/k3s/registries.yaml';

/**
 * A value the node fills from a file: `k3s-gitops-file:/path`. The committed file names
 * each credential's file; the node writes K3s's file with the contents in their place.
 */
export const CREDENTIAL_REF = 'k3s-gitops-file:';

/** K3s's `auth` key each file key fills. */
const AUTH_KEYS = { username_file: 'username', password_file: 'password', auth_file: 'auth' } as const;

/** The credential files every node needs, sorted. */
export function registryCredentialFiles(c: ResolvedCluster): string[] {
  const files = Object.values(c.registries?.configs ?? {}).flatMap((config) => Object.keys(AUTH_KEYS).map((k) => config.auth?.[k as keyof typeof AUTH_KEYS]).filter((f): f is string => Boolean(f)));
  return [...new Set(files)].sort();
}

/** registries.yaml as committed: K3s's format, each credential a reference to its file. */
export function renderRegistries(c: ResolvedCluster): string | undefined {
  const r = c.registries;
  if (!r) return undefined;
  const configs = Object.fromEntries(Object.entries(r.configs ?? {}).map(([name, config]) => {
    const auth = Object.fromEntries(Object.entries(AUTH_KEYS).flatMap(([fileKey, key]) => {
      const file = config.auth?.[fileKey as keyof typeof AUTH_KEYS];
      return file ? [[key, `${CREDENTIAL_REF}${file}`]] : [];
    }));
    return [name, { ...(Object.keys(auth).length > 0 ? { auth } : {}), ...(config.tls ? { tls: config.tls } : {}) }];
  }));
  return yamlFile(c.source, { ...(r.mirrors ? { mirrors: r.mirrors } : {}), ...(Object.keys(configs).length > 0 ? { configs } : {}) });
}

/**
 * The shell function that fills a committed registries.yaml with the credentials on the
 * node: `fill_registries COMMITTED OUT ROOT` (ROOT: where the host's files are). Each
 * `key: k3s-gitops-file:/path` line becomes `key: "<contents>"`, YAML-escaped; a
 * missing, empty or multi-line credential fails. Shared by the node's first boot and
 * the day-2 rollout.
 */
export const FILL_REGISTRIES_FUNCTION = `fill_registries() {
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
      *": ${CREDENTIAL_REF}"* | *": \\"${CREDENTIAL_REF}"*)
        key=\${line%%: *}
        file=\${line#*${CREDENTIAL_REF}}
        file=\${file%\\"}
        [ -f "$3$file" ] || { echo "k3s-gitops: registry credential $file is missing" >&2; return 1; }
        [ "$(grep -c '' "$3$file")" -le 1 ] || { echo "k3s-gitops: registry credential $file has more than one line" >&2; return 1; }
        # A file saved on Windows ends in CR; any other control character has no place in one.
        value=$(tr -d '\\r' < "$3$file")
        [ -n "$value" ] || { echo "k3s-gitops: registry credential $file is empty" >&2; return 1; }
        if printf '%s' "$value" | grep -q '[[:cntrl:]]'; then echo "k3s-gitops: registry credential $file holds a control character" >&2; return 1; fi
        value=$(printf '%s' "$value" | sed 's/\\\\/\\\\\\\\/g; s/"/\\\\"/g')
        printf '%s: "%s"\\n' "$key" "$value"
        ;;
      *) printf '%s\\n' "$line" ;;
    esac
  done < "$1" > "$2"
}`;

/** The standalone script user-data runs at first boot: `fill-registries.sh COMMITTED OUT`. */
export const FILL_REGISTRIES_SCRIPT = `#!/bin/sh
# Writes K3s's registries.yaml from the committed one and the credential files on this machine.
set -eu
${FILL_REGISTRIES_FUNCTION}
umask 077
fill_registries "$1" "$2.k3s-gitops-new" ""
mv -f "$2.k3s-gitops-new" "$2"
`;
