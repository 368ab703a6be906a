import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CommittedCluster } from './history/committed';
import { checkAgainstCommitted } from './history/rules';
import { planCluster, type ClusterPlan } from './history/plan';
import { type Diagnostic, hasErrors, locate, parseClusterFile, type ParsedClusterFile, sortDiagnostics, type SourceFile } from './cluster-file';
import { joinTokensIn } from './cluster-file/secrets';
import { checkRules, sharedCopyLocations } from './cluster-file/rules';
import { resolveCluster, type ResolvedCluster } from './cluster-file/resolve';
import { renderK3sConfig } from './render/k3s-config';
import { renderNodeUserData } from './render/user-data';
import { renderHaproxyCfg } from './render/haproxy-cfg';
import { renderKeepalivedConf, vrrpPeers } from './render/keepalived-conf';
import { renderLbUserData } from './render/lb-user-data';
import { renderRunbook } from './render/runbook';
import { GENERATED_MARK } from './render/text';
import { renderRegistries } from './render/registries';
import { REGISTRIES_FILE } from './names';
import { renderS3SecretTemplate, S3_SECRET_TEMPLATE } from './render/etcd-s3-secret';

/** Larger cluster files are refused before parsing: no real cluster needs 1 MiB of YAML. */
export const MAX_SPEC_BYTES = 1024 * 1024;

/** One cluster file after loading, schema, defaults and rules. */
export interface AnalyzedSpec {
  readonly file: string;
  readonly source?: SourceFile;
  readonly cluster?: ResolvedCluster;
  readonly diagnostics: Diagnostic[];
}

/** The generated tree: paths relative to the out dir, POSIX separators, sorted. */
export type FileTree = ReadonlyMap<string, string>;

/** A user mistake that is not in a cluster file: a missing file, a bad flag. */
export class UsageError extends Error {}

/**
 * Loads one cluster file's text and runs every check. Pure. `source` is the path
 * shown in messages and in the generated-by line.
 */
export function analyzeSpec(source: string, text: string): AnalyzedSpec {
  const parsed = parseClusterFile(source, text);
  const tokens = plantedTokens(parsed, text);
  if (!parsed.cluster) return { file: source, source: parsed.source, diagnostics: [...parsed.diagnostics, ...tokens] };
  const cluster = resolveCluster(parsed.cluster, source);
  const ruled = checkRules(cluster).map((f) => locate(parsed.source, f));
  // A rule that already refuses the key (SECRET_IN_CONFIG for an inline token) says it.
  const diagnostics = [...ruled, ...tokens.filter((t) => !ruled.some((d) => d.code === t.code && d.pointer === t.pointer))];
  return hasErrors(diagnostics) ? { file: source, source: parsed.source, diagnostics } : { file: source, source: parsed.source, cluster, diagnostics };
}

/**
 * K3s join tokens written anywhere in a well-formed file, each a SECRET_IN_CONFIG: one
 * in a cloud-init command or a label would be committed in dist/. Most files hold no
 * "K10" at all, and skip the walk.
 */
function plantedTokens(parsed: ParsedClusterFile, text: string): Diagnostic[] {
  if (parsed.source.doc.errors.length > 0 || !/K10[0-9a-f]{16}/i.test(text)) return [];
  return joinTokensIn(parsed.source.doc).map((f) => locate(parsed.source, f));
}

/** The path as it appears in messages and generated files: relative to the repository root, POSIX style. */
export function displayPath(file: string, cwd: string): string {
  const absolute = path.resolve(cwd, file);
  const base = repositoryRoot(path.dirname(absolute)) ?? cwd;
  const rel = path.relative(base, absolute);
  return (rel.startsWith('..') || path.isAbsolute(rel) ? absolute : rel).split(path.sep).join('/');
}

/**
 * The repository a cluster file lives in: the nearest folder up from it with `.git` or
 * `package.json`. Files name their spec relative to it, so the output does not depend
 * on the folder the command ran in or on how the path was written.
 */
function repositoryRoot(dir: string): string | undefined {
  for (let d = dir; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, '.git')) || fs.existsSync(path.join(d, 'package.json'))) return d;
    if (path.dirname(d) === d) return undefined;
  }
}

