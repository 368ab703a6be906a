/**
 * A first boot, run for real as far as a test can: cloud-init's own `shellify` turns the
 * user-data's runcmd into the script cloud-init writes and runs
 * (/var/lib/cloud/instance/scripts/runcmd, cloudinit/config/cc_runcmd.py), and the
 * host's /bin/sh (dash, the /bin/sh of Debian and Ubuntu) runs it in a chroot: the
 * host's /usr bind-mounted read-only in a private mount namespace (`unshare --mount`,
 * gone when the run ends), everything else the test's, with the user-data's
 * write_files at their paths and modes.
 *
 * How a run differs from a machine's first boot:
 * - only write_files and runcmd are applied; packages, hostname, ssh keys and the other
 *   modules are not (tests check those keys in the document itself);
 * - stand-ins first on PATH take what would reach the network or change the host:
 *   curl (serves an install script that records its env), mount and umount (an `nfs`
 *   mount shows /nfs/<server><path> of the chroot through a symlink), k3s (records its
 *   arguments and the sha256 of the file cluster-reset-restore-path names) and
 *   systemctl. Each appends one line to /calls;
 * - no /proc, /sys or /dev but /dev/null; no network;
 * - it needs root (unshare --mount, chroot), as the network-namespace drills do.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseYaml, tempDir } from './helpers';

/** The commands of the stand-ins, each logging to /calls inside the chroot. */
const STANDINS: Readonly<Record<string, string>> = {
  curl: `#!/bin/sh
echo "curl $*" >> /calls
out=
while [ "$#" -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done
[ -n "$out" ] || exit 22
printf '%s\\n' '#!/bin/sh' 'echo "install version=$INSTALL_K3S_VERSION exec=$INSTALL_K3S_EXEC skip-start=\${INSTALL_K3S_SKIP_START:-}" >> /calls' > "$out"
`,
  mount: `#!/bin/sh
echo "mount $*" >> /calls
eval "dir=\\\${$#}"
eval "src=\\\${$(($# - 1))}"
export_dir="/nfs/\${src%%:*}\${src#*:}"
[ -d "$export_dir" ] || { echo "mount.nfs: access denied by server while mounting $src" >&2; exit 32; }
rmdir "$dir" && ln -s "$export_dir" "$dir"
`,
  umount: `#!/bin/sh
echo "umount $*" >> /calls
[ -L "$1" ] && rm "$1" && mkdir "$1"
`,
  k3s: `#!/bin/sh
echo "k3s $*" >> /calls
[ "$1" = server ] || exit 0
config=
while [ "$#" -gt 0 ]; do [ "$1" = --config ] && config=$2; shift; done
restore=$(sed -n 's/^cluster-reset-restore-path: //p' "$config")
[ -f "$restore" ] || { echo "etcd: snapshot path does not exist: $restore" >&2; exit 1; }
echo "k3s reset-from $restore $(sha256sum < "$restore" | cut -d' ' -f1)" >> /calls
[ -z "\${K3S_STANDIN_FAIL:-}" ] || exit 1
`,
  systemctl: `#!/bin/sh
echo "systemctl $*" >> /calls
`,
};

/** cloud-init's own interpreter, from its launcher's first line. */
function cloudInitPython(): string {
  const launcher = spawnSync('sh', ['-c', 'command -v cloud-init'], { encoding: 'utf8' }).stdout.trim();
  if (!launcher) throw new Error('cloud-init is not installed; run .ci/run or apt-get install it');
  return fs.readFileSync(launcher, 'utf8').split('\n')[0].replace(/^#!\s*/, '').split(' ')[0];
}

/** The runcmd script exactly as cloud-init writes it, by its own code. */
export function shellifyRuncmd(runcmd: unknown[]): string {
  const r = spawnSync(cloudInitPython(), ['-c', 'import json, sys\nfrom cloudinit.util import shellify\nsys.stdout.write(shellify(json.load(sys.stdin)))'], { input: JSON.stringify(runcmd), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`shellify failed: ${r.stderr}`);
  return r.stdout;
}

export const RUNCMD = '/var/lib/cloud/instance/scripts/runcmd';

export interface Boot {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The lines the stand-ins logged, in order. */
  readonly calls: string[];
}

/** A blank machine that boots one user-data; `nfs` holds the exports its network serves. */
export class Machine {
  readonly root = tempDir('machine-');

  constructor(userData: string, nfs: Readonly<Record<string, Readonly<Record<string, string | Buffer>>>> = {}) {
    if (process.getuid?.() !== 0) throw new Error('a first boot runs in a chroot with a private mount namespace: run the tests as root (.ci/run does)');
    for (const d of ['usr', 'dev', 'etc', 'run', 'tmp', 'var/tmp', 'opt/standins', 'nfs']) fs.mkdirSync(this.at(d), { recursive: true });
    for (const l of ['bin', 'lib', 'lib64', 'sbin']) fs.symlinkSync(`usr/${l}`, this.at(l));
    fs.writeFileSync(this.at('dev/null'), '');
    fs.chmodSync(this.at('tmp'), 0o1777);
    fs.writeFileSync(this.at('calls'), '');
    for (const [name, text] of Object.entries(STANDINS)) fs.writeFileSync(this.at(`opt/standins/${name}`), text, { mode: 0o755 });
    for (const [where, files] of Object.entries(nfs)) this.serve(where, files);
    const doc = parseYaml(userData);
    for (const f of doc.write_files ?? []) this.write(f.path, f.content, parseInt(f.permissions ?? '0644', 8));
    this.write(RUNCMD, shellifyRuncmd(doc.runcmd ?? []), 0o700);
  }

  /** A path of the machine, on the host. */
  at(p: string): string {
    return path.join(this.root, p);
  }

  /** Writes a file on the machine, making its folders. */
  write(p: string, content: string | Buffer, mode = 0o600): void {
    fs.mkdirSync(path.dirname(this.at(p)), { recursive: true });
    fs.writeFileSync(this.at(p), content);
    fs.chmodSync(this.at(p), mode);
  }

  /** Puts files in an export the machine can mount: `server:path` -> { relative path: content }. */
  serve(where: string, files: Readonly<Record<string, string | Buffer>>): void {
    const [server, exportPath] = [where.slice(0, where.indexOf(':')), where.slice(where.indexOf(':') + 1)];
    const dir = this.at(`nfs/${server}${exportPath}`);
    fs.mkdirSync(dir, { recursive: true });
    for (const [rel, content] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), content);
    }
  }

  /** Runs a script of the machine (by default the first boot's runcmd) as root, as cloud-init does. */
  run(script = RUNCMD, env: Readonly<Record<string, string>> = {}): Boot {
    const before = fs.readFileSync(this.at('calls'), 'utf8').length;
    const inside = 'set -e; mount --bind /usr "$1/usr"; mount -o remount,bind,ro "$1/usr"; mount --bind /dev/null "$1/dev/null"; exec chroot "$1" /bin/sh "$2"';
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', inside, 'sh', this.root, script], {
      encoding: 'utf8', timeout: 30_000,
      env: { PATH: '/opt/standins:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', ...env },
    });
    // The binds lived only in the run's namespace; a /usr that is not empty now would be the host's.
    if (fs.readdirSync(this.at('usr')).length > 0) throw new Error(`${this.at('usr')} is still a mount of the host's /usr: do not delete ${this.root}`);
    const calls = fs.readFileSync(this.at('calls'), 'utf8').slice(before).split('\n').filter(Boolean);
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls };
  }
}
