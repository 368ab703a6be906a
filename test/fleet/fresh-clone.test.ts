import * as path from 'node:path';
import { ROOT, readmeBlock, tempDir } from '../helpers';
import { installOffline, integrityOf, npmCacheWithout, packInto, run } from './offline-install';

/**
 * A fleet repository made as docs/guides/fleet-repository.md says, line by line, then
 * cloned afresh as CI checks it out: on the clone, with only what the guide's commit
 * step committed, `npm ci` and `npm run check` must pass. It differs from a user's run
 * in two places: the tarball is this checkout's, packed, where the guide says
 * /path/to/...; and `npm install`, which needs the registry, is the lock it would write
 * and `npm ci --offline` (offline-install.ts). The clone installs with a copy of npm's
 * cache that lacks k3s-gitops's tarball, as a CI runner's first run does, so only the
 * committed vendor/ can provide it.
 */

/** Git as a user's, without this machine's configuration (a signing key, hooks) in the way. */
const GIT_ENV = {
  GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: 'Fleet Operator', GIT_AUTHOR_EMAIL: 'ops@example.internal', GIT_COMMITTER_NAME: 'Fleet Operator', GIT_COMMITTER_EMAIL: 'ops@example.internal',
};
// A fresh npm cache has no record of npm's last update check, so npm would look online and print a notice.
const ENV = { ...GIT_ENV, npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

/** Runs shell lines in order, stopping at the first that fails; what the failure said, else undefined. */
function runLines(lines: readonly string[], cwd: string): string | undefined {
  const r = run('sh', ['-ec', lines.join('\n')], cwd, ENV);
  return r.status === 0 ? undefined : `exit ${r.status}\n${r.stdout}${r.stderr}`;
}

test('a fleet repository made as the guide says passes `npm ci` and `npm run check` on a fresh clone', () => {
  const tarball = packInto(tempDir('pack-'));
  const lines = readmeBlock('fleet repository', 'docs/guides/fleet-repository.md');
  const install = lines.findIndex((l) => l.startsWith('npm install '));
  // The guide names the tarball `npm pack` makes.
  expect(lines[install]).toBe(`npm install --save-exact ./vendor/${path.basename(tarball)}`);
  expect(lines.filter((l) => l.includes(`/path/to/${path.basename(tarball)}`))).toHaveLength(1);

  const parent = tempDir('fleet-');
  expect(runLines(lines.slice(0, install).map((l) => l.replace(`/path/to/${path.basename(tarball)}`, tarball)), parent)).toBeUndefined();
  const fleet = path.join(parent, 'fleet');
  installOffline(fleet, path.join(fleet, 'vendor', path.basename(tarball)));
  expect(runLines(lines.slice(install + 1), fleet)).toBeUndefined();

  // The guide's commit step left nothing behind that Git does not ignore.
expect(run('git', ['status', '--porcelain', '--untracked-files=all'], fleet, ENV).stdout).toBe('');
  const committed = run('git', ['ls-files'], fleet, ENV).stdout.split('\n');
for (const f of ['.gitignore', 'package.json', 'package-lock.json', `vendor/${path.basename(tarball)}`, '.github/workflows/k3s-gitops.yml', 'clusters/prod.yaml', 'dist/prod/RUNBOOK.md']) expect(committed).toContain(f);
  expect(committed.filter((f) => f.startsWith('node_modules/'))).toEqual([]);

  const clone = path.join(tempDir('clone-'), 'fleet');
  expect(run('git', ['clone', '-q', fleet, clone], parent, ENV).status).toBe(0);
  const cache = npmCacheWithout(integrityOf(tarball), tempDir('npm-cache-'));
  const ci = run('npm', ['ci', '--offline'], clone, { ...ENV, npm_config_cache: cache });
  expect({ status: ci.status, stderr: ci.stderr }).toEqual({ status: 0, stderr: '' });
  const check = run('npm', ['run', 'check'], clone, { ...ENV, npm_config_cache: cache });
  expect({ status: check.status, stderr: check.stderr }).toEqual({ status: 0, stderr: '' });
  expect(check.stdout).toContain('dist is up to date');

  // As the guide says, `npx cdk8s` is no command here: cdk8s-cli is not installed, and the cdk8s library has no bin.
  const PATH = (process.env.PATH ?? '').split(path.delimiter).filter((p) => !p.startsWith(ROOT)).join(path.delimiter);
  const cdk8s = run('npx', ['cdk8s', 'synth'], clone, { ...ENV, PATH, CDK8S_CHECK_UPGRADE: 'false', npm_config_cache: cache });
  expect({ status: cdk8s.status, stderr: cdk8s.stderr }).toEqual({ status: 1, stderr: expect.stringContaining('could not determine executable to run') });
}, 300_000);
