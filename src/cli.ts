#!/usr/bin/env node
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import {
  allDiagnostics, analyzeFiles, analyzeSpec, planClusters, checkOutDir, checkOutDirOwned, checkAgainstCommittedTrees, DEFAULT_DIST, recoverInterruptedWrite, driftedPaths, synthesize, UsageError, writeTree, type AnalyzedSpec, type Scope,
} from './compile';
import { formatDiagnostic, hasErrors, redactTokens } from './cluster-file/diagnostics';
import { renderExplain } from './render/explain';
import { clusterSchema } from './cluster-file/schema';
import { KubeconfigError, retargetKubeconfig } from './render/kubeconfig';
import { planRestore, renderNodeUserData, type RestorePlan } from './render/user-data';
import type { ResolvedCluster, ResolvedNode } from './cluster-file/resolve';
import { committedTrees, type CommittedCluster } from './history/committed';
import { formatPlan } from './history/plan';
import { initFiles } from './init';
import { registryCredentialFiles } from './render/registries';
import { clusterImages } from './images';
import type { StarterNode } from './cluster-file/starter';
import { STARTER_K3S_VERSION } from './k3s/version';
import { commandHelp, fullHelp, isCommand, type CommandName } from './help';


/** This package's version, from its package.json: beside src/ when run from source, beside lib/ when built. */
function packageVersion(): string {
  for (const up of ['..', '../..']) {
    const file = path.join(__dirname, up, 'package.json');
    if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')).version;
  }
  return 'unknown';
}

/** Exit codes of the contract. */
const EXIT = { ok: 0, invalid: 1, usage: 2 } as const;

export interface Io {
  readonly cwd: string;
  readonly stdin: () => string;
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

/** The cluster files of the project: clusters/*.yaml, sorted. */
function defaultSpecs(cwd: string): string[] {
  const dir = path.join(cwd, 'clusters');
  if (!fs.existsSync(dir)) throw new UsageError('no SPEC given and no clusters/ folder here');
  return fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => path.join('clusters', f));
}

/**
 * Prints every diagnostic; returns the clusters if there was no error. Given the
 * committed trees, also refuses what a commit may not do to a running cluster.
 */
function analyze(specs: string[], io: Io, committed?: (cluster: string) => CommittedCluster | undefined): ResolvedCluster[] | undefined {
  const analyzed: AnalyzedSpec[] = analyzeFiles(specs, io.cwd);
  const results = committed ? checkAgainstCommittedTrees(committed, analyzed) : analyzed;
  const diagnostics = allDiagnostics(results);
  for (const d of diagnostics) io.err(formatDiagnostic(d));
  if (hasErrors(diagnostics)) {
    const errors = diagnostics.filter((d) => d.severity === 'error').length;
    io.err(`${errors} error(s); nothing written`);
    return undefined;
  }
  return results.map((r) => r.cluster as ResolvedCluster);
}

function synth(args: string[], io: Io): number {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { out: { type: 'string' }, check: { type: 'boolean' } } });
  const specs = positionals.length > 0 ? positionals : defaultSpecs(io.cwd);
  const outDir = path.resolve(io.cwd, values.out ?? DEFAULT_DIST);
  checkOutDir(outDir, io.cwd, specs);
  // A run killed mid-swap left the previous tree beside the out dir: put it back first.
  recoverInterruptedWrite(outDir);
  // Replacing the whole out dir must not take what is not ours; a chosen SPEC replaces only its own folder.
  if (!values.check && positionals.length === 0) checkOutDirOwned(outDir, io.cwd);
  const clusters = analyze(specs, io, committedTrees(outDir));
  if (!clusters) return EXIT.invalid;
  const tree = synthesize(clusters, repoPath(io.cwd, outDir));
  const scope: Scope = positionals.length > 0 ? { all: false, clusters: clusters.map((c) => c.name) } : { all: true };
  if (values.check) {
    const drift = driftedPaths(outDir, tree, scope);
    if (drift.length === 0) {
      io.out(`${path.relative(io.cwd, outDir) || '.'} is up to date (${tree.size} files)`);
      return EXIT.ok;
    }
    for (const d of drift) {
      io.err(`${d.change.padEnd(8)} ${path.relative(io.cwd, path.join(outDir, d.path))}`);
      if (d.diff) io.err(d.diff.replace(/^/gm, '    '));
    }
    io.err(`${drift.length} file(s) differ from what the specs compile to; run \`npx k3s-gitops synth\` and commit dist/`);
    return EXIT.invalid;
  }
  const written = writeTree(outDir, tree, scope, io.cwd);
  for (const c of clusters) {
    const count = [...tree.keys()].filter((k) => k.startsWith(`${c.name}/`)).length;
    io.out(`${c.source} -> ${path.relative(io.cwd, path.join(outDir, c.name))}/ (${count} files${written ? '' : ', unchanged'})`);
  }
  return EXIT.ok;
}

