/**
 * `npm run bench`: whole-process timings of the compiled CLI against the floor (what
 * Node.js needs to load cdk8s-plus-28), alternating the two so machine noise cancels;
 * peak memory; and in-process compile time for the same inputs. Prints a table and
 * writes bench/results/bench.json. A benchmark, not a test: nothing here fails a build.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { analyzeSpec, synthesize } from '../src/compile';
import type { ResolvedCluster } from '../src/cluster-file/resolve';
import { clusterSpec } from './generate';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'lib', 'src', 'cli.js');
const PROBE = path.join(ROOT, 'lib', 'bench', 'rss-probe.js');

interface Case {
  readonly name: string;
  readonly nodes: number;
  readonly specs: Record<string, string>;
  readonly runs: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function timed(args: string[], cwd: string, probeOut?: string): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...(probeOut ? { BENCH_PROBE_OUT: probeOut } : {}) } });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

function project(c: Case): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-${c.name}-`));
  fs.mkdirSync(path.join(dir, 'clusters'));
  for (const [file, text] of Object.entries(c.specs)) fs.writeFileSync(path.join(dir, 'clusters', file), text);
  return dir;
}

/** The file system's share: creating the same folders and files with bare fs calls. */
function fsFloorMs(c: Case, runs: number): number {
  const clusters = Object.entries(c.specs).map(([f, t]) => analyzeSpec(`clusters/${f}`, t).cluster as ResolvedCluster);
  const tree = synthesize(clusters);
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-fs-'));
    const start = process.hrtime.bigint();
    for (const [rel, content] of tree) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), content);
    }
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return median(samples);
}

function inProcessMs(c: Case, runs: number): number {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    const clusters = Object.entries(c.specs).map(([f, t]) => analyzeSpec(`clusters/${f}`, t).cluster as ResolvedCluster);
    synthesize(clusters);
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return median(samples);
}

function main(): void {
  const example = fs.readFileSync(path.join(ROOT, 'clusters', 'example.yaml'), 'utf8');
  const fleet: Record<string, string> = {};
  for (let i = 1; i <= 50; i++) fleet[`c${String(i).padStart(2, '0')}.yaml`] = clusterSpec(`c${String(i).padStart(2, '0')}`, 3, 2);
  const cases: Case[] = [
    { name: 'example 3+2', nodes: 5, specs: { 'example.yaml': example }, runs: 15 },
    { name: '7+50', nodes: 57, specs: { 'big.yaml': clusterSpec('big', 7, 50) }, runs: 11 },
    { name: '7+500', nodes: 507, specs: { 'huge.yaml': clusterSpec('huge', 7, 500) }, runs: 7 },
    { name: 'fleet 50x(3+2)', nodes: 250, specs: fleet, runs: 7 },
  ];
  const floorArgs = ['-e', "require('cdk8s-plus-28')"];
  const bare = median(Array.from({ length: 9 }, () => timed(['-e', ''], ROOT)));
  const probeOut = path.join(os.tmpdir(), `bench-probe-${process.pid}.json`);
  const rows = cases.map((c) => {
    const dir = project(c);
    timed([CLI, 'synth'], dir); // warm the file cache
    const synth: number[] = [];
    const fresh: number[] = [];
    const floor: number[] = [];
    for (let i = 0; i < c.runs; i++) {
      floor.push(timed(floorArgs, ROOT));
      synth.push(timed([CLI, 'synth'], dir));
      fs.rmSync(path.join(dir, 'dist'), { recursive: true, force: true });
      fresh.push(timed([CLI, 'synth'], dir));
    }
    timed(['--require', PROBE, CLI, 'synth'], dir, probeOut);
    const synthProbe = JSON.parse(fs.readFileSync(probeOut, 'utf8'));
    const validate = median(Array.from({ length: Math.min(c.runs, 7) }, () => timed([CLI, 'validate'], dir)));
    timed(['--require', PROBE, CLI, 'validate'], dir, probeOut);
    const validateProbe = JSON.parse(fs.readFileSync(probeOut, 'utf8'));
    fs.rmSync(dir, { recursive: true, force: true });
    const synthMs = median(synth);
    const freshMs = median(fresh);
    const floorMs = median(floor);
    return {
      case: c.name, nodes: c.nodes, runs: c.runs,
      synthMs, floorMs, ratio: synthMs / floorMs,
      perNodeMs: (synthMs - floorMs) / c.nodes,
      freshMs, freshRatio: freshMs / floorMs,
      fsFloorMs: fsFloorMs(c, 3),
      peakMb: synthProbe.maxRssKb / 1024,
      validateMs: validate, validateLoadsCdk8s: validateProbe.cdk8sLoaded,
      inProcessMs: inProcessMs(c, Math.min(c.runs, 5)),
    };
  });
  const result = { node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, bareNodeMs: bare, rows };
  fs.mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'bench', 'results', 'bench.json'), `${JSON.stringify(result, null, 2)}\n`);

  const f = (n: number, d = 0) => n.toFixed(d);
  console.log(`node ${process.version}, ${os.cpus().length} cores; bare node -e '' ${f(bare)} ms; medians of alternating runs`);
  console.log('synth: dist/ already up to date (the usual CI and pre-commit run); fresh: into an empty dist/; fs floor: writing the same files with bare fs calls');
  console.log('| case | nodes | floor ms | synth ms | ratio | ms/node over floor | fresh ms | fresh ratio | fs floor ms | peak MB | validate ms | validate loads cdk8s | in-process ms |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    console.log(`| ${r.case} | ${r.nodes} | ${f(r.floorMs)} | ${f(r.synthMs)} | ${f(r.ratio, 2)}x | ${f(r.perNodeMs, 2)} | ${f(r.freshMs)} | ${f(r.freshRatio, 2)}x | ${f(r.fsFloorMs)} | ${f(r.peakMb)} | ${f(r.validateMs)} | ${r.validateLoadsCdk8s ? 'yes' : 'no'} | ${f(r.inProcessMs)} |`);
  }
  console.log('wrote bench/results/bench.json');
}

main();
