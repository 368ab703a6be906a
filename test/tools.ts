import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { hasCommand, tempDir } from './helpers';

const run = promisify(execFile);

/**
 * The real tools that consume our artifacts. CI installs them (.ci/run); a developer
 * without one sees the test fail with the reason, never a silent pass.
 */
export function requireTool(cmd: string): void {
  if (!hasCommand(cmd)) throw new Error(`${cmd} is not installed; run .ci/run or apt-get install it`);
}

/** Runs `cloud-init schema -c` over each document; returns the failures with the tool's words. */
export async function cloudInitSchemaFailures(docs: ReadonlyMap<string, string>): Promise<string[]> {
  requireTool('cloud-init');
  const dir = tempDir('cloud-init-');
  const checks = [...docs].map(async ([name, text], i) => {
    const file = path.join(dir, `${i}.yaml`);
    fs.writeFileSync(file, text);
    try {
      const { stdout } = await run('cloud-init', ['schema', '-c', file]);
      return stdout.includes('Valid cloud-config') ? undefined : `${name}: ${stdout}`;
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string };
      return `${name}: ${err.stderr ?? ''}${err.stdout ?? ''}`;
    }
  });
  return (await Promise.all(checks)).filter((x): x is string => x !== undefined);
}