/** The out dir as the repository sees it (cwd is the repository root); GitOps objects point there. */
function repoPath(cwd: string, outDir: string): string {
  const rel = path.relative(cwd, outDir).split(path.sep).join('/');
  return rel === '' || rel.startsWith('..') || path.isAbsolute(rel) ? DEFAULT_DIST : rel;
}

function plan(args: string[], io: Io): number {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { out: { type: 'string' }, json: { type: 'boolean' } } });
  const specs = positionals.length > 0 ? positionals : defaultSpecs(io.cwd);
  const committed = committedTrees(path.resolve(io.cwd, values.out ?? DEFAULT_DIST));
  const clusters = analyze(specs, io, committed);
  if (!clusters) return EXIT.invalid;
  const plans = planClusters(clusters, committed);
  io.out(values.json ? JSON.stringify(plans, null, 2) : plans.map(formatPlan).join('\n\n'));
  return EXIT.ok;
}

function validate(args: string[], io: Io): number {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const specs = positionals.length > 0 ? positionals : defaultSpecs(io.cwd);
  const clusters = analyze(specs, io);
  if (!clusters) return EXIT.invalid;
  io.out(`${specs.length} cluster file(s) valid`);
  return EXIT.ok;
}

function explain(args: string[], io: Io): number {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  if (positionals.length !== 1) throw new UsageError('explain takes exactly one SPEC');
  const clusters = analyze(positionals, io);
  if (!clusters) return EXIT.invalid;
  io.out(renderExplain(clusters[0]).trimEnd());
  return EXIT.ok;
}

/** Why a token cannot be used, or undefined. Never echoes the token. */
function tokenProblem(token: string): string | undefined {
  if (token.length === 0) return 'the token is empty';
  if (/[\r\n]/.test(token)) return 'the token has a line break in the middle (only one trailing newline is allowed)';
  if (/[\s\x00-\x1f\x7f]/.test(token)) return 'the token contains whitespace or control characters';
  return undefined;
}

/** A token from --PREFIX-file F or --PREFIX-env VAR (exactly one); undefined when neither is given and none is needed. */
function readToken(values: Record<string, string | string[] | boolean | undefined>, prefix: 'token' | 'agent-token', io: Io): string | undefined {
  const fileFlag = values[`${prefix}-file`] as string | undefined;
  const envFlag = values[`${prefix}-env`] as string | undefined;
  if (fileFlag === undefined && envFlag === undefined) return undefined;
  if (fileFlag !== undefined && envFlag !== undefined) throw new UsageError(`give exactly one of --${prefix}-file F or --${prefix}-env VAR, not both`);
  if (fileFlag !== undefined) return readSecretFile(io, fileFlag, `the file given to --${prefix}-file`);
  const value = process.env[envFlag as string];
  if (value === undefined) throw new UsageError(`environment variable ${envFlag} is not set`);
  return value.replace(/\r?\n$/, '');
}

/**
 * A one-line secret from a local file, its trailing newline dropped. Errors name the
 * file by `what`, never by the path given: a secret pasted where the path goes would
 * land in the log.
 */
