import * as fs from 'node:fs';
import * as path from 'node:path';
import { BOUNDS } from './drill/failover';
import { GOOD, markedBlock, ROOT, runCli, tempDir } from './helpers';

/**
 * README.md and the guides under docs/ show what the tool prints and what it accepts.
 * Each block marked `<!-- test: NAME -->` here is run as printed, so a change to the
 * compiler that changes what users see fails until the document says it too; and no
 * relative link may point at a file or a heading that is not there, so sections can
 * move between files without leaving dead links.
 */

/** Every Markdown file users read: README.md and everything under docs/. */
function documents(dir = path.join(ROOT, 'docs')): string[] {
  const here = fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const file = path.join(dir, e.name);
    if (e.isDirectory()) return documents(file);
    return e.name.endsWith('.md') ? [path.relative(ROOT, file)] : [];
  });
  return dir === path.join(ROOT, 'docs') ? ['README.md', ...here].sort() : here;
}

const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');
/** The text outside fenced code blocks, fences replaced by empty lines so line counts hold. */
const prose = (text: string) => text.replace(/^ {0,3}```[^\n]*\n[\s\S]*?^ {0,3}```$/gm, (block) => block.replace(/[^\n]/g, ''));

/** A folder that is a repository of its own holding `clusters/<name>.yaml`, as a user's is. */
function repositoryWith(name: string, text: string): string {
  const dir = tempDir('guide-');
  fs.mkdirSync(path.join(dir, '.git'));
  fs.mkdirSync(path.join(dir, 'clusters'));
  fs.writeFileSync(path.join(dir, 'clusters', `${name}.yaml`), text);
  return dir;
}

/** A printed terminal session: the command line, then what it prints. */
function session(block: string): { command: string; output: string } {
  const [first, ...rest] = block.split('\n');
  return { command: first.replace(/^\$ /, ''), output: rest.join('\n') };
}

