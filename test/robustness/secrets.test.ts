/**
 * Nothing leaked: no output of any command prints a value found at a secret-bearing
 * position of the cluster file (the join tokens, registry credentials, S3 keys, the
 * K3s flags that carry secrets), nor anything shaped like a K3s join token, wherever it
 * was written. Each case plants fake secrets, built here at run time so that no file
 * in the repository holds one, runs the compiled CLI as users do, and searches all it
 * prints (stdout and stderr) and every file `synth` writes for the secrets and for any
 * 12-character piece of them. The diagnostics must still say where: file, line,
 * column, pointer and code.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseDocument, type Document } from 'yaml';
import { GOOD, runCli, tempDir } from '../helpers';

/** `n` hex digits derived from `label`: a different fake secret for every label, none in the repository. */
function fakeHex(label: string, n: number): string {
  let out = '';
  for (let i = 0; out.length < n; i++) out += createHash('sha256').update(`${label}/${i}`).digest('hex');
  return out.slice(0, n);
}

/** K3s's secure token format, `K10<CA hash>::<user>:<password>` (k3s-io/k3s pkg/clientaccess/token.go). */
const fakeToken = (label: string) => `K10${fakeHex(`${label}-ca`, 64)}::server:${fakeHex(`${label}-pw`, 32)}`;
/** A bare hex secret, as K3s's short token format or an S3 key. */
const fakeBareHex = (label: string) => fakeHex(label, 40);
/** A base64 secret, mixed case. */
const fakeBase64 = (label: string) => Buffer.from(fakeHex(label, 60), 'hex').toString('base64');
/** A password whose shape says nothing: only its position makes it a secret. */
const fakeWord = (label: string) => `pw-${fakeHex(label, 10)}`;