function readSecretFile(io: Io, file: string, what: string): string {
  try {
    return fs.readFileSync(path.resolve(io.cwd, file), 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new UsageError(`cannot read ${what}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`);
  }
}

/**
 * The tokens a node's user-data carries: a server the server token (and the agent token
 * where there is one); an agent the agent token where there is one, else the server
 * token. An agent is never handed the server token when it need not hold it.
 */
function seedTokens(c: ResolvedCluster, node: ResolvedNode, values: Record<string, string | string[] | boolean | undefined>, io: Io): { token?: string; agentToken?: string } {
  const token = readToken(values, 'token', io);
  const agentToken = readToken(values, 'agent-token', io);
  if (!c.agentTokenFile) {
    if (agentToken !== undefined) throw new UsageError(`${c.source} has no token.agentFile; give the join token with --token-file F or --token-env VAR`);
    if (token === undefined) throw new UsageError('give exactly one of --token-file F or --token-env VAR');
    return { token };
  }
  if (node.role === 'agent') {
    if (token !== undefined) throw new UsageError(`${node.name} is an agent and ${c.source} sets token.agentFile: agents never receive the server token. Give only --agent-token-file F or --agent-token-env VAR`);
    if (agentToken === undefined) throw new UsageError('an agent joins with the agent token: give --agent-token-file F or --agent-token-env VAR');
    return { agentToken };
  }
  if (token === undefined || agentToken === undefined) throw new UsageError(`a server needs the server token (--token-file F or --token-env VAR) and, since ${c.source} sets token.agentFile, the agent token (--agent-token-file F or --agent-token-env VAR)`);
  return { token, agentToken };
}

/**
 * `--registry-credential NODE_PATH=LOCAL_FILE`: a credential the cluster file names by
 * its path on the node, read from a local file. Every named path must be given.
 */
function readRegistryCredentials(c: ResolvedCluster, given: readonly string[], io: Io): Map<string, string> {
  const wanted = registryCredentialFiles(c);
  const credentials = new Map<string, string>();
  for (const value of given) {
    const m = /^(\/[^=\s]+)=(.+)$/.exec(value);
    // The value is never echoed: a mistaken one may be the credential itself.
    if (!m) throw new UsageError('--registry-credential takes NODE_PATH=LOCAL_FILE, e.g. /etc/rancher/k3s/registry/password=./registry-password');
    if (!wanted.includes(m[1])) throw new UsageError(`--registry-credential: ${c.source} names no registry credential at that node path; it names ${wanted.join(', ') || 'none'}`);
    const secret = readSecretFile(io, m[2], `the local file given for ${m[1]}`);
    if (secret.length === 0 || /[\x00-\x1f\x7f]/.test(secret)) throw new UsageError(`the local file given for ${m[1]} must hold one non-empty line without control characters`);
    credentials.set(m[1], secret);
  }
  const missing = wanted.filter((f) => !credentials.has(f));
  if (given.length > 0 && missing.length > 0) throw new UsageError(`give every registry credential or none (then they must already be on the machine); missing: ${missing.join(', ')}`);
  return credentials;
}

function seed(args: string[], io: Io): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      node: { type: 'string' }, 'token-file': { type: 'string' }, 'token-env': { type: 'string' },
      'agent-token-file': { type: 'string' }, 'agent-token-env': { type: 'string' }, restore: { type: 'string' }, 'restore-from': { type: 'string' },
      'registry-credential': { type: 'string', multiple: true },
    },
  });
  if (positionals.length !== 1) throw new UsageError('seed takes exactly one SPEC');
  if (!values.node) throw new UsageError('seed needs --node NAME');
  const clusters = analyze(positionals, io);
  if (!clusters) return EXIT.invalid;
  const cluster = clusters[0];
  const node = cluster.nodes.find((n) => n.name === values.node);
  if (!node) throw new UsageError(`no node "${values.node}" in ${cluster.source}; nodes: ${cluster.nodes.map((n) => n.name).join(', ')}`);
  const tokens = seedTokens(cluster, node, values, io);
  for (const [what, value] of [['token', tokens.token], ['agent token', tokens.agentToken]] as const) {
    const problem = value === undefined ? undefined : tokenProblem(value);
    if (problem) {
      io.err(`k3s-gitops seed: ${problem.replace('the token', `the ${what}`)}; nothing printed`);
      return EXIT.invalid;
    }
  }
  let restore: RestorePlan | undefined;
  if (values.restore !== undefined || values['restore-from'] !== undefined) {
    const planned = planRestore(cluster, node, { snapshot: values.restore, from: values['restore-from'] }, process.env);
    if (!planned.plan) throw new UsageError(planned.problem);
    if (planned.note) io.err(`k3s-gitops seed: ${planned.note}`);
    restore = planned.plan;
  }
  const registryCredentials = readRegistryCredentials(cluster, values['registry-credential'] ?? [], io);
  io.out(renderNodeUserData(cluster, node, { ...tokens, restore, registryCredentials }).trimEnd());
  return EXIT.ok;
}

function kubeconfig(args: string[], io: Io): number {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  if (positionals.length !== 1) throw new UsageError('kubeconfig takes exactly one SPEC, and the kubeconfig on stdin');
  const clusters = analyze(positionals, io);
  if (!clusters) return EXIT.invalid;
  try {
    io.out(retargetKubeconfig(clusters[0], io.stdin()).trimEnd());
    return EXIT.ok;
  } catch (e) {
    if (!(e instanceof KubeconfigError)) throw e;
    io.err(`k3s-gitops kubeconfig: ${e.message}`);
    return EXIT.invalid;
  }
}

