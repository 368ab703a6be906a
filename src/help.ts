import { STARTER_K3S_VERSION } from './k3s/version';

/**
 * What `k3s-gitops --help` and `k3s-gitops COMMAND --help` print. A user who gets a
 * command wrong sees that command's usage, not every command's, so each command's
 * text stands alone. Pure: the CLI decides where it goes and with which exit code.
 */
export interface CommandHelp {
  /** The command line after `k3s-gitops `; each further line continues it. */
  readonly usage: readonly string[];
  /** One line: what the command does. */
  readonly summary: string;
  /** Each argument and flag of the usage, in its order, with what it means and its default. */
  readonly options: readonly (readonly [string, string])[];
}

const SPECS: readonly [string, string] = ['SPEC', 'a cluster file; default: every clusters/*.yaml'];

/** Every command, in the order `--help` lists them. The CLI's command table is keyed by these names. */
export const COMMAND_HELP = {
  init: {
    usage: [
      'init --name NAME --server NAME=ADDRESS... [--agent NAME=ADDRESS...]',
      '[--endpoint ADDRESS] [--lb daemonset|external|none] [--interface IF]',
      '[--lb-host NAME=ADDRESS...] [--k3s-version V] [--ci]',
      '[--gitops flux|argocd --repository URL [--branch B]]',
    ],
    summary: 'write a starter clusters/NAME.yaml that validates, and a .gitignore where there is none; never overwrites',
    options: [
      ['--name NAME', 'the cluster\'s name, a DNS label: clusters/NAME.yaml compiles to dist/NAME/'],
      ['--server NAME=ADDRESS', 'a server (K3s with embedded etcd); repeat it: 1 for a lab, 3 or 5 to keep quorum through failures'],
      ['--agent NAME=ADDRESS', 'an agent (worker); repeat it'],
      ['--endpoint ADDRESS', 'the fixed address clients and joining nodes use: the VIP, or a DNS name; needed with more than one server'],
      ['--lb daemonset|external|none', 'the control-plane load balancer: HAProxy and keepalived on the servers, on --lb-host machines, or none; default: daemonset with several servers, else none'],
      ['--interface IF', 'the interface keepalived holds the VIP on; default: eth0'],
      ['--lb-host NAME=ADDRESS', 'with --lb external, a load balancer machine; repeat it'],
      ['--gitops flux|argocd', 'add the objects that make Flux or Argo CD apply dist/NAME/; needs --repository'],
      ['--repository URL', 'the fleet repository the cluster pulls'],
      ['--branch B', 'the branch it pulls; default: main'],
      ['--k3s-version V', `the pinned K3s release; default: ${STARTER_K3S_VERSION}`],
      ['--ci', 'also add the package.json scripts synth, check and plan, and .github/workflows/k3s-gitops.yml'],
    ],
  },
  synth: {
    usage: ['synth [SPEC...] [--out DIR] [--check]'],
    summary: 'compile cluster files into DIR, replacing it whole (with SPECs given, only their DIR/<name>/ folders)',
    options: [
      SPECS,
      ['--out DIR', 'where the trees go; default: dist/. Refused when it holds anything k3s-gitops did not write'],
      ['--check', 'write nothing; exit 1 listing every file that differs from what the specs compile to, with a diff'],
    ],
  },
  validate: {
    usage: ['validate [SPEC...]'],
    summary: 'schema and semantic checks only: print every problem, warnings included; write nothing',
    options: [SPECS],
  },
  plan: {
    usage: ['plan [SPEC...] [--out DIR] [--json]'],
    summary: 'what applying the specs does to each node (unchanged, restart, new, removed, reprovision), then the cluster-wide steps',
    options: [
      SPECS,
      ['--out DIR', 'the tree the cluster runs, to compare with; default: dist/ (in CI: the base branch\'s)'],
      ['--json', 'print the plans as JSON'],
    ],
  },
  explain: {
    usage: ['explain SPEC'],
    summary: 'print the topology: servers, agents, endpoint, quorum and failures tolerated, backups',
    options: [['SPEC', 'the cluster file']],
  },
  seed: {
    usage: [
      'seed SPEC --node NAME (--token-file F | --token-env VAR)',
      '[--agent-token-file F | --agent-token-env VAR]',
      '[--registry-credential NODE_PATH=LOCAL_FILE...]',
      '[--restore SNAPSHOT [--restore-from TARGET]]',
    ],
    summary: 'print bootable cloud-init user-data for one node, its token(s) filled in',
    options: [
      ['SPEC', 'the cluster file'],
      ['--node NAME', 'the node'],
      ['--token-file F', 'read the join token from a local file (one line)'],
      ['--token-env VAR', 'or from an environment variable'],
      ['--agent-token-file F', 'where the cluster file sets token.agentFile: the agent token, from a local file (an agent gets only this one, a server both)'],
      ['--agent-token-env VAR', 'or from an environment variable'],
      ['--registry-credential NODE_PATH=LOCAL_FILE', 'a registry credential the cluster file names by its path on the node, read from a local file; repeat it, for all of them or none'],
      ['--restore SNAPSHOT', 'a server only: rebuild it from an etcd snapshot, an absolute path on the machine or a name in etcd.s3 (keys from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)'],
      ['--restore-from TARGET', 'with --restore NAME: take the snapshot from this backup target, the cluster\'s own folder there (an NFS target is mounted read-only at first boot; S3 keys from the environment)'],
    ],
  },
  kubeconfig: {
    usage: ['kubeconfig SPEC < k3s.yaml'],
    summary: 'print the K3s kubeconfig read on stdin (a server\'s /etc/rancher/k3s/k3s.yaml), pointed at the endpoint',
    options: [['SPEC', 'the cluster file']],
  },
  images: {
    usage: ['images [SPEC...] [--json]'],
    summary: 'every image the trees run, pinned, as the nodes pull them (system default registry applied), one per line',
    options: [SPECS, ['--json', 'also say which cluster and what runs each']],
  },
  schema: {
    usage: ['schema'],
    summary: 'print the cluster file\'s JSON Schema (also in schema/cluster.schema.json)',
    options: [],
  },
} as const satisfies Readonly<Record<string, CommandHelp>>;

