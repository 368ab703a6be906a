import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { hasCommand, tempDir } from './helpers';
import { mountAtEtcKeepalived, writeKeepalivedDir, type KeepalivedLayout, type VolumeFile } from './kubelet-volume';
import { prometheusOperatorFailures } from './prometheus-operator-model';

const run = promisify(execFile);

/**
 * The real tools that consume our artifacts. CI installs them (.ci/run); a developer
 * without one sees the test fail with the reason, never a silent pass.
 */
export function requireTool(cmd: string): void {
  if (!hasCommand(cmd)) throw new Error(`${cmd} is not installed; run .ci/run or apt-get install it`);
}

/** Runs `cloud-init schema -c` over each document; returns the failures with the tool's words. */
export async function cloudInitSchemaFailures(docs: ReadonlyMap<string, string>): Promise<string[]> {
  requireTool('cloud-init');
  const dir = tempDir('cloud-init-');
  const checks = [...docs].map(async ([name, text], i) => {
    const file = path.join(dir, `${i}.yaml`);
    fs.writeFileSync(file, text);
    try {
      const { stdout } = await run('cloud-init', ['schema', '-c', file]);
      return stdout.includes('Valid cloud-config') ? undefined : `${name}: ${stdout}`;
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string };
      return `${name}: ${err.stderr ?? ''}${err.stdout ?? ''}`;
    }
  });
  return (await Promise.all(checks)).filter((x): x is string => x !== undefined);
}

/** The kubernetes-models class for an object's apiVersion and kind, if we know the group. */
function modelFor(apiVersion: string, kind: string): (new (data: unknown) => { validate(): void }) | undefined {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  let module: string;
  if (group === '') module = `kubernetes-models/${version}/${kind}`;
  else if (group.endsWith('.fluxcd.io')) module = `@kubernetes-models/flux-cd/${group}/${version}/${kind}`;
  else if (group === 'argoproj.io') module = `@kubernetes-models/argo-cd/${group}/${version}/${kind}`;
  else module = `kubernetes-models/${group}/${version}/${kind}`;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(module) as Record<string, new (data: unknown) => { validate(): void }>)[kind];
  } catch {
    return undefined;
  }
}

/**
 * Validates Kubernetes objects against their OpenAPI schemas (kubernetes-models,
 * offline; prometheus-operator's kinds against test/prometheus-operator-model.ts). An
 * object of a kind no model covers is itself a failure.
 */
export function kubernetesSchemaFailures(objects: readonly { apiVersion: string; kind: string; metadata?: { name?: string } }[]): string[] {
  return objects.flatMap((o) => {
    if (o.apiVersion.startsWith('monitoring.coreos.com/')) {
      const failures = prometheusOperatorFailures(o);
      if (!failures) return [`${o.apiVersion}/${o.kind}: no schema to validate against`];
      return failures.map((f) => `${o.kind}/${o.metadata?.name}: ${f.instancePath} ${f.keyword} ${JSON.stringify(f.params)}`);
    }
    const Model = modelFor(o.apiVersion, o.kind);
    if (!Model) return [`${o.apiVersion}/${o.kind}: no schema to validate against`];
    try {
      new Model(o).validate();
      return [];
    } catch (e) {
      return [`${o.kind}/${o.metadata?.name}: ${(e as Error).message}`];
    }
  });
}

/** What keepalived -t checks: every `*.conf` in a folder it sees at /etc/keepalived. */
export interface KeepalivedDir {
  /** Names the failures. */
  readonly label: string;
  /** 'kubelet' for the daemonset's ConfigMap volume (test/kubelet-volume.ts), 'files' for an LB machine's. */
  readonly layout: KeepalivedLayout;
  readonly files: ReadonlyMap<string, VolumeFile>;
}

/**
 * Runs `keepalived -t` on each config of each folder inside a throwaway network
 * namespace that has the configured interface (keepalived refuses a config naming an
 * absent one), with the folder at /etc/keepalived through a bind mount, laid out as
 * on the machine or in the pod. keepalived only logs, and drops the check, when a
 * tracked script is missing, not executable or unsafe (a ConfigMap volume's 0777 root):
 * that counts as a failure too.
 */
