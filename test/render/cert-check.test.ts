import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CERT_CHECK_SCRIPT } from '../../src/render/cert-check-script';
import { IMAGES } from '../../src/images';
import { GOOD, hasCommand, loadCluster, parseManifests, tempDir, treeOf } from '../helpers';
import { shellcheckFailures } from '../tools';

/** The expiry alarm run for real on certificates openssl makes: K3s's layout, one about to expire. */
function certificate(dir: string, name: string, days: number): void {
  fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, name.replace(/\.crt$/, '.key')), '-out', path.join(dir, name), '-days', String(days), '-subj', `/CN=${path.basename(name)}`], { encoding: 'utf8' });
  expect(r.status).toBe(0);
}

function check(dirs: string[], warnDays = 30) {
  const script = path.join(tempDir('cert-check-'), 'cert-check.sh');
  fs.writeFileSync(script, CERT_CHECK_SCRIPT);
  return spawnSync('sh', [script], { encoding: 'utf8', timeout: 30_000, env: { PATH: process.env.PATH, CERT_DIRS: dirs.join(' '), WARN_DAYS: String(warnDays), NODE_NAME: 'master-1' } });
}

describe('the certificate expiry alarm', () => {
  beforeAll(() => {
    if (!hasCommand('openssl')) throw new Error('openssl is not installed; run .ci/run');
  });

  test('passes shellcheck', async () => {
    expect(await shellcheckFailures(new Map([['cert-check.sh', CERT_CHECK_SCRIPT]]))).toEqual([]);
  });

  test('passes when every certificate outlives the window, and counts them', () => {
    const server = tempDir('tls-');
    const agent = tempDir('agent-');
    certificate(server, 'client-admin.crt', 365);
    certificate(server, 'etcd/server-client.crt', 365);
    certificate(agent, 'serving-kubelet.crt', 365);
    fs.writeFileSync(path.join(server, 'not-a-cert.crt'), 'garbage\n');
    const r = check([server, agent]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('master-1: all 3 certificates valid for more than 30 days');
  });

  test('fails: a certificate expiring within warnDays names its file and date, and says what to do', () => {
    const server = tempDir('tls-');
    certificate(server, 'client-admin.crt', 365);
    certificate(server, 'serving-kube-apiserver.crt', 10);
    const r = check([server]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`certificate\\(s\\) expiring within 30 days: ${server}/serving-kube-apiserver.crt \\(\\w{3} +\\d+ [\\d:]+ \\d{4} GMT\\)`));
    expect(r.stderr).not.toContain('client-admin.crt');
    expect(r.stderr).toContain('RUNBOOK.md, Certificates');
    expect(check([server], 5).status).toBe(0);
  });

  test('fails: no certificate at all is a failure, not a pass', () => {
    const r = check([tempDir('empty-'), '/nonexistent']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('no certificate found');
  });
});

describe('the expiry CronJobs', () => {
  const c = loadCluster(path.join(GOOD, 'ha.yaml'), (t) => `${t}  certificates: { warnDays: 45 }\n`);
  const objects = parseManifests(treeOf(c).get('manifests/cert-expiry.k8s.yaml') as string);
  const crons = objects.filter((o) => o.kind === 'CronJob');

  test('one per server, pinned to it, reading its certificates read-only with a pinned image', () => {
    expect(crons.map((o) => o.metadata.name)).toEqual(['cert-expiry-master-1', 'cert-expiry-master-2', 'cert-expiry-master-3']);
    for (const [i, cron] of crons.entries()) {
      const pod = cron.spec.jobTemplate.spec.template.spec;
      expect(JSON.stringify(pod.affinity)).toContain(`"values":["master-${i + 1}"]`);
      const container = pod.containers[0];
      expect(container.image).toBe(IMAGES.openssl);
      expect(container.env).toContainEqual({ name: 'WARN_DAYS', value: '45' });
      expect(container.volumeMounts.every((m: { readOnly?: boolean }) => m.readOnly)).toBe(true);
      expect(pod.volumes.filter((v: { hostPath?: { path: string } }) => v.hostPath).map((v: { hostPath: { path: string } }) => v.hostPath.path)).toEqual(['/var/lib/rancher/k3s/server/tls', '/var/lib/rancher/k3s/agent']);
      expect(container.securityContext.capabilities).toEqual({ drop: ['ALL'] });
    }
  });
});