const REGISTRY = 'registry.example.internal:5000';
const AUTH = ['spec', 'registries', 'configs', REGISTRY, 'auth'];
const AUTH_PTR = `/spec/registries/configs/${REGISTRY}/auth`;
/** The token `seed` reads from the environment in every case: an error must not print it either. */
const SEED_TOKEN = fakeToken('seed-env');
/** No S3 keys: `seed --restore` of an S3 snapshot stops at asking for them. */
const ENV = { K3S_GITOPS_TEST_TOKEN: SEED_TOKEN, AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' };

interface Case {
  readonly name: string;
  /** Plants the secrets in the base cluster file (ha.yaml). */
  readonly edit?: (doc: Document) => void;
  /** Or edits the text, for what YAML cannot express as a value (tags, aliases, broken syntax). */
  readonly editText?: (text: string) => string;
  readonly secrets: readonly string[];
  /** Diagnostics `validate` must still print: [code, pointer as printed]. */
  readonly expect: readonly (readonly [string, string])[];
}

const t = fakeToken;
const CASES: Case[] = [
  { name: 'spec.token is the token itself', edit: (d) => d.setIn(['spec', 'token'], t('a')), secrets: [t('a')], expect: [['WRONG_TYPE', '/spec/token'], ['SECRET_IN_CONFIG', '/spec/token']] },
  { name: 'spec.token.file is the token', edit: (d) => d.setIn(['spec', 'token', 'file'], t('b')), secrets: [t('b')], expect: [['BAD_FORMAT', '/spec/token/file']] },
  { name: 'spec.token.file is a short-format (hex) token', edit: (d) => d.setIn(['spec', 'token', 'file'], fakeBareHex('c')), secrets: [fakeBareHex('c')], expect: [['BAD_FORMAT', '/spec/token/file']] },
  { name: 'spec.token.agentFile is a base64 secret', edit: (d) => d.setIn(['spec', 'token', 'agentFile'], fakeBase64('d')), secrets: [fakeBase64('d')], expect: [['BAD_FORMAT', '/spec/token/agentFile']] },
  { name: 'spec.token.agentFile is a plain word', edit: (d) => d.setIn(['spec', 'token', 'agentFile'], fakeWord('e')), secrets: [fakeWord('e')], expect: [['BAD_FORMAT', '/spec/token/agentFile']] },
  { name: 'spec.token.file is a number', edit: (d) => d.setIn(['spec', 'token', 'file'], Number.parseInt(fakeHex('e2', 10), 16)), secrets: [String(Number.parseInt(fakeHex('e2', 10), 16))], expect: [['WRONG_TYPE', '/spec/token/file']] },
  { name: 'the token pasted as a key under spec.token', edit: (d) => d.setIn(['spec', 'token', fakeWord('f')], null), secrets: [fakeWord('f')], expect: [['UNKNOWN_FIELD', '/spec/token/<redacted>']] },
  { name: 'spec.token and token.file the same secret', edit: (d) => { d.setIn(['spec', 'token', 'file'], fakeWord('g')); d.setIn(['spec', 'token', 'agentFile'], fakeWord('g')); }, secrets: [fakeWord('g')], expect: [['BAD_FORMAT', '/spec/token/file'], ['BAD_FORMAT', '/spec/token/agentFile']] },
  { name: 'an inline registry password', edit: (d) => d.setIn([...AUTH, 'password'], fakeWord('h')), secrets: [fakeWord('h')], expect: [['SECRET_IN_CONFIG', `${AUTH_PTR}/password`]] },
  { name: 'a registry password that is a number', edit: (d) => d.setIn([...AUTH, 'password'], Number.parseInt(fakeHex('i', 11), 16)), secrets: [String(Number.parseInt(fakeHex('i', 11), 16))], expect: [['WRONG_TYPE', `${AUTH_PTR}/password`]] },
  { name: 'a registry username over 4096 characters', edit: (d) => d.setIn([...AUTH, 'username'], fakeBase64('j').repeat(110)), secrets: [fakeBase64('j').repeat(110)], expect: [['OUT_OF_RANGE', `${AUTH_PTR}/username`]] },
  { name: 'a registry password_file that is the password', edit: (d) => { d.setIn([...AUTH, 'username_file'], '/etc/registry/user'); d.setIn([...AUTH, 'password_file'], fakeBareHex('k')); }, secrets: [fakeBareHex('k')], expect: [['BAD_FORMAT', `${AUTH_PTR}/password_file`]] },
  { name: 'a registry auth_file that is a word', edit: (d) => d.setIn([...AUTH, 'auth_file'], fakeWord('l')), secrets: [fakeWord('l')], expect: [['BAD_FORMAT', `${AUTH_PTR}/auth_file`]] },
  { name: 'registry auth given as "user:password"', edit: (d) => d.setIn(AUTH, `admin:${fakeWord('m')}`), secrets: [fakeWord('m')], expect: [['WRONG_TYPE', AUTH_PTR]] },
  { name: 'a registry identity token', edit: (d) => d.setIn([...AUTH, 'identity_token'], fakeBase64('n')), secrets: [fakeBase64('n')], expect: [['SECRET_IN_CONFIG', `${AUTH_PTR}/identity_token`]] },
  { name: 'a registry identity token, misspelt', edit: (d) => d.setIn([...AUTH, 'identitytoken'], t('n2')), secrets: [t('n2')], expect: [['UNKNOWN_FIELD', `${AUTH_PTR}/identitytoken`], ['SECRET_IN_CONFIG', `${AUTH_PTR}/identitytoken`]] },
  { name: 'a registry TLS key pasted for key_file', edit: (d) => d.setIn(['spec', 'registries', 'configs', REGISTRY, 'tls', 'key_file'], fakeBase64('o')), secrets: [fakeBase64('o')], expect: [['BAD_FORMAT', `/spec/registries/configs/${REGISTRY}/tls/key_file`]] },
  { name: 'S3 keys in spec.etcd.s3', edit: (d) => { d.setIn(['spec', 'etcd', 's3', 'accessKey'], fakeWord('p')); d.setIn(['spec', 'etcd', 's3', 'secretKey'], fakeBase64('p')); }, secrets: [fakeWord('p'), fakeBase64('p')], expect: [['UNKNOWN_FIELD', '/spec/etcd/s3/accessKey'], ['UNKNOWN_FIELD', '/spec/etcd/s3/secretKey']] },
  { name: 'S3 keys in a backup target', edit: (d) => { d.setIn(['spec', 'backup', 'targets', 0, 's3'], { endpoint: 's3.example.internal', bucket: 'b', credentialsSecret: 'dr', access_key: fakeWord('q'), secret_key: [fakeBareHex('q')] }); }, secrets: [fakeWord('q'), fakeBareHex('q')], expect: [['UNKNOWN_FIELD', '/spec/backup/targets/0/s3/access_key'], ['UNKNOWN_FIELD', '/spec/backup/targets/0/s3/secret_key']] },
  { name: 'an S3 key as a K3s flag in extraConfig', edit: (d) => d.setIn(['spec', 'extraConfig', 'servers', 'etcd-s3-secret-key'], fakeWord('r')), secrets: [fakeWord('r')], expect: [['SECRET_IN_CONFIG', '/spec/extraConfig/servers/etcd-s3-secret-key']] },
  { name: 'an S3 key over 4096 characters as a K3s flag', edit: (d) => d.setIn(['spec', 'nodes', 0, 'extraConfig', 'etcd-s3-access-key'], fakeBase64('r2').repeat(110)), secrets: [fakeBase64('r2').repeat(110)], expect: [['WRONG_TYPE', '/spec/nodes/0/extraConfig/etcd-s3-access-key']] },
  { name: 'tokens as K3s flags in extraConfig, per role and per node', edit: (d) => { d.setIn(['spec', 'extraConfig', 'agents', 'token'], t('s')); d.setIn(['spec', 'nodes', 0, 'extraConfig', 'agent-token'], { value: fakeWord('s') }); d.setIn(['spec', 'nodes', 1, 'extraConfig', 'datastore-endpoint'], `postgres://k3s:${fakeWord('s2')}@db:5432/k3s`); }, secrets: [t('s'), fakeWord('s'), fakeWord('s2')], expect: [['WRONG_TYPE', '/spec/nodes/0/extraConfig/agent-token']] },
  { name: 'a token in a cloud-init command (it would be committed in user-data)', edit: (d) => d.setIn(['spec', 'cloudInit', 'postInstallCommands'], [`k3s token rotate --new-token ${t('t')}`]), secrets: [t('t')], expect: [['SECRET_IN_CONFIG', '/spec/cloudInit/postInstallCommands/0']] },
  { name: 'a token as a label value', edit: (d) => d.setIn(['spec', 'nodes', 0, 'labels', 'note'], t('u')), secrets: [t('u')], expect: [['OUT_OF_RANGE', '/spec/nodes/0/labels/note'], ['SECRET_IN_CONFIG', '/spec/nodes/0/labels/note']] },
  { name: 'a token as a key', edit: (d) => d.setIn(['spec', t('v')], 1), secrets: [t('v')], expect: [['UNKNOWN_FIELD', '/spec/<redacted>']] },
  { name: 'a token under a misspelt field (did you mean)', edit: (d) => d.setIn(['spec', 'tokn'], t('w')), secrets: [t('w')], expect: [['UNKNOWN_FIELD', '/spec/tokn'], ['SECRET_IN_CONFIG', '/spec/tokn']] },
  { name: 'a token as the K3s version (a semantic rule)', edit: (d) => d.setIn(['spec', 'k3s', 'version'], t('x')), secrets: [t('x')], expect: [['SECRET_IN_CONFIG', '/spec/k3s/version']] },
  { name: 'a token as a YAML tag (a parse error)', editText: (s) => s.replace('kind: Cluster', `kind: !${t('y')} Cluster`), secrets: [t('y')], expect: [['YAML_TAG_RESOLVE_FAILED', '/']] },
  { name: 'a token as a YAML alias', editText: (s) => s.replace('  token:\n    file: /etc/rancher/k3s/token', `  token: *${t('z')}`), secrets: [t('z')], expect: [] },
  { name: 'a token in a line YAML cannot parse', editText: (s) => s.replace('  token:\n    file: /etc/rancher/k3s/token', `  token: "${t('aa')}\n    file: ${fakeWord('aa')}`), secrets: [t('aa'), fakeWord('aa')], expect: [] },
];

/** What a test searches for: the secret, and every 12-character piece of it (every 6th, for long ones). */
function pieces(secret: string): string[] {
  if (secret.length <= 12) return [secret];
  const step = secret.length > 200 ? 6 : 1;
  const out: string[] = [];
  for (let i = 0; i + 12 <= secret.length; i += step) out.push(secret.slice(i, i + 12));
  return out;
}

/** Fails naming the output and the piece that leaked. */
function expectNoSecret(outputs: ReadonlyMap<string, string>, secrets: readonly string[]): void {
  for (const secret of [...secrets, SEED_TOKEN]) {
    const wanted = pieces(secret);
    for (const [what, text] of outputs) {
      const leaked = wanted.find((p) => text.includes(p));
      expect({ what, leaked, line: leaked && text.split('\n').find((l) => l.includes(leaked))?.slice(0, 300) }).toEqual({ what, leaked: undefined, line: undefined });
    }
  }
}

/** A project holding the one cluster file, as a fleet repository has it. */
function project(text: string): string {
  const dir = tempDir('secrets-');
  fs.writeFileSync(path.join(dir, 'package.json'), '{}\n');
  fs.mkdirSync(path.join(dir, 'clusters'));
  fs.writeFileSync(path.join(dir, 'clusters', 'leak.yaml'), text);
  return dir;
}

/** Every file under a folder, by path, for the search. */
function filesUnder(dir: string): [string, string][] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { recursive: true }).map(String).filter((f) => fs.statSync(path.join(dir, f)).isFile()).map((f) => [f, fs.readFileSync(path.join(dir, f), 'utf8')]);
}