/** A command of the CLI. */
export type CommandName = keyof typeof COMMAND_HELP;

/** Whether `name` is a command of the CLI. */
export function isCommand(name: string): name is CommandName {
  return Object.prototype.hasOwnProperty.call(COMMAND_HELP, name);
}

const EXIT_CODES = 'Exit codes: 0 ok, 1 invalid spec or drift, 2 usage error.';

/** Help lines stay within this many columns, as a terminal shows them. */
export const COLUMNS = 100;

/** Splits text at spaces into lines of at most `width` characters (a longer word stays whole). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  return [...lines, line];
}

/** A command line, its continuation lines aligned under its first argument. */
function usageLines(name: CommandName, indent: string): string[] {
  const [first, ...rest] = COMMAND_HELP[name].usage;
  const head = `${indent}k3s-gitops `;
  return [`${head}${first}`, ...rest.map((l) => `${' '.repeat(head.length + name.length + 1)}${l}`)];
}

/** One command's usage, what it does and every option: what `k3s-gitops COMMAND --help` prints. */
export function commandHelp(name: CommandName): string {
  const help: CommandHelp = COMMAND_HELP[name];
  const lines = usageLines(name, 'usage: ');
  lines.push(...wrap(help.summary, COLUMNS));
  if (help.options.length > 0) {
    // A long flag puts its meaning on the next line rather than pushing every column right.
    const width = Math.min(24, Math.max(...help.options.map(([o]) => o.length)));
    const indent = ' '.repeat(width + 4);
    lines.push('');
    for (const [option, meaning] of help.options) {
      const text = wrap(meaning, COLUMNS - indent.length).map((l) => `${indent}${l}`);
      if (option.length > width) lines.push(`  ${option}`, ...text);
      else lines.push(`  ${option.padEnd(width)}  ${text[0].trimStart()}`, ...text.slice(1));
    }
  }
  lines.push('', EXIT_CODES);
  return lines.join('\n');
}

/** Every command's usage and what it does: what `k3s-gitops --help` prints. */
export function fullHelp(): string {
  const lines = ['usage:'];
  for (const name of Object.keys(COMMAND_HELP) as CommandName[]) lines.push(...usageLines(name, '  '), ...wrap(COMMAND_HELP[name].summary, COLUMNS - 6).map((l) => `      ${l}`));
  lines.push(
    '  k3s-gitops COMMAND --help', '      print that command\'s options (also: k3s-gitops help COMMAND)',
    '  k3s-gitops --version', '      print this tool\'s version',
    '',
    `SPEC defaults to clusters/*.yaml. ${EXIT_CODES}`,
  );
  return lines.join('\n');
}