export async function keepalivedFailures(dirs: readonly KeepalivedDir[], iface: string): Promise<string[]> {
  requireTool('keepalived');
  requireTool('ip');
  const ns = `k3g-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  const root = tempDir('keepalived-');
  await run('ip', ['netns', 'add', ns]);
  try {
    await run('ip', ['netns', 'exec', ns, 'ip', 'link', 'add', iface, 'type', 'veth', 'peer', 'name', `${ns.slice(0, 8)}p`]);
    await run('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', iface, 'up']);
    const failures: string[] = [];
    for (const [i, d] of dirs.entries()) {
      const dir = path.join(root, String(i));
      writeKeepalivedDir(dir, d.layout, d.files);
      for (const file of [...d.files.keys()].filter((f) => f.endsWith('.conf'))) {
        const name = `${d.label}:${file}`;
        try {
          const { stdout, stderr } = await run('ip', ['netns', 'exec', ns, 'sh', '-c', `${mountAtEtcKeepalived(d.layout)} && exec keepalived -t -f "/etc/keepalived/$1"`, dir, file]);
          if (/disabling|insecure|unsafe|not found|cannot be accessed/i.test(stdout + stderr)) failures.push(`${name}: ${stdout}${stderr}`);
        } catch (e) {
          const err = e as { stderr?: string; stdout?: string; code?: number };
          failures.push(`${name}: exit ${err.code} ${err.stderr ?? ''}${err.stdout ?? ''}`);
        }
      }
    }
    return failures;
  } finally {
    await run('ip', ['netns', 'del', ns]);
    fs.rmSync(root, { recursive: true, force: true });
  }
}

/** Runs `haproxy -c -f` on each config. */
export async function haproxyFailures(configs: ReadonlyMap<string, string>): Promise<string[]> {
  requireTool('haproxy');
  const dir = tempDir('haproxy-');
  const checks = [...configs].map(async ([name, text], i) => {
    const file = path.join(dir, `${i}.cfg`);
    fs.writeFileSync(file, text);
    try {
      await run('haproxy', ['-c', '-f', file]);
      return undefined;
    } catch (e) {
      const err = e as { stderr?: string; stdout?: string };
      return `${name}: ${err.stderr ?? ''}${err.stdout ?? ''}`;
    }
  });
  return (await Promise.all(checks)).filter((x): x is string => x !== undefined);
}

/** Runs shellcheck on each script, as POSIX sh unless told bash. */
export async function shellcheckFailures(scripts: ReadonlyMap<string, string>, shell: 'sh' | 'bash' = 'sh'): Promise<string[]> {
  requireTool('shellcheck');
  const dir = tempDir('shellcheck-');
  const checks = [...scripts].map(async ([name, text], i) => {
    const file = path.join(dir, `${i}.sh`);
    fs.writeFileSync(file, text.startsWith('#!') ? text : `#!/bin/${shell}\n${text}\n`);
    try {
      await run('shellcheck', ['-s', shell, file]);
      return undefined;
    } catch (e) {
      const err = e as { stdout?: string };
      return `${name}: ${err.stdout ?? ''}`;
    }
  });
  return (await Promise.all(checks)).filter((x): x is string => x !== undefined);
}

/**
 * Builds a folder with `kubectl kustomize`; undefined when kubectl is absent (the
 * caller says so and skips), else the output or the error.
 */
export async function kustomize(dir: string): Promise<{ ok: boolean; output: string } | undefined> {
  if (!hasCommand('kubectl')) return undefined;
  try {
    const { stdout } = await run('kubectl', ['kustomize', dir], { maxBuffer: 64 * 1024 * 1024 });
    return { ok: true, output: stdout };
  } catch (e) {
    return { ok: false, output: (e as { stderr?: string }).stderr ?? String(e) };
  }
}

/**
 * Runs promtool (Debian's `prometheus` package) with `args` in `dir`: `check rules` on
 * rule files, `test rules` on unit-test files. Returns its exit status and everything
 * it printed, which names the failing rule or test.
 */
export async function promtool(args: readonly string[], dir: string): Promise<{ ok: boolean; output: string }> {
  requireTool('promtool');
  try {
    const { stdout, stderr } = await run('promtool', [...args], { cwd: dir, maxBuffer: 64 * 1024 * 1024 });
    return { ok: true, output: `${stdout}${stderr}` };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, output: `${err.stdout ?? ''}${err.stderr ?? ''}` };
  }
}