/** Reads and analyzes cluster files; refuses oversized and non-UTF-8 files before parsing. */
export function analyzeFiles(files: readonly string[], cwd: string): AnalyzedSpec[] {
  const results = files.map((file): AnalyzedSpec => {
    const source = displayPath(file, cwd);
    let bytes: Buffer;
    try {
      const stat = fs.statSync(path.resolve(cwd, file));
      if (!stat.isFile()) throw new UsageError(`${source} is not a file`);
      if (stat.size > MAX_SPEC_BYTES) {
        return { file: source, diagnostics: [{ code: 'FILE_TOO_LARGE', severity: 'error', file: source, pointer: '', line: 1, col: 1, message: `file is ${stat.size} bytes; a cluster file may be at most ${MAX_SPEC_BYTES}` }] };
      }
      bytes = fs.readFileSync(path.resolve(cwd, file));
    } catch (e) {
      if (e instanceof UsageError) throw e;
      throw new UsageError(`cannot read ${source}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      return { file: source, diagnostics: [{ code: 'NOT_UTF8', severity: 'error', file: source, pointer: '', line: 1, col: 1, message: 'file is not valid UTF-8' }] };
    }
    return analyzeSpec(source, text);
  });
  return withUnsharedCopyLocations(withUniqueClusterNames(results));
}

/** Two clusters of the run whose copies would land in one place (see `sharedCopyLocations`). */
function withUnsharedCopyLocations(results: AnalyzedSpec[]): AnalyzedSpec[] {
  const findings = sharedCopyLocations(results.flatMap((r) => (r.cluster && r.source ? [{ file: r.file, cluster: r.cluster }] : [])));
  let next = 0;
  return results.map((r) => {
    if (!r.cluster || !r.source) return r;
    const found = findings[next++];
    if (found.length === 0) return r;
    const source = r.source;
    return { file: r.file, source, diagnostics: [...r.diagnostics, ...found.map((f) => locate(source, f))] };
  });
}

/** Two files naming the same cluster would write the same dist/ folder. */
function withUniqueClusterNames(results: AnalyzedSpec[]): AnalyzedSpec[] {
  const seen = new Map<string, string>();
  return results.map((r) => {
    if (!r.cluster) return r;
    const first = seen.get(r.cluster.name);
    if (first === undefined) {
      seen.set(r.cluster.name, r.file);
      return r;
    }
    const d: Diagnostic = { code: 'DUPLICATE_CLUSTER', severity: 'error', file: r.file, pointer: '/metadata/name', line: 1, col: 1, message: `cluster name "${r.cluster.name}" is already used by ${first}; each cluster needs its own dist/ folder` };
    return { file: r.file, diagnostics: [...r.diagnostics, d] };
  });
}

/**
 * Refuses what a commit may not do to a running cluster, comparing each cluster with
 * the tree committed for it (see `committedTrees`).
 */
export function checkAgainstCommittedTrees(committed: (cluster: string) => CommittedCluster | undefined, results: readonly AnalyzedSpec[]): AnalyzedSpec[] {
  return results.map((r) => {
    if (!r.cluster || !r.source) return r;
    const findings = checkAgainstCommitted(r.cluster, committed(r.cluster.name));
    if (findings.length === 0) return r;
    const source = r.source;
    return { file: r.file, source, diagnostics: [...r.diagnostics, ...findings.map((f) => locate(source, f))] };
  });
}

/** What applying the specs does to each node of each cluster, against the committed trees. */
export function planClusters(clusters: readonly ResolvedCluster[], committed: (cluster: string) => CommittedCluster | undefined): ClusterPlan[] {
  return clusters.map((c) => planCluster(c, committed(c.name), new Map(c.nodes.map((n) => [n.name, renderK3sConfig(c, n)]))));
}

/** A unified diff of one drifted file, cut to `maxLines`, for CI logs. */
export function shortDiff(rel: string, before: string, after: string, maxLines = 20): string {
  // Loaded only when something drifted: most runs never need it.
  const { createTwoFilesPatch } = require('diff') as typeof import('diff');
  const lines = createTwoFilesPatch(`a/${rel}`, `b/${rel}`, before, after, '', '', { context: 1 }).split('\n').slice(1).filter((l) => l !== '');
  const cut = lines.length > maxLines ? [...lines.slice(0, maxLines), `... ${lines.length - maxLines} more line(s)`] : lines;
  return cut.join('\n');
}

/** All diagnostics of a run, in file order. */
export function allDiagnostics(results: readonly AnalyzedSpec[]): Diagnostic[] {
  return sortDiagnostics(results.flatMap((r) => r.diagnostics));
}

/** Where the out dir sits in the repository: GitOps objects point there. */
export const DEFAULT_DIST = 'dist';

/**
 * Every file of one cluster, keyed by its path under the out dir. Pure and
 * deterministic. `dist` is the out dir relative to the repository root.
 */
export function synthesizeCluster(c: ResolvedCluster, dist: string = DEFAULT_DIST): Map<string, string> {
  const files = new Map<string, string>([...renderNodeSideFiles(c)].map(([rel, content]) => [`${c.name}/${rel}`, content]));
  // cdk8s loads only here, so validate and explain stay fast.
  const { buildKubernetesFiles } = require('./charts') as typeof import('./charts');
  for (const [rel, content] of buildKubernetesFiles(c, `${dist}/${c.name}`)) files.set(`${c.name}/${rel}`, content);
  return files;
}

/**
 * Every file of a cluster that is not a Kubernetes object, keyed by its path under the
 * cluster's folder: node configs and user-data, load balancer machines' files,
 * RUNBOOK.md, templates.
 */
export function renderNodeSideFiles(c: ResolvedCluster): Map<string, string> {
  const files = new Map<string, string>();
  const put = (rel: string, content: string) => files.set(rel, content);
  const registries = renderRegistries(c);
  for (const node of c.nodes) {
    const config = renderK3sConfig(c, node);
    put(`nodes/${node.name}/config.yaml`, config);
    put(`nodes/${node.name}/user-data.yaml`, renderNodeUserData(c, node, {}, config, registries));
  }
  if (c.loadBalancer.mode === 'external') {
    put('lb/haproxy.cfg', renderHaproxyCfg(c, 'syslog'));
    const peers = vrrpPeers(c);
    for (const host of peers) {
      put(`lb/keepalived-${host.name}.conf`, renderKeepalivedConf(c, peers, host));
      put(`lb/${host.name}/user-data.yaml`, renderLbUserData(c, peers, host));
    }
  }
  if (registries) put(REGISTRIES_FILE, registries);
  put('RUNBOOK.md', renderRunbook(c));
  const s3Secret = renderS3SecretTemplate(c);
  if (s3Secret) put(S3_SECRET_TEMPLATE, s3Secret);
  return files;
}

/** The whole tree for a set of clusters, sorted by path. */
export function synthesize(clusters: readonly ResolvedCluster[], dist: string = DEFAULT_DIST): FileTree {
  const all = clusters.flatMap((c) => [...synthesizeCluster(c, dist)]);
  return new Map(all.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** What readTree records for a symlink, socket or device: equal to no generated file. */
const NOT_A_FILE = '\u0000not a regular file';

/** Reads every file under a directory into a tree keyed like `synthesize` output. */
export function readTree(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  if (!fs.existsSync(dir)) return files;
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(child);
      // A symlink is never followed: it could point anywhere. It differs from every
      // generated file, so the next write replaces it with a real one.
      else files.set(child, entry.isFile() ? fs.readFileSync(path.join(dir, child), 'utf8') : NOT_A_FILE);
    }
  };
  walk('');
  return files;
}

/** Which top-level cluster folders a run owns: all of them, or only the named ones. */
export type Scope = { readonly all: true } | { readonly all: false; readonly clusters: readonly string[] };

const inScope = (scope: Scope, rel: string) => scope.all || scope.clusters.includes(rel.split('/')[0]);

/** Paths that differ between the tree on disk and the tree the specs compile to. */
export interface Drift {
  readonly path: string;
  readonly change: 'added' | 'removed' | 'changed';
  /** For changed files: a short unified diff, committed tree to compiled tree. */
  readonly diff?: string;
}

/** Paths whose content differs from the tree on disk, within scope; `old` is what is on disk. */
function compareTrees(current: ReadonlyMap<string, string>, tree: FileTree, scope: Scope): (Omit<Drift, 'diff'> & { old?: string })[] {
  const drift: (Omit<Drift, 'diff'> & { old?: string })[] = [];
  for (const [rel, content] of tree) {
    const old = current.get(rel);
    if (old === undefined) drift.push({ path: rel, change: 'added' });
    else if (old !== content) drift.push({ path: rel, change: 'changed', old });
  }
  for (const rel of current.keys()) {
    if (inScope(scope, rel) && !tree.has(rel)) drift.push({ path: rel, change: 'removed' });
  }
  return drift.sort((a, b) => (a.path < b.path ? -1 : 1));
}

/** The files that differ between the tree on disk and the tree the specs compile to. */
export function driftedPaths(outDir: string, tree: FileTree, scope: Scope): Drift[] {
  return compareTrees(readTree(outDir), tree, scope).map(({ path: rel, change, old }) => (
    old !== undefined && old !== NOT_A_FILE ? { path: rel, change, diff: shortDiff(rel, old, tree.get(rel) as string) } : { path: rel, change }
  ));
}

/** Puts back the previous tree if an earlier run died between its two renames. */
export function recoverInterruptedWrite(outDir: string): void {
  const parent = path.dirname(outDir);
  const base = path.basename(outDir);
  if (!fs.existsSync(parent)) return;
  for (const entry of fs.readdirSync(parent)) {
    const pid = Number(/^\.[^/]+\.(?:previous|staging)-(\d+)$/.exec(entry)?.[1]);
    // Leave a concurrent run's folders alone; only a dead run's are ours to clean.
    if (pid && pid !== process.pid && isAlive(pid)) continue;
    if (entry.startsWith(`.${base}.previous-`)) {
      if (!fs.existsSync(outDir)) fs.renameSync(path.join(parent, entry), outDir);
      else fs.rmSync(path.join(parent, entry), { recursive: true, force: true });
    } else if (entry.startsWith(`.${base}.staging-`)) {
      fs.rmSync(path.join(parent, entry), { recursive: true, force: true });
    }
  }
}

/** Whether a process is alive (EPERM: alive, not ours). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Refuses an out dir that replacing would destroy something with: the working
 * directory or one of its parents, or a folder holding the cluster files.
 */
export function checkOutDir(outDir: string, cwd: string, specs: readonly string[]): void {
  const out = path.resolve(cwd, outDir);
  const inside = (p: string) => p === out || p.startsWith(out.endsWith(path.sep) ? out : out + path.sep);
  if (inside(path.resolve(cwd))) throw new UsageError(`--out ${outDir} is this directory or one of its parents; the out dir is replaced whole`);
  const spec = specs.find((s) => inside(path.resolve(cwd, s)));
  if (spec) throw new UsageError(`--out ${outDir} holds the cluster file ${spec}; the out dir is replaced whole`);
  if (fs.existsSync(out) && !fs.lstatSync(out).isDirectory() && !fs.lstatSync(out).isSymbolicLink()) throw new UsageError(`--out ${outDir} exists and is not a directory`);
}

/**
 * The out dir is replaced whole, so it may hold only what k3s-gitops wrote: one folder
 * per cluster, each with the RUNBOOK.md that starts with the generated-file line. A
 * folder someone else filled is refused, never emptied.
 */
export function checkOutDirOwned(outDir: string, cwd: string): void {
  if (!fs.existsSync(outDir) || !fs.lstatSync(outDir).isDirectory()) return;
  const foreign = fs.readdirSync(outDir).sort().filter((entry) => !isClusterFolder(path.join(outDir, entry)));
  if (foreign.length > 0) {
    const shown = path.relative(cwd, outDir) || '.';
    throw new UsageError(`--out ${shown} holds ${foreign.slice(0, 3).map((f) => `"${f}"`).join(', ')}${foreign.length > 3 ? ` and ${foreign.length - 3} more` : ''}, which k3s-gitops did not write; the out dir is replaced whole, so give an empty folder or one k3s-gitops wrote`);
  }
}

function isClusterFolder(dir: string): boolean {
  const runbook = path.join(dir, 'RUNBOOK.md');
  if (!fs.lstatSync(dir).isDirectory() || !fs.existsSync(runbook) || !fs.lstatSync(runbook).isFile()) return false;
  const fd = fs.openSync(runbook, 'r');
  try {
    const head = Buffer.alloc(64);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    return head.subarray(0, n).toString('utf8').startsWith(`<!-- ${GENERATED_MARK}`);
  } finally {
    fs.closeSync(fd);
  }
}

/** Whether a file's text is one k3s-gitops wrote: the generated-by line opens it, or follows `#cloud-config`. */
export function isGeneratedFile(content: string): boolean {
  return content.split('\n', 2).some((line) => line.startsWith(`# ${GENERATED_MARK}`) || line.startsWith(`<!-- ${GENERATED_MARK}`));
}

/**
 * The files in the folders a write replaces that k3s-gitops did not write, sorted: a
 * regular file without the generated-by line. A symlink is replaced, never followed,
 * so replacing it loses nothing.
 */
function foreignFiles(current: ReadonlyMap<string, string>, scope: Scope): string[] {
  return [...current].filter(([rel, content]) => inScope(scope, rel) && content !== NOT_A_FILE && !isGeneratedFile(content)).map(([rel]) => rel).sort();
}

/**
 * Replaces the out dir in one step: the new tree is built in a sibling folder and
 * swapped in with renames, so a failed or killed run leaves the old tree whole.
 * Folders outside `scope` are carried over unchanged. When the tree on disk already
 * is the new one (most runs in CI and pre-commit), nothing is written; returns
 * whether anything was. Refuses, writing nothing, when a folder it would replace
 * holds a file it did not write (a `terraform.tfstate`, notes): that file would go
 * with the folder. `cwd` is what the refusal's paths are relative to.
 */
export function writeTree(outDir: string, tree: FileTree, scope: Scope, cwd: string = process.cwd()): boolean {
  recoverInterruptedWrite(outDir);
  // A symlinked out dir is replaced by a real folder; what it points to is never read.
  const current = fs.existsSync(outDir) && !fs.lstatSync(outDir).isSymbolicLink() ? readTree(outDir) : undefined;
  if (current && compareTrees(current, tree, scope).length === 0) return false;
  const foreign = current ? foreignFiles(current, scope) : [];
  if (foreign.length > 0) {
    const shown = path.relative(cwd, outDir) || '.';
    const list = `${foreign.slice(0, 3).map((f) => `"${f}"`).join(', ')}${foreign.length > 3 ? ` and ${foreign.length - 3} more` : ''}`;
    throw new UsageError(`${shown} holds ${list}, which k3s-gitops did not write (no generated-by line); synth replaces each cluster's folder whole, so move ${foreign.length > 1 ? 'them' : 'it'} elsewhere first. Nothing written`);
  }
  const parent = path.dirname(outDir);
  const base = path.basename(outDir);
  fs.mkdirSync(parent, { recursive: true });
  const staging = path.join(parent, `.${base}.staging-${process.pid}`);
  const previous = path.join(parent, `.${base}.previous-${process.pid}`);
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging);
  if (!scope.all && fs.existsSync(outDir)) {
    for (const entry of fs.readdirSync(outDir)) {
      if (!scope.clusters.includes(entry)) fs.cpSync(path.join(outDir, entry), path.join(staging, entry), { recursive: true });
    }
  }
  // Each folder once, parents first: a recursive mkdir per file costs a stat per level.
  const dirs = new Set<string>();
  for (const rel of tree.keys()) {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  for (const dir of [...dirs].sort()) {
    if (!fs.existsSync(path.join(staging, dir))) fs.mkdirSync(path.join(staging, dir));
  }
  for (const [rel, content] of tree) fs.writeFileSync(path.join(staging, rel), content);
  const hadOld = fs.existsSync(outDir);
  if (hadOld) fs.renameSync(outDir, previous);
  fs.renameSync(staging, outDir);
  if (hadOld) fs.rmSync(previous, { recursive: true, force: true });
  return true;
}
