/**
 * The certificate expiry alarm, run daily on every server by a CronJob with K3s's
 * certificate folders mounted read-only. It fails, so the Job shows failed, when any
 * certificate expires within WARN_DAYS.
 *
 * Why a warning is needed: K3s client and server certificates last 365 days and are
 * renewed only when K3s starts within 90 days of their expiry (k3s-io/docs,
 * docs/advanced.md, "Certificate Management"); a server that runs untouched for a year
 * lets them lapse. `openssl x509 -checkend N` exits 1 when the certificate expires
 * within N seconds. A bundle's first certificate is its own; the CAs after it last 10
 * years and are checked in their own files.
 */
export const CERT_CHECK_SCRIPT = `#!/bin/sh
# Fails when a K3s certificate on this node expires within WARN_DAYS days.
set -eu
: "\${CERT_DIRS:?}" "\${WARN_DAYS:?}"
NODE_NAME=\${NODE_NAME:-this node}
window=$((WARN_DAYS * 86400))

checked=0
expiring=""
for dir in $CERT_DIRS; do
  [ -d "$dir" ] || continue
  for cert in $(find "$dir" -maxdepth 2 -name '*.crt' -type f | sort); do
    end=$(openssl x509 -in "$cert" -noout -enddate 2>/dev/null) || { echo "skipped $cert: not a certificate"; continue; }
    checked=$((checked + 1))
    if ! openssl x509 -in "$cert" -noout -checkend "$window" >/dev/null; then
      expiring="$expiring $cert (\${end#notAfter=})"
    fi
  done
done

[ "$checked" -gt 0 ] || { echo "FAILED: no certificate found in $CERT_DIRS on $NODE_NAME" >&2; exit 1; }
if [ -n "$expiring" ]; then
  echo "FAILED: on $NODE_NAME, certificate(s) expiring within $WARN_DAYS days:$expiring. Restart K3s on this server (it renews certificates within 90 days of expiry) or run k3s certificate rotate; see RUNBOOK.md, Certificates" >&2
  exit 1
fi
echo "$NODE_NAME: all $checked certificates valid for more than $WARN_DAYS days"
`;
