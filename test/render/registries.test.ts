import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv from 'ajv';
import { analyzeSpec } from '../../src/compile';
import { clusterImages, IMAGES } from '../../src/images';
import { renderK3sConfig } from '../../src/render/k3s-config';
import { FILL_REGISTRIES_SCRIPT } from '../../src/render/registries';
import { renderNodeUserData } from '../../src/render/user-data';
import { GOOD, goodFixtures, loadCluster, manifestObjects, parseManifests, parseYaml, runCli, tempDir, treeOf } from '../helpers';
import { shellcheckFailures } from '../tools';

const airgap = loadCluster(path.join(GOOD, 'airgap.yaml'));
const tree = treeOf(airgap);
const REGISTRY = 'registry.vault.internal:5000';

/**
 * K3s's registries.yaml as its docs define it (docs/installation/private-registry.md):
 * mirrors with endpoints and rewrites; configs with auth and tls; nothing else.
 */
const K3S_REGISTRIES_SCHEMA = {
  type: 'object', additionalProperties: false,
  properties: {
    mirrors: { type: 'object', additionalProperties: { type: 'object', additionalProperties: false, required: ['endpoint'], properties: { endpoint: { type: 'array', items: { type: 'string', pattern: '^https?://' } }, rewrite: { type: 'object', additionalProperties: { type: 'string' } } } } },
    configs: {
      type: 'object',
      additionalProperties: {
        type: 'object', additionalProperties: false,
        properties: {
          auth: { type: 'object', additionalProperties: false, properties: { username: { type: 'string' }, password: { type: 'string' }, auth: { type: 'string' }, token: { type: 'string' } } },
          tls: { type: 'object', additionalProperties: false, properties: { ca_file: { type: 'string' }, cert_file: { type: 'string' }, key_file: { type: 'string' }, insecure_skip_verify: { type: 'boolean' } } },
        },
      },
    },
  },
};
const validRegistries = new Ajv({ allErrors: true }).compile(K3S_REGISTRIES_SCHEMA);

/** The user-data's write_files, by path. */
const writeFiles = (userData: string) => new Map<string, { content: string; permissions: string }>(parseYaml(userData).write_files.map((f: { path: string; content: string; permissions: string }) => [f.path, f]));