function schema(args: string[], io: Io): number {
  parseArgs({ args, allowPositionals: false, options: {} });
  // The editor help loads only here: no other command needs it.
  const { documentedSchema } = require('./cluster-file/schema-docs') as typeof import('./cluster-file/schema-docs');
  io.out(JSON.stringify(documentedSchema(clusterSchema), null, 2));
  return EXIT.ok;
}

/** `name=address`, as --server, --agent and --lb-host take it. */
function namedAddress(flag: string, value: string): StarterNode {
  const m = /^([^=\s]+)=(\S+)$/.exec(value);
  if (!m) throw new UsageError(`--${flag} ${JSON.stringify(value)}: expected NAME=ADDRESS, e.g. master-1=10.0.0.11`);
  return { name: m[1], address: m[2] };
}

function init(args: string[], io: Io): number {
  const { values } = parseArgs({
    args, allowPositionals: false,
    options: {
      name: { type: 'string' }, server: { type: 'string', multiple: true }, agent: { type: 'string', multiple: true },
      endpoint: { type: 'string' }, lb: { type: 'string' }, interface: { type: 'string' }, 'lb-host': { type: 'string', multiple: true },
      gitops: { type: 'string' }, repository: { type: 'string' }, branch: { type: 'string' }, 'k3s-version': { type: 'string' }, ci: { type: 'boolean' },
    },
  });
  if (!values.name || !values.server?.length) throw new UsageError('init needs --name and at least one --server NAME=ADDRESS');
  const lb = values.lb ?? (values.server.length > 1 ? 'daemonset' : 'none');
  if (!['daemonset', 'external', 'none'].includes(lb)) throw new UsageError(`--lb ${JSON.stringify(lb)}: allowed: daemonset, external, none`);
  if (values.gitops && !['flux', 'argocd'].includes(values.gitops)) throw new UsageError(`--gitops ${JSON.stringify(values.gitops)}: allowed: flux, argocd`);
  if (values.gitops && !values.repository) throw new UsageError('--gitops needs --repository URL (the fleet repository the cluster pulls)');
  const files = initFiles({
    name: values.name, k3sVersion: values['k3s-version'] ?? STARTER_K3S_VERSION,
    servers: values.server.map((v) => namedAddress('server', v)), agents: (values.agent ?? []).map((v) => namedAddress('agent', v)),
    endpoint: values.endpoint, loadBalancer: lb as 'daemonset' | 'external' | 'none', interface: values.interface ?? 'eth0',
    lbHosts: (values['lb-host'] ?? []).map((v) => namedAddress('lb-host', v)),
    gitops: values.gitops ? { engine: values.gitops as 'flux' | 'argocd', repository: values.repository as string, branch: values.branch ?? 'main' } : undefined,
  }, values.ci ?? false);

  // The starter must be a valid cluster file before anything is written.
  const [specPath, specText] = [...files.create][0];
  const analyzed = analyzeSpec(specPath, specText);
  if (!analyzed.cluster) {
    for (const d of analyzed.diagnostics) io.err(formatDiagnostic(d));
    io.err('init: these options do not make a valid cluster file; nothing written');
    return EXIT.invalid;
  }
  // Refuse before writing anything: never overwrite.
  const existing = [...files.create.keys()].filter((f) => fs.existsSync(path.join(io.cwd, f)));
  const packageJson = path.join(io.cwd, 'package.json');
  const pkg = Object.keys(files.scripts).length > 0 ? readPackageJson(packageJson) : undefined;
  const taken = Object.entries(files.scripts).filter(([k, v]) => pkg?.scripts?.[k] !== undefined && pkg.scripts[k] !== v).map(([k]) => `package.json script "${k}"`);
  if (existing.length + taken.length > 0) {
    io.err(`init: ${[...existing, ...taken].join(', ')} already exist(s); init never overwrites. Nothing written`);
    return EXIT.invalid;
  }
  for (const [rel, text] of files.create) {
    fs.mkdirSync(path.dirname(path.join(io.cwd, rel)), { recursive: true });
    fs.writeFileSync(path.join(io.cwd, rel), text, { flag: 'wx' });
    io.out(`wrote ${rel}`);
  }
  for (const [rel, text] of files.ifAbsent) {
    if (fs.existsSync(path.join(io.cwd, rel))) io.out(`kept ${rel} as it is`);
    else {
      fs.writeFileSync(path.join(io.cwd, rel), text, { flag: 'wx' });
      io.out(`wrote ${rel}`);
    }
  }
  if (pkg) {
    fs.writeFileSync(packageJson, `${JSON.stringify({ ...pkg, scripts: { ...pkg.scripts, ...files.scripts } }, null, 2)}\n`);
    io.out(`added scripts ${Object.keys(files.scripts).join(', ')} to package.json`);
  }
  io.out(`next: edit ${specPath}, then \`npx k3s-gitops synth\` and commit ${specPath} with dist/`);
  return EXIT.ok;
}

