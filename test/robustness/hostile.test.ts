import * as fs from 'node:fs';
import * as path from 'node:path';
import { CLI, GOOD, ROOT, tempDir } from '../helpers';
import { spawnSync } from 'node:child_process';

const PROBE = path.join(ROOT, 'lib', 'bench', 'rss-probe.js');
const ha = fs.readFileSync(path.join(GOOD, 'ha.yaml'), 'utf8');

/** Runs `validate` on the bytes given; returns exit code, stderr, time and peak memory. */
function validateBytes(bytes: Buffer | string) {
  const dir = tempDir('hostile-');
  const file = path.join(dir, 'hostile.yaml');
  fs.writeFileSync(file, bytes);
  const probe = path.join(dir, 'probe.json');
  const started = Date.now();
  const r = spawnSync(process.execPath, ['--require', PROBE, CLI, 'validate', file], { encoding: 'utf8', env: { ...process.env, BENCH_PROBE_OUT: probe }, timeout: 20000 });
  const ms = Date.now() - started;
  const peakMb = JSON.parse(fs.readFileSync(probe, 'utf8')).maxRssKb / 1024;
  return { status: r.status, stderr: r.stderr, ms, peakMb };
}

/** A "billion laughs" document: ten levels of ten aliases each. */
function billionLaughs(): string {
  const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 10; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(',')}]`);
  return `${lines.join('\n')}\n`;
}

describe('hostile YAML is rejected quickly, with a clear error and bounded memory', () => {
  test.each([
    ['an alias bomb ("billion laughs")', billionLaughs(), 'YAML_ALIAS_LIMIT'],
    ['duplicate keys', ha.replace('  bootstrapped: false', '  bootstrapped: false\n  bootstrapped: true'), 'YAML_DUPLICATE_KEY'],
    ['a language tag', ha.replace('kind: Cluster', 'kind: !!js/function "function () { return 1 }"'), 'YAML_TAG_RESOLVE_FAILED'],
    ['a custom tag', ha.replace('kind: Cluster', 'kind: !include other.yaml'), 'YAML_TAG_RESOLVE_FAILED'],
    ['several documents', `${ha}---\n${ha}`, 'YAML_MULTIPLE_DOCS'],
    ['20,000 levels of nesting', `a: ${'['.repeat(20000)}${']'.repeat(20000)}\n`, 'YAML_RESOURCE_EXHAUSTION'],
    ['non-UTF-8 bytes', Buffer.concat([Buffer.from(ha.slice(0, 200)), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from(ha.slice(200))]), 'NOT_UTF8'],
    ['a 50 MB file', Buffer.alloc(50 * 1024 * 1024, 'a: b\n'), 'FILE_TOO_LARGE'],
  ])('fails: %s -> %s', (_what, bytes, code) => {
    const r = validateBytes(bytes);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^\\S+hostile\\.yaml:\\d+:\\d+ \\S+ error ${code}: `, 'm'));
    expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
    expect(r.ms).toBeLessThan(5000);
    expect(r.peakMb).toBeLessThan(300);
  });
});
