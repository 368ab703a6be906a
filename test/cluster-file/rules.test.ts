import * as fs from 'node:fs';
import * as path from 'node:path';
import { main } from '../../src/cli';
import { BAD, tempDir } from '../helpers';

/** Each bad fixture names its one defect on its first line: `# expect: CODE /pointer`. */
const badFixtures = fs.readdirSync(BAD).filter((f) => f.endsWith('.yaml')).sort().map((f) => {
  const file = path.join(BAD, f);
  const [, code, ptr] = /^# expect: (\S+) (\S+)/.exec(fs.readFileSync(file, 'utf8')) ?? [];
  return { name: f, file, code, pointer: ptr === '/' ? '' : ptr };
});

function synthInto(file: string, out: string) {
  const err: string[] = [];
  const status = main(['synth', file, '--out', out], { cwd: path.dirname(file), stdin: () => '', out: () => undefined, err: (t) => err.push(t) });
  return { status, err: err.join('\n') };
}

describe('every rule has a bad fixture that fails with its code and pointer', () => {
  test('the fixtures cover each rule', () => {
    expect(badFixtures.length).toBeGreaterThanOrEqual(35);
    for (const f of badFixtures) expect(f.code).toBeTruthy();
  });

  test.each(badFixtures)('fails: $name -> $code at $pointer', ({ file, code, pointer }) => {
    const out = path.join(tempDir(), 'dist');
    const { status, err } = synthInto(file, out);
    expect(status).toBe(1);
    const errors = err.split('\n').filter((l) => / error /.test(l));
    // One defect, one error: nothing cascades.
    expect(errors).toHaveLength(1);
    const [, location, ptr, code_] = /^(\S+:\d+:\d+) (\S+) error (\S+):/.exec(errors[0]) ?? [];
    expect(code_).toBe(code);
    expect(ptr).toBe(pointer || '/');
    // Named relative to the repository, wherever the command runs.
    expect(location).toMatch(new RegExp(`^test/fixtures/bad/${path.basename(file).replace('.', '\\.')}:\\d+:\\d+$`));
    expect(err).not.toMatch(/\n\s+at /); // no stack trace
    expect(fs.existsSync(out)).toBe(false);
  });

  test('fails: a failing run leaves an existing dist/ exactly as it was', () => {
    const out = path.join(tempDir(), 'dist');
    fs.mkdirSync(path.join(out, 'keep'), { recursive: true });
    fs.writeFileSync(path.join(out, 'keep', 'file.txt'), 'old');
    const { status } = synthInto(badFixtures[0].file, out);
    expect(status).toBe(1);
    expect(fs.readdirSync(out)).toEqual(['keep']);
    expect(fs.readFileSync(path.join(out, 'keep', 'file.txt'), 'utf8')).toBe('old');
  });
});