function readPackageJson(file: string): { scripts?: Record<string, string> } & Record<string, unknown> {
  if (!fs.existsSync(file)) throw new UsageError('--ci adds scripts to package.json, and there is none here; run `npm init -y` first');
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`package.json is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * Every image the specs' trees run, as the nodes pull them (with the system default
 * registry), one per line for a mirroring script; `--json` adds which cluster and what
 * runs each. K3s's own images are listed by each K3s release (k3s-images.txt).
 */
function images(args: string[], io: Io): number {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' } } });
  const clusters = analyze(positionals.length > 0 ? positionals : defaultSpecs(io.cwd), io);
  if (!clusters) return EXIT.invalid;
  const perCluster = clusters.map((c) => ({ cluster: c.name, images: clusterImages(c) }));
  io.out(values.json ? JSON.stringify(perCluster, null, 2) : [...new Set(perCluster.flatMap((p) => p.images.map((i) => i.image)))].sort().join('\n'));
  return EXIT.ok;
}

const COMMANDS: Record<CommandName, (args: string[], io: Io) => number> = { init, synth, validate, plan, explain, seed, kubeconfig, schema, images };

/** Whether the arguments ask for the command's help; anything after `--` is an argument, never a flag. */
function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/** The commands whose stdout is a secret by design: seed's user-data carries the token, kubeconfig's the client key. */
const PRINTS_SECRETS: ReadonlySet<string> = new Set(['seed', 'kubeconfig']);

/**
 * Runs the CLI; returns the exit code. Never throws for a user mistake. Nothing it
 * prints on stderr (which a fleet's CI posts on pull requests), nor on stdout but
 * where the secret is the output, holds a token-shaped string: not one given as an
 * argument, nor one read from a committed tree.
 */
export function main(argv: string[], unsafe: Io): number {
  const [command, ...rest] = argv;
  const io: Io = {
    ...unsafe,
    out: PRINTS_SECRETS.has(command) ? unsafe.out : (t) => unsafe.out(redactTokens(t)),
    err: (t) => unsafe.err(redactTokens(t)),
  };
  if (command === '--version' || command === '-v') {
    io.out(packageVersion());
    return EXIT.ok;
  }
  if (command === undefined) {
    io.err(fullHelp());
    return EXIT.usage;
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    const topic = rest[0];
    if (topic === undefined) {
      io.out(fullHelp());
      return EXIT.ok;
    }
    if (!isCommand(topic)) {
      io.err(`k3s-gitops help: unknown command "${topic}"\n${fullHelp()}`);
      return EXIT.usage;
    }
    io.out(commandHelp(topic));
    return EXIT.ok;
  }
  if (!isCommand(command)) {
    io.err(`k3s-gitops: unknown command "${command}"\n${fullHelp()}`);
    return EXIT.usage;
  }
  if (asksForHelp(rest)) {
    io.out(commandHelp(command));
    return EXIT.ok;
  }
  try {
    return COMMANDS[command](rest, io);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (e instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      // Node's advice on positionals that start with '-' fits none of our commands.
      const message = (e as Error).message.replace(/\. To specify a positional argument starting with a '-'.*$/s, '');
      io.err(`k3s-gitops ${command}: ${message}\n${commandHelp(command)}`);
      return EXIT.usage;
    }
    throw e;
  }
}

if (require.main === module) {
  const io: Io = { cwd: process.cwd(), stdin: () => fs.readFileSync(0, 'utf8'), out: (t) => process.stdout.write(`${t}\n`), err: (t) => process.stderr.write(`${t}\n`) };
  try {
    process.exitCode = main(process.argv.slice(2), io);
  } catch (e) {
    // A bug, not a user mistake: still one line, no stack, unless asked for.
    io.err(redactTokens(`k3s-gitops: internal error: ${(e as Error).message}${process.env.K3S_GITOPS_DEBUG ? `\n${(e as Error).stack}` : ' (set K3S_GITOPS_DEBUG=1 for details)'}`));
    process.exitCode = 70;
  }
}
