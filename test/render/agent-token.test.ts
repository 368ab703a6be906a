import * as fs from 'node:fs';
import * as path from 'node:path';
import { analyzeSpec } from '../../src/compile';
import { renderK3sConfig } from '../../src/render/k3s-config';
import { renderNodeUserData } from '../../src/render/user-data';
import { GOOD, loadCluster, runCli, tempDir } from '../helpers';

/** ha.yaml with a separate agent token: agents must never hold or name the server token. */
const withAgentToken = (t: string) => t.replace('    file: /etc/rancher/k3s/token\n', '    file: /etc/rancher/k3s/token\n    agentFile: /etc/rancher/k3s/agent-token\n');
const cluster = loadCluster(path.join(GOOD, 'ha.yaml'), withAgentToken);
const SERVER_TOKEN = 'K10server-token-marker';
const AGENT_TOKEN = 'agent-token-marker';

function project(): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = tempDir('agent-token-');
  fs.mkdirSync(path.join(dir, 'clusters'));
  fs.writeFileSync(path.join(dir, 'clusters', 'ha.yaml'), withAgentToken(fs.readFileSync(path.join(GOOD, 'ha.yaml'), 'utf8')));
  return { dir, env: { SERVER_TOKEN, AGENT_TOKEN } };
}

describe('a separate agent token (token.agentFile)', () => {
  test('servers accept agents with agent-token-file and keep their own token; agents join with the agent token only', () => {
    for (const s of cluster.servers) {
      const config = renderK3sConfig(cluster, s);
      expect(config).toContain('token-file: /etc/rancher/k3s/token\n');
      expect(config).toContain('agent-token-file: /etc/rancher/k3s/agent-token\n');
    }
    for (const a of cluster.agents) {
      const config = renderK3sConfig(cluster, a);
      const userData = renderNodeUserData(cluster, a);
      expect(config).toContain('token-file: /etc/rancher/k3s/agent-token\n');
      for (const text of [config, userData]) expect(text).not.toMatch(/\/etc\/rancher\/k3s\/token\b/);
      expect(userData).toContain('the agent token must be at /etc/rancher/k3s/agent-token before K3s starts');
    }
  });

  test('seed: an agent gets the agent token and never the server token; a server gets both', () => {
    const { dir, env } = project();
    const agent = runCli(['seed', 'clusters/ha.yaml', '--node', 'worker-1', '--agent-token-env', 'AGENT_TOKEN'], { cwd: dir, env });
    expect(agent.status).toBe(0);
    expect(agent.stdout).toContain(AGENT_TOKEN);
    expect(agent.stdout).not.toContain(SERVER_TOKEN);
    expect(agent.stdout).not.toMatch(/\/etc\/rancher\/k3s\/token\b/);

    const server = runCli(['seed', 'clusters/ha.yaml', '--node', 'master-2', '--token-env', 'SERVER_TOKEN', '--agent-token-env', 'AGENT_TOKEN'], { cwd: dir, env });
    expect(server.status).toBe(0);
    expect(server.stdout).toContain(SERVER_TOKEN);
    expect(server.stdout).toContain(AGENT_TOKEN);
  });

  test.each([
    [['--node', 'worker-1', '--token-env', 'SERVER_TOKEN', '--agent-token-env', 'AGENT_TOKEN'], 'agents never receive the server token'],
    [['--node', 'worker-1', '--token-env', 'SERVER_TOKEN'], 'agents never receive the server token'],
    [['--node', 'master-1', '--token-env', 'SERVER_TOKEN'], 'a server needs the server token'],
  ])('fails: seed %j is a usage error that prints no token', (args, says) => {
    const { dir, env } = project();
    const r = runCli(['seed', 'clusters/ha.yaml', ...args], { cwd: dir, env });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(says);
    expect(r.stdout + r.stderr).not.toContain(SERVER_TOKEN);
  });

  test('fails: the agent token in the server token\'s file is AGENT_TOKEN_FILE at its pointer', () => {
    const text = fs.readFileSync(path.join(GOOD, 'ha.yaml'), 'utf8').replace('    file: /etc/rancher/k3s/token\n', '    file: /etc/rancher/k3s/token\n    agentFile: /etc/rancher/k3s/token\n');
    expect(analyzeSpec('x.yaml', text).diagnostics).toEqual([expect.objectContaining({ code: 'AGENT_TOKEN_FILE', pointer: '/spec/token/agentFile' })]);
  });
});
