import { Chart, Cron, Duration, Size } from 'cdk8s';
import * as kplus from 'cdk8s-plus-28';
import type { Construct } from 'constructs';
import { CERT_NAMES, JOB_DEADLINES, SYSTEM_NAMESPACE } from '../names';
import { clusterImage, IMAGES } from '../images';
import { CERT_CHECK_SCRIPT } from '../render/cert-check-script';
import type { ResolvedCluster } from '../cluster-file/resolve';
import { commonLabels, dropAllCapabilities, HOST_READER_SECURITY, serverTaintKeys } from './common';

/** Daily, early, UTC: a failure is on the Jobs list by the working day. */
const SCHEDULE = { minute: '17', hour: '5' } as const;

/**
 * One CronJob per server, pinned to it by its hostname label (K3s sets the kubelet's
 * hostname to the node name), reading that server's certificates read-only: K3s keeps
 * them under <data-dir>/server/tls and the kubelet's under <data-dir>/agent.
 */
export class CertificateExpiryChart extends Chart {
  constructor(scope: Construct, id: string, c: ResolvedCluster) {
    super(scope, id, { disableResourceNameHashes: true, namespace: SYSTEM_NAMESPACE });
    const labels = commonLabels(c.name, 'cert-expiry');
    const script = new kplus.ConfigMap(this, 'script', { metadata: { name: CERT_NAMES.configMap, labels }, data: { 'cert-check.sh': CERT_CHECK_SCRIPT } });
    const serviceAccount = new kplus.ServiceAccount(this, 'sa', { metadata: { name: CERT_NAMES.serviceAccount, labels }, automountToken: false });
    for (const server of c.servers) {
      const id = `server-${server.name}`;
      const cron = new kplus.CronJob(this, id, {
        metadata: { name: CERT_NAMES.cronJob(server.name), labels },
        podMetadata: { labels },
        schedule: Cron.schedule(SCHEDULE),
        timeZone: 'Etc/UTC',
        concurrencyPolicy: kplus.ConcurrencyPolicy.FORBID,
        startingDeadline: Duration.hours(1),
        successfulJobsRetained: 1,
        failedJobsRetained: 3,
        activeDeadline: Duration.seconds(JOB_DEADLINES.certificateCheckSeconds),
        backoffLimit: 0,
        serviceAccount,
        automountServiceAccountToken: false,
        restartPolicy: kplus.RestartPolicy.NEVER,
        securityContext: { ensureNonRoot: false },
      });
      cron.scheduling.attract(kplus.Node.labeled(kplus.NodeLabelQuery.is('kubernetes.io/hostname', server.name)));
      for (const key of serverTaintKeys(c)) cron.scheduling.tolerate(kplus.Node.tainted(kplus.NodeTaintQuery.exists(key)));
      const tls = kplus.Volume.fromHostPath(this, `${id}-tls`, 'server-tls', { path: `${c.dataDir}/server/tls`, type: kplus.HostPathVolumeType.DIRECTORY });
      const agent = kplus.Volume.fromHostPath(this, `${id}-agent`, 'agent', { path: `${c.dataDir}/agent`, type: kplus.HostPathVolumeType.DIRECTORY });
      cron.addContainer({
        name: 'check',
        image: clusterImage(c, IMAGES.openssl),
        imagePullPolicy: kplus.ImagePullPolicy.IF_NOT_PRESENT,
        command: ['/bin/sh', '/scripts/cert-check.sh'],
        envVariables: {
          CERT_DIRS: kplus.EnvValue.fromValue('/certs/server /certs/agent'),
          WARN_DAYS: kplus.EnvValue.fromValue(String(c.certificates.warnDays)),
          NODE_NAME: kplus.EnvValue.fromValue(server.name),
        },
        volumeMounts: [
          { path: '/certs/server', volume: tls, readOnly: true },
          { path: '/certs/agent', volume: agent, readOnly: true },
          { path: '/scripts', volume: kplus.Volume.fromConfigMap(this, `${id}-script`, script, { name: 'script' }), readOnly: true },
        ],
        // Root only to enter K3s's root-only tls folder; no capability at all.
        securityContext: HOST_READER_SECURITY,
        resources: { cpu: { request: kplus.Cpu.millis(10), limit: kplus.Cpu.millis(200) }, memory: { request: Size.mebibytes(16), limit: Size.mebibytes(64) } },
      });
      dropAllCapabilities(cron);
    }
  }
}