describe('README', () => {
  const readme = read('README.md');

  test('stays short: under 200 lines, the rest in docs/', () => {
    expect(readme.split('\n').length).toBeLessThan(200);
  });

  test('draws the flow once, as a Mermaid block', () => {
    expect(readme.match(/^```mermaid$/gm)).toHaveLength(1);
  });

  test('its complete cluster file validates exactly as printed, without a warning', () => {
    const dir = repositoryWith('prod', markedBlock('test', 'minimal cluster file', 'README.md'));
    const r = runCli(['validate', 'clusters/prod.yaml'], { cwd: dir });
    expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ status: 0, stdout: '1 cluster file(s) valid\n', stderr: '' });
    expect(runCli(['synth'], { cwd: dir }).status).toBe(0);
    expect(fs.existsSync(path.join(dir, 'dist', 'prod', 'flux'))).toBe(true);
  });
});

describe('docs/guides/lab.md', () => {
  const GUIDE = 'docs/guides/lab.md';
  const file = markedBlock('test', 'lab cluster file', GUIDE);
  const dir = repositoryWith('lab', file);

  test('shows the lab fixture the walkthrough starts from, without its comments', () => {
    expect(file).toBe(fs.readFileSync(path.join(GOOD, 'lab.yaml'), 'utf8').replace(/^(#[^\n]*\n)+/, ''));
  });

  test('validate prints exactly the one warning the guide shows, and passes', () => {
    const r = runCli(['validate', 'clusters/lab.yaml'], { cwd: dir });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(markedBlock('test', 'lab warning', GUIDE));
  });

  test('explain prints what the guide shows', () => {
    const { command, output } = session(markedBlock('test', 'lab explain', GUIDE));
    expect(command).toBe('npx k3s-gitops explain clusters/lab.yaml');
    expect(runCli(['explain', 'clusters/lab.yaml'], { cwd: dir }).stdout).toBe(output);
  });
});

describe('docs/guides/three-servers.md', () => {
  const GUIDE = 'docs/guides/three-servers.md';

  test('explain prints what the guide shows for the shipped example', () => {
    const { command, output } = session(markedBlock('test', 'explain example', GUIDE));
    expect(command).toBe('npx k3s-gitops explain clusters/example.yaml');
    expect(runCli(['explain', 'clusters/example.yaml']).stdout).toBe(output);
  });

  test('states the bounds the failover drill holds', () => {
    const text = read(GUIDE);
    const stated = text.slice(text.indexOf('<!-- bounds: failover drill -->'), text.indexOf('\n\n', text.indexOf('<!-- bounds: failover drill -->'))).replace(/\s+/g, ' ');
    expect(stated).toContain(`within ${BOUNDS.haproxyDeathMs / 1000} s when HAProxy dies on the holder and within ${BOUNDS.crashMs / 1000} s when the holder crashes`);
    expect(stated).toContain(`together for over ${BOUNDS.splitBrainMs} ms`);
    expect(stated).toContain(`at most ${BOUNDS.failedRequestsOnApiserverDeath} failed request`);
    expect(stated).toContain(`within ${BOUNDS.recoveryMs} ms of their return`);
  });
});

test('docs/guides/day-2.md: plan prints what the guide shows for its commit to the example', () => {
  const dir = repositoryWith('example', read('clusters/example.yaml'));
  expect(runCli(['synth'], { cwd: dir }).status).toBe(0);
  // The commit the guide describes: a label on master-2, a new agent worker-3, K3s v1.37.0+k3s1.
  const spec = path.join(dir, 'clusters', 'example.yaml');
  fs.writeFileSync(spec, fs.readFileSync(spec, 'utf8')
    .replace('version: v1.36.3+k3s1', 'version: v1.37.0+k3s1')
    .replace('{ name: master-2, role: server, address: 10.0.0.12 }', '{ name: master-2, role: server, address: 10.0.0.12, labels: { disk: ssd } }')
    .replace(/( {4}- \{ name: worker-2,[^\n]*\n)/, '$1    - { name: worker-3, role: agent, address: 10.0.0.23 }\n'));
  const { command, output } = session(markedBlock('test', 'plan example', 'docs/guides/day-2.md'));
  expect(command).toBe('npx k3s-gitops plan');
  const r = runCli(['plan'], { cwd: dir });
  expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 0, stdout: output });
});

/**
 * The anchors GitHub gives a document's headings: lower case, punctuation dropped,
 * spaces to hyphens, a repeated heading numbered from -1.
 */
function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  for (const [, heading] of prose(text).matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    const plain = heading.replace(/`([^`]*)`/g, '$1').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const slug = plain.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    found.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return found;
}

/** Every relative link in a document's prose, as written. */
function relativeLinks(text: string): string[] {
  const outsideCode = prose(text).replace(/`[^`\n]*`/g, '');
  return [...outsideCode.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]).filter((l) => !/^[a-z][a-z0-9+.-]*:/i.test(l));
}

describe('links', () => {
  test.each(documents())('every relative link in %s points at a file and heading that exist', (doc) => {
    const broken = relativeLinks(read(doc)).filter((link) => {
      const [target, anchor] = link.split('#');
      const file = target === '' ? doc : path.normalize(path.join(path.dirname(doc), target));
      if (!fs.existsSync(path.join(ROOT, file))) return true;
      return anchor !== undefined && (!file.endsWith('.md') || !anchors(read(file)).has(anchor));
    });
    expect(broken).toEqual([]);
  });

  test('the guides are all reachable from docs/README.md', () => {
    const index = relativeLinks(read('docs/README.md')).map((l) => path.normalize(path.join('docs', l.split('#')[0])));
    expect(documents().filter((d) => d.startsWith('docs/guides/') && !index.includes(d))).toEqual([]);
  });
});

test('no document users see, nor any comment in src/, names a file users never see (SPEC.md)', () => {
  const sources = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const file = path.join(dir, e.name);
    return e.isDirectory() ? sources(file) : [path.relative(ROOT, file)];
  });
  const files = [...documents(), ...sources(path.join(ROOT, 'src'))];
  expect(files.filter((f) => read(f).includes('SPEC.md'))).toEqual([]);
});
