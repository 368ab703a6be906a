import * as path from 'node:path';
import { main, type Io } from '../src/cli';
import { COLUMNS, COMMAND_HELP, commandHelp, fullHelp, type CommandName } from '../src/help';
import { ROOT, runCli, tempDir } from './helpers';

/**
 * Help is where a new user looks first: `k3s-gitops COMMAND --help` prints that
 * command's usage on stdout and exits 0; a usage mistake prints the error and that
 * command's usage only, on stderr, and exits 2. Every case runs the real CLI.
 */
const COMMANDS = Object.keys(COMMAND_HELP) as CommandName[];

/** Whether text shows the usage of a command other than `name`. */
const othersUsage = (text: string, name: string) => COMMANDS.filter((c) => c !== name && new RegExp(`k3s-gitops ${c}\\b`).test(text));

/** For each command, arguments it refuses (one missing, or one too many), and what it then says. */
const WRONG_ARGUMENTS: Record<CommandName, { args: string[]; says: string }> = {
  init: { args: ['--server', 'm1=10.0.0.1'], says: 'init needs --name and at least one --server NAME=ADDRESS' },
  synth: { args: ['--out'], says: 'Option \'--out <value>\' argument missing' },
  validate: { args: [], says: 'no SPEC given and no clusters/ folder here' },
  plan: { args: ['--out'], says: 'Option \'--out <value>\' argument missing' },
  explain: { args: [], says: 'explain takes exactly one SPEC' },
  seed: { args: [path.join(ROOT, 'clusters', 'example.yaml')], says: 'seed needs --node NAME' },
  kubeconfig: { args: [], says: 'kubeconfig takes exactly one SPEC, and the kubeconfig on stdin' },
  images: { args: [], says: 'no SPEC given and no clusters/ folder here' },
  schema: { args: ['extra'], says: 'Unexpected argument \'extra\'. This command does not take positional arguments' },
};

describe('k3s-gitops COMMAND --help', () => {
  test.each(COMMANDS)('%s --help, -h and `help %s` print its usage and options, exit 0', (name) => {
    for (const args of [[name, '--help'], [name, '-h'], ['help', name]]) {
      const r = runCli(args, { cwd: tempDir() });
      expect({ args, status: r.status, stderr: r.stderr }).toEqual({ args, status: 0, stderr: '' });
      expect(r.stdout).toBe(`${commandHelp(name)}\n`);
    }
    const text = commandHelp(name);
    expect(text.startsWith(`usage: k3s-gitops ${name}`)).toBe(true);
    expect(othersUsage(text, name)).toEqual([]);
    for (const [option] of COMMAND_HELP[name].options) expect(text).toContain(`  ${option}`);
  });

  test('--help wins over every other argument, so it never runs the command', () => {
    const dir = tempDir();
    const r = runCli(['init', '--name', 'prod', '--server', 'm1=10.0.0.1', '--help'], { cwd: dir });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${commandHelp('init')}\n`);
    expect(runCli(['validate'], { cwd: dir }).stderr).toContain('no clusters/ folder');
  });

  test('--help, -h and help print every command\'s usage, exit 0', () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const r = runCli(args);
      expect({ args, status: r.status, stderr: r.stderr }).toEqual({ args, status: 0, stderr: '' });
      expect(r.stdout).toBe(`${fullHelp()}\n`);
    }
    for (const name of COMMANDS) expect(fullHelp()).toContain(`  k3s-gitops ${COMMAND_HELP[name].usage[0]}\n`);
  });

  test('every help line fits a terminal', () => {
    const long = [fullHelp(), ...COMMANDS.map(commandHelp)].flatMap((t) => t.split('\n')).filter((l) => l.length > COLUMNS);
    expect(long).toEqual([]);
  });

  test('every flag a command\'s help names is one the command takes', () => {
    const io: Io = { cwd: tempDir(), stdin: () => '', out: () => undefined, err: () => undefined };
    for (const name of COMMANDS) {
      for (const flag of COMMAND_HELP[name].options.map(([o]) => o.split(' ')[0]).filter((o) => o.startsWith('--'))) {
        let said = '';
        main([name, flag], { ...io, err: (t) => { said += t; } });
        expect({ name, flag, said: said.split('\n')[0] }).not.toEqual({ name, flag, said: expect.stringContaining('Unknown option') });
      }
    }
  });
});

describe('usage errors', () => {
  test.each(COMMANDS)('fails: %s with an unknown flag prints the error and its own usage only, exit 2', (name) => {
    const r = runCli([name, '--nosuch'], { cwd: tempDir() });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`k3s-gitops ${name}: Unknown option '--nosuch'\n${commandHelp(name)}\n`);
  });

  test.each(COMMANDS)('fails: %s with an argument missing or extra prints the error and its own usage only, exit 2', (name) => {
    const r = runCli([name, ...WRONG_ARGUMENTS[name].args], { cwd: tempDir() });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    const [error, ...usage] = r.stderr.split('\n');
    expect(error).toBe(`k3s-gitops ${name}: ${WRONG_ARGUMENTS[name].says}`);
    expect(usage.join('\n')).toBe(`${commandHelp(name)}\n`);
    expect(othersUsage(r.stderr, name)).toEqual([]);
  });

  test('fails: no command, or one that does not exist, prints every command\'s usage, exit 2', () => {
    for (const [args, error] of [[[], ''], [['frobnicate'], 'k3s-gitops: unknown command "frobnicate"\n'], [['help', 'frobnicate'], 'k3s-gitops help: unknown command "frobnicate"\n']] as const) {
      const r = runCli([...args]);
      expect({ args, status: r.status, stdout: r.stdout }).toEqual({ args, status: 2, stdout: '' });
      expect(r.stderr).toBe(`${error}${fullHelp()}\n`);
    }
  });
});
