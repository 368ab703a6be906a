import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../helpers';

/**
 * Installing k3s-gitops into a fleet repository without the network, as
 * `npm install --save-exact ./vendor/k3s-gitops-<version>.tgz` (and
 * `npm install --save-dev cdk8s-cli`) would online. Offline, npm can resolve no version
 * range, so `npm install` cannot run; `npm ci --offline` resolves nothing: it installs
 * exactly a lock, taking each tarball from the cache this project's own `npm ci` filled.
 * So the fleet gets the lock `npm install` would have written there: every package the
 * fleet's dependencies need, at the version and position this project's
 * package-lock.json holds it, and k3s-gitops from the tarball.
 */

type LockEntry = {
  name?: string; version?: string; devDependencies?: Record<string, string>; resolved?: string; integrity?: string; license?: string;
  dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>; bin?: unknown; engines?: unknown;
  dev?: boolean; optional?: boolean; devOptional?: boolean; peer?: boolean;
};

/** Runs a command; the result's status and output, never a throw. */
export function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 180_000, env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Packs this project as `npm pack` does (lib/ is already built: `npm test` builds first); the tarball's path. */
export function packInto(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const pack = run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], ROOT);
  if (pack.status !== 0) throw new Error(`npm pack failed:\n${pack.stderr}`);
  return path.join(dir, pack.stdout.trim().split('\n').pop() as string);
}

/** A file's integrity as npm writes it in a lock. */
export function integrityOf(file: string): string {
  return `sha512-${createHash('sha512').update(fs.readFileSync(file)).digest('base64')}`;
}

/**
 * A copy of npm's cache without one tarball, as a CI runner's cold cache lacks it. npm
 * finds a tarball in its cache by its integrity alone, so a clone whose vendor/ was
 * never committed would still install here, from what the cache kept when the fleet
 * was made. Content files are hard links (cacache never changes one in place); the
 * index, which npm appends to, is copied.
 */
export function npmCacheWithout(integrity: string, into: string): string {
  const cache = path.join(run('npm', ['config', 'get', 'cache'], ROOT).stdout.trim(), '_cacache');
  const copy = path.join(into, '_cacache');
  fs.cpSync(path.join(cache, 'index-v5'), path.join(copy, 'index-v5'), { recursive: true });
  const hex = Buffer.from(integrity.replace(/^sha512-/, ''), 'base64').toString('hex');
  const left = path.join(cache, 'content-v2', 'sha512', hex.slice(0, 2), hex.slice(2, 4), hex.slice(4));
  const link = (from: string, to: string) => {
    for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
      const [a, b] = [path.join(from, entry.name), path.join(to, entry.name)];
      if (entry.isDirectory()) {
        fs.mkdirSync(b, { recursive: true });
        link(a, b);
      } else if (a !== left) {
        try {
          fs.linkSync(a, b);
        } catch {
          fs.copyFileSync(a, b);
        }
      }
    }
  };
  fs.mkdirSync(path.join(copy, 'content-v2'), { recursive: true });
  link(path.join(cache, 'content-v2'), path.join(copy, 'content-v2'));
  return into;
}

/**
 * Where node finds `dep` from the package at lock path `from`: its own node_modules,
 * then each enclosing one up to the root's.
 */
function resolveIn(packages: Record<string, LockEntry>, from: string, dep: string): string | undefined {
  for (let base = from; ; base = base.includes('/node_modules/') ? base.slice(0, base.lastIndexOf('/node_modules/')) : '') {
    const at = `${base === '' ? '' : `${base}/`}node_modules/${dep}`;
    if (packages[at]) return at;
    if (base === '') return undefined;
  }
}

/** The lock paths of every package the named root-level packages need, themselves included. */
function closure(packages: Record<string, LockEntry>, names: readonly string[]): Set<string> {
  const seen = new Set<string>();
  const stack = names.map((n) => `node_modules/${n}`);
  while (stack.length > 0) {
    const at = stack.pop() as string;
    if (seen.has(at)) continue;
    seen.add(at);
    const e = packages[at];
    if (!e) throw new Error(`${at} is not in this project's package-lock.json`);
    const required = Object.keys({ ...e.dependencies, ...e.peerDependencies }).filter((d) => !e.peerDependenciesMeta?.[d]?.optional);
    for (const dep of required) {
      const found = resolveIn(packages, at, dep);
      if (!found) throw new Error(`${at} needs ${dep}, which this project's package-lock.json does not hold`);
      stack.push(found);
    }
    for (const dep of Object.keys(e.optionalDependencies ?? {})) {
      const found = resolveIn(packages, at, dep);
      if (found) stack.push(found);
    }
  }
  return seen;
}

/**
 * Adds k3s-gitops from `tarball` (a path inside the fleet) to the fleet's package.json,
 * and this project's devDependencies named in `devDependencies` at the versions it
 * pins, writes the lock `npm install` would write, and installs it with
 * `npm ci --offline`.
 */
export function installOffline(fleet: string, tarball: string, devDependencies: readonly string[] = []): void {
  const own = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  const ownLock: Record<string, LockEntry> = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')).packages;
  const spec = `file:${path.relative(fleet, tarball).split(path.sep).join('/')}`;
  const pkgFile = path.join(fleet, 'package.json');
  const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8'));
  pkg.dependencies = { ...pkg.dependencies, 'k3s-gitops': spec };
  if (devDependencies.length > 0) pkg.devDependencies = { ...pkg.devDependencies, ...Object.fromEntries(devDependencies.map((d) => [d, own.devDependencies[d]])) };
  fs.writeFileSync(pkgFile, `${JSON.stringify(pkg, null, 2)}\n`);

  // k3s-gitops's dependencies land at the fleet's root, where this project has them.
  const runtime = closure(ownLock, Object.keys(own.dependencies));
  const dev = closure(ownLock, devDependencies);
  const entry = (at: string): LockEntry => {
    const { dev: _d, optional: _o, devOptional: _do, peer: _p, ...rest } = ownLock[at];
    return runtime.has(at) ? rest : { ...rest, dev: true };
  };
  const integrity = integrityOf(tarball);
  const packages: Record<string, LockEntry> = {
    '': { name: pkg.name, version: pkg.version, license: pkg.license, dependencies: pkg.dependencies, devDependencies: pkg.devDependencies },
    ...Object.fromEntries([...new Set([...runtime, ...dev])].sort().map((at) => [at, entry(at)])),
    'node_modules/k3s-gitops': { version: own.version, resolved: spec, integrity, license: own.license, dependencies: own.dependencies, bin: own.bin, engines: own.engines },
  };
  fs.writeFileSync(path.join(fleet, 'package-lock.json'), `${JSON.stringify({ name: pkg.name, version: pkg.version, lockfileVersion: 3, requires: true, packages }, null, 2)}\n`);
  const install = run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], fleet);
  if (install.status !== 0) throw new Error(`npm ci --offline failed:\n${install.stderr}`);
}