describe('registries.yaml', () => {
  test('is K3s\'s documented format; credentials are references to files on the node, never values', () => {
    const committed = tree.get('registries.yaml') as string;
    expect(validRegistries(parseYaml(committed))).toBe(true);
    expect(parseYaml(committed).configs[REGISTRY].auth).toEqual({ username: 'k3s-gitops-file:/etc/rancher/k3s/registry/username', password: 'k3s-gitops-file:/etc/rancher/k3s/registry/password' });
    const secrets = manifestObjects(tree).filter((o) => o.kind === 'Secret');
    for (const s of secrets) expect(s.stringData['_registries.yaml']).toBe(committed);
  });

  test('the node fills it at first boot: user-data writes the committed file and the fill script, runs it before K3s installs', async () => {
    const userData = renderNodeUserData(airgap, airgap.agents[0]);
    const files = writeFiles(userData);
    const runcmd: string[] = parseYaml(userData).runcmd;
    const fill = runcmd.findIndex((c) => c.startsWith('sh /var/lib/k3s-gitops/fill-registries.sh /var/lib/k3s-gitops/registries.yaml /etc/rancher/k3s/registries.yaml'));
    expect(fill).toBeGreaterThan(-1);
    expect(fill).toBeLessThan(runcmd.findIndex((c) => c.includes('k3s-install.sh')));
    expect(files.get('/var/lib/k3s-gitops/registries.yaml')?.permissions).toBe('0600');
    expect(await shellcheckFailures(new Map([['fill-registries.sh', FILL_REGISTRIES_SCRIPT]]))).toEqual([]);

    // Run the fill script on the files user-data writes, with the credentials on "the machine".
    const root = tempDir('machine-');
    const place = (p: string, text: string) => { fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true }); fs.writeFileSync(path.join(root, p), text); };
    place('committed.yaml', files.get('/var/lib/k3s-gitops/registries.yaml')?.content as string);
    place('fill.sh', files.get('/var/lib/k3s-gitops/fill-registries.sh')?.content as string);
    place('/etc/rancher/k3s/registry/username', 'puller\n');
    place('/etc/rancher/k3s/registry/password', 's3cr"et\\x\n');
    const script = fs.readFileSync(path.join(root, 'fill.sh'), 'utf8').replace('fill_registries "$1" "$2.k3s-gitops-new" ""', `fill_registries "$1" "$2.k3s-gitops-new" "${root}"`);
    fs.writeFileSync(path.join(root, 'fill.sh'), script);
    const r = spawnSync('sh', [path.join(root, 'fill.sh'), path.join(root, 'committed.yaml'), path.join(root, 'registries.yaml')], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const filled = parseYaml(fs.readFileSync(path.join(root, 'registries.yaml'), 'utf8'));
    expect(validRegistries(filled)).toBe(true);
    expect(filled.configs[REGISTRY].auth).toEqual({ username: 'puller', password: 's3cr"et\\x' });
    expect(fs.statSync(path.join(root, 'registries.yaml')).mode & 0o777).toBe(0o600);
  });

  test('seed places the credentials it is given, and refuses a path the cluster file does not name', () => {
    const dir = tempDir('seed-registry-');
    fs.writeFileSync(path.join(dir, 'user'), 'puller\n');
    fs.writeFileSync(path.join(dir, 'pass'), 'registry-secret-marker\n');
    const env = { AGENT_TOKEN: 'agent-token-marker' };
    const base = ['seed', path.join(GOOD, 'airgap.yaml'), '--node', 'vault-w-1', '--agent-token-env', 'AGENT_TOKEN'];
    const r = runCli([...base, '--registry-credential', '/etc/rancher/k3s/registry/username=user', '--registry-credential', '/etc/rancher/k3s/registry/password=pass'], { cwd: dir, env });
    expect(r.stderr).toBe('');
    expect(writeFiles(r.stdout).get('/etc/rancher/k3s/registry/password')).toMatchObject({ content: 'registry-secret-marker\n', permissions: '0600' });
    const wrong = runCli([...base, '--registry-credential', '/etc/shadow=pass'], { cwd: dir, env });
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toContain('names no registry credential at that node path');
    const pasted = runCli([...base, '--registry-credential', 'registry-secret-marker'], { cwd: dir, env });
    expect(pasted.status).toBe(2);
    expect(pasted.stderr).not.toContain('registry-secret-marker');
    expect(wrong.stdout + wrong.stderr).not.toContain('registry-secret-marker');
  });

  test.each([['password', 'password_file'], ['auth', 'auth_file'], ['token', 'auth_file']])('fails: an inline %s is SECRET_IN_CONFIG at its pointer, naming %s', (key, fileKey) => {
    const text = fs.readFileSync(path.join(GOOD, 'airgap.yaml'), 'utf8').replace('          password_file: /etc/rancher/k3s/registry/password\n', `          password_file: /etc/rancher/k3s/registry/password\n          ${key}: hunter2\n`);
    const d = analyzeSpec('x.yaml', text).diagnostics.filter((x) => x.severity === 'error');
    expect(d).toEqual([expect.objectContaining({ code: 'SECRET_IN_CONFIG', pointer: `/spec/registries/configs/${REGISTRY}/auth/${key}` })]);
    expect(d[0].message).toContain(fileKey);
    expect(d[0].message).not.toContain('hunter2');
  });

  test('fails: half a basic-auth pair is REGISTRY_AUTH; a registry with a scheme is INVALID_REGISTRY', () => {
    const text = fs.readFileSync(path.join(GOOD, 'airgap.yaml'), 'utf8');
    expect(analyzeSpec('x.yaml', text.replace('          password_file: /etc/rancher/k3s/registry/password\n', '')).diagnostics)
      .toEqual([expect.objectContaining({ code: 'REGISTRY_AUTH', pointer: `/spec/registries/configs/${REGISTRY}/auth` })]);
    expect(analyzeSpec('x.yaml', text.replace(`systemDefaultRegistry: ${REGISTRY}`, `systemDefaultRegistry: https://${REGISTRY}`)).diagnostics)
      .toEqual([expect.objectContaining({ code: 'INVALID_REGISTRY', pointer: '/spec/k3s/systemDefaultRegistry' })]);
  });
});