/** Runs every command on the project; returns all they printed and all synth wrote, by name. */
function runEverything(dir: string, extra: readonly string[][] = []): Map<string, string> {
  const spec = 'clusters/leak.yaml';
  const commands = [
    ['validate', spec], ['plan', spec], ['synth', spec], ['explain', spec],
    ['seed', spec, '--node', 'no-such-node', '--token-env', 'K3S_GITOPS_TEST_TOKEN'],
    ...extra,
  ];
  const outputs = new Map<string, string>();
  for (const args of commands) {
    const r = runCli(args, { cwd: dir, env: ENV });
    outputs.set(`${args.join(' ')} (exit ${r.status})`, `${r.stdout}\n${r.stderr}`);
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/\n\s+at .+:\d+:\d+/);
  }
  for (const [f, text] of filesUnder(path.join(dir, 'dist'))) outputs.set(`dist/${f}`, text);
  return outputs;
}

const base = fs.readFileSync(path.join(GOOD, 'ha.yaml'), 'utf8');

describe('no output prints a secret, wherever it was written', () => {
  test('the base cluster file is valid, so each case carries only its planted defects', () => {
    expect(runCli(['validate', path.join(GOOD, 'ha.yaml')]).status).toBe(0);
  });

  test.each(CASES.map((c) => [c.name, c] as const))('fails: %s, and no command prints it', (_name, c) => {
    let text = base;
    if (c.edit) {
      const doc = parseDocument(base);
      c.edit(doc);
      text = doc.toString({ lineWidth: 0 });
    }
    if (c.editText) text = c.editText(text);
    for (const s of c.secrets) expect(text).toContain(s.length > 100 ? s.slice(0, 100) : s);
    const dir = project(text);
    const outputs = runEverything(dir);
    const validate = [...outputs].find(([k]) => k.startsWith('validate '));
    expect(validate?.[0]).toMatch(/\(exit 1\)$/);
    for (const [code, ptr] of c.expect) {
      const escaped = ptr.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      expect(validate?.[1]).toMatch(new RegExp(`^clusters/leak\\.yaml:\\d+:\\d+ ${escaped} error ${code}: `, 'm'));
    }
    expectNoSecret(outputs, c.secrets);
  });

  test('fails: a committed tree holding a token is never printed back, by IMMUTABLE_KEY, plan or the drift diff', () => {
    const dir = project(base.replace('bootstrapped: false', 'bootstrapped: true'));
    expect(runCli(['synth'], { cwd: dir }).status).toBe(0);
    const secret = t('committed');
    const config = path.join(dir, 'dist', 'example', 'nodes', 'master-1', 'config.yaml');
    fs.writeFileSync(config, fs.readFileSync(config, 'utf8').replace(/^cluster-cidr: .*$/m, `cluster-cidr: ${secret}`));
    const outputs = runEverything(dir, [['plan', '--json'], ['synth', '--check']]);
    const plan = [...outputs].find(([k]) => k.startsWith('plan clusters/'));
    expect(plan?.[1]).toMatch(/^clusters\/leak\.yaml:\d+:\d+ \/spec\/network\/clusterCidr error IMMUTABLE_KEY: /m);
    // The one file that holds it is the one planted; synth refused, so it is as planted.
    outputs.delete('dist/example/nodes/master-1/config.yaml');
    expectNoSecret(outputs, [secret]);
  });

  test('fails: a secret given where a command line wants a name or a path is not echoed', () => {
    const dir = project(base);
    const secret = t('argv');
    const outputs = new Map<string, string>();
    for (const args of [
      ['validate', secret], ['plan', `--${secret}`], ['explain', 'clusters/leak.yaml', secret],
      ['seed', 'clusters/leak.yaml', '--node', secret, '--token-env', 'K3S_GITOPS_TEST_TOKEN'],
      ['seed', 'clusters/leak.yaml', '--node', 'master-1', '--token-env', secret],
      ['seed', 'clusters/leak.yaml', '--node', 'master-1', '--token-file', secret],
      ['seed', 'clusters/leak.yaml', '--node', 'master-1', '--token-env', 'K3S_GITOPS_TEST_TOKEN', '--restore', secret],
      ['seed', 'clusters/leak.yaml', '--node', 'master-1', '--token-env', 'K3S_GITOPS_TEST_TOKEN', '--registry-credential', secret],
    ]) {
      const r = runCli(args, { cwd: dir, env: ENV });
      expect(r.status).toBe(2);
      outputs.set(args.join(' '), `${r.stdout}\n${r.stderr}`);
    }
    expectNoSecret(outputs, [secret]);
  });
});
