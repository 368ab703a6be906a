import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { analyzeSpec, synthesizeCluster } from '../src/compile';
import type { ResolvedCluster } from '../src/cluster-file/resolve';

export const ROOT = path.resolve(__dirname, '..');
export const CLI = path.join(ROOT, 'lib', 'src', 'cli.js');
export const GOOD = path.join(ROOT, 'test', 'fixtures', 'good');
export const BAD = path.join(ROOT, 'test', 'fixtures', 'bad');

/** The valid fixtures plus the shipped example, by file name. */
export function goodFixtures(): string[] {
  return [...fs.readdirSync(GOOD).map((f) => path.join(GOOD, f)), path.join(ROOT, 'clusters', 'example.yaml')].sort();
}

/** Loads a valid cluster file, failing the test with its diagnostics if it is not. */
export function loadCluster(file: string, edit: (text: string) => string = (t) => t): ResolvedCluster {
  const source = path.relative(ROOT, file);
  const result = analyzeSpec(source, edit(fs.readFileSync(file, 'utf8')));
  if (!result.cluster) throw new Error(`${source} is invalid:\n${result.diagnostics.map((d) => `${d.code} ${d.pointer} ${d.message}`).join('\n')}`);
  return result.cluster;
}

/** The tree of one cluster, keyed by the path under dist/<cluster>/. */
export function treeOf(c: ResolvedCluster): Map<string, string> {
  return new Map([...synthesizeCluster(c)].map(([k, v]) => [k.slice(c.name.length + 1), v]));
}

/** Parses a generated YAML file. */
export const parseYaml = (text: string): any => parse(text);

/** Every directory tempDir made in this test file, for removeTempDirs. */
const tempDirs: string[] = [];

/** A fresh temporary directory, removed after the test file (test/setup.ts). */
export function tempDir(prefix = 'k3s-gitops-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** Removes every directory tempDir made; jest runs it after each test file. */
export function removeTempDirs(): void {
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** Runs the compiled CLI as users do. */
export function runCli(args: string[], opts: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: opts.cwd ?? ROOT, input: opts.input, encoding: 'utf8', env: { ...process.env, ...opts.env }, timeout: 30000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The lines of the code block that follows `<!-- test: NAME -->` in a document of the
 * repository (README.md unless `file` names another, such as a guide under docs/), a
 * line ending in `\` joined to the next: what a test runs as the document prints it.
 */
export function readmeBlock(name: string, file = 'README.md'): string[] {
  return markedBlock('test', name, file).replace(/\\\n\s*/g, '').trim().split('\n');
}

/**
 * The text of the fenced code block that follows `<!-- KIND: NAME -->` in a document of
 * the repository, as printed, up to the fence that closes it at the start of a line (a
 * ``` inside a line, as in a workflow's echo, is the block's own). The marker travels
 * with its block when a section moves.
 */
export function markedBlock(kind: string, name: string, file: string): string {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const m = new RegExp(`<!-- ${kind}: ${name} -->\\n\`\`\`[\\w-]*\\n([\\s\\S]*?\\n)\`\`\`(?=\\n|$)`).exec(text);
  if (!m) throw new Error(`${file} has no code block after <!-- ${kind}: ${name} -->`);
  return m[1];
}

/**
 * Whether this process runs as root. The drills (test/drill/) and `keepalived -t` run in
 * network namespaces of their own, which only root may create; `sudo bash .ci/run` runs
 * the whole suite so. Elsewhere those tests are skipped, each saying so in one line.
 */
export const IS_ROOT = process.getuid?.() === 0;

/** Says, in one line of the run's output, which root-only test or block is skipped and how to run it. */
function sayNeedsRoot(kind: string, name: string): void {
  const file = path.relative(ROOT, expect.getState().testPath ?? '');
  process.stdout.write(`skipped: ${file ? `${file}: ` : ''}${kind} "${name}" needs root (namespaces, chroot); run sudo bash .ci/run\n`);
}

/** `describe` for a block whose tests create namespaces or chroot: skipped unless root, saying so. */
export function describeAsRoot(name: string, fn: () => void): void {
  if (IS_ROOT) return describe(name, fn);
  sayNeedsRoot('block', name);
  describe.skip(name, fn);
}

/** `test` for one that creates namespaces or chroot: skipped unless root, saying so. */
export function testAsRoot(name: string, fn: jest.ProvidesCallback, timeout?: number): void {
  if (IS_ROOT) return test(name, fn, timeout);
  sayNeedsRoot('test', name);
  test.skip(name, fn, timeout);
}

/** Whether a command exists on this machine. */
export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Every object in a multi-document YAML file. */
export function parseManifests(text: string): any[] {
  return text.split(/^---$/m).map((d) => parse(d)).filter((d) => d);
}

/** Every Kubernetes object a cluster's manifests/ holds. */
export function manifestObjects(tree: Map<string, string>): any[] {
  return [...tree].filter(([k]) => k.startsWith('manifests/') && k.endsWith('.k8s.yaml')).flatMap(([, v]) => parseManifests(v));
}