describe('the system default registry', () => {
  test('servers get system-default-registry; agents take it from them', () => {
    for (const s of airgap.servers) expect(renderK3sConfig(airgap, s)).toContain(`system-default-registry: ${REGISTRY}\n`);
    expect(renderK3sConfig(airgap, airgap.agents[0])).not.toContain('system-default-registry');
  });

  test.each(goodFixtures().map((f) => [path.basename(f), f]))('%s: every image in every manifest is pinned and listed by `images`, with the registry prefix', (_, file) => {
    const c = loadCluster(file);
    const listed = new Set(clusterImages(c).map((i) => i.image));
    const used = new Set<string>();
    const everyObject = [...treeOf(c)].filter(([k]) => k.endsWith('.k8s.yaml')).flatMap(([, v]) => parseManifests(v));
    for (const o of everyObject) {
      const pod = o.spec?.template?.spec ?? o.spec?.jobTemplate?.spec?.template?.spec;
      for (const ct of [...(pod?.containers ?? []), ...(pod?.initContainers ?? [])]) used.add(ct.image);
      if (o.kind === 'Plan') {
        // system-upgrade-controller tags an untagged Plan image with the Plan's version.
        for (const ct of [o.spec.upgrade, o.spec.prepare].filter(Boolean)) used.add(/:[^/]+$/.test(ct.image) ? ct.image : `${ct.image}:${o.spec.version.replace(/\+/g, '-')}`);
      }
      for (const e of pod?.containers?.flatMap((ct: { env?: { name: string; value?: string }[] }) => ct.env ?? []) ?? []) if (e.name === 'SYSTEM_UPGRADE_JOB_KUBECTL_IMAGE') used.add(e.value as string);
      if (o.kind === 'ConfigMap' && o.data?.SYSTEM_UPGRADE_JOB_KUBECTL_IMAGE) used.add(o.data.SYSTEM_UPGRADE_JOB_KUBECTL_IMAGE);
    }
    expect([...used].sort()).toEqual([...listed].sort());
    for (const image of used) {
      expect(image).toMatch(/:[A-Za-z0-9_][A-Za-z0-9_.-]*$/);
      expect(image).not.toMatch(/:latest$/);
      if (c.systemDefaultRegistry) expect(image.startsWith(`${c.systemDefaultRegistry}/`)).toBe(true);
    }
  });

  test('`images` prints them one per line, prefixed; Docker Hub\'s official images under library/', () => {
    const r = runCli(['images', path.join(GOOD, 'airgap.yaml')]);
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toContain(`${REGISTRY}/library/haproxy:${IMAGES.haproxy.split(':')[1]}`);
    expect(lines).toContain(`${REGISTRY}/rancher/k3s-upgrade:v1.36.3-k3s1`);
    expect(lines.every((l) => l.startsWith(`${REGISTRY}/`))).toBe(true);
    expect(JSON.parse(runCli(['images', path.join(GOOD, 'airgap.yaml'), '--json']).stdout)[0].cluster).toBe('vault');
  });
});

describe('air-gap install', () => {
  const download = /\b(curl|wget)\b|https?:\/\//;

  test('user-data downloads nothing: it checks the staged binary and script, and installs from them', () => {
    for (const node of airgap.nodes) {
      const runcmd: string[] = parseYaml(renderNodeUserData(airgap, node)).runcmd;
      expect(runcmd.filter((c) => download.test(c))).toEqual([]);
      expect(runcmd.some((c) => /INSTALL_K3S_SKIP_DOWNLOAD='?true/.test(c))).toBe(true);
    }
  });

  test('without a registry, K3s\'s images must be staged as a tarball; with one, they come from it', () => {
    const staged = loadCluster(path.join(GOOD, 'airgap.yaml'), (t) => t.replace(/ {4}systemDefaultRegistry:.*\n/, '').replace(/ {2}registries:[\s\S]*?(?= {2}etcd:)/, ''));
    const tarballCheck = (c: typeof airgap) => (parseYaml(renderNodeUserData(c, c.servers[0])).runcmd as string[]).some((cmd) => cmd.includes('/var/lib/rancher/k3s/agent/images/*.tar*'));
    expect(tarballCheck(staged)).toBe(true);
    expect(tarballCheck(airgap)).toBe(false);
  });
});
