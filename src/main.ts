/**
 * The app `npx cdk8s synth` runs (cdk8s.yaml): the same compilation as
 * `k3s-gitops synth`, written into the out dir cdk8s chooses.
 */
import { main } from './cli';

process.exitCode = main(['synth', '--out', process.env.CDK8S_OUTDIR ?? 'dist'], {
  cwd: process.cwd(),
  stdin: () => '',
  out: (t) => process.stdout.write(`${t}\n`),
  err: (t) => process.stderr.write(`${t}\n`),
});
