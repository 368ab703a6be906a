import * as path from 'node:path';
import { INSTALLED_SCHEMA_REF, renderStarter, type StarterOptions } from './cluster-file/starter';

/**
 * What `k3s-gitops init` adds to a fleet repository: a starter cluster file, a
 * .gitignore where there is none, and on request the package.json scripts and the CI
 * workflow. Pure: the CLI reads what is there and writes what this returns, refusing
 * to overwrite anything.
 */

/** The CI workflow for a fleet repository; docs/guides/fleet-repository.md shows it (a test keeps them equal). */
export const FLEET_WORKFLOW = `name: dist
on: [push, pull_request]
jobs:
  check:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
        with: { node-version: 20, cache: npm }
      - run: npm ci
      - run: npx k3s-gitops validate
      - run: npx k3s-gitops synth --check   # fails, with a diff, when dist/ was not re-synthesized
  plan:
    if: github.event_name == 'pull_request'
    runs-on: ubuntu-24.04
    permissions: { contents: read, pull-requests: write }
    steps:
      - uses: actions/checkout@v4
        with: { fetch-depth: 0 }
      - uses: actions/setup-node@v4
        with: { node-version: 20, cache: npm }
      - run: npm ci
      - run: git worktree add "$RUNNER_TEMP/base" "\${{ github.event.pull_request.base.sha }}"
      - name: plan against the base branch's dist/
        run: |
          set +e
          npx k3s-gitops plan --out "$RUNNER_TEMP/base/dist" > plan.txt 2>&1
          status=$?
          { echo '### k3s-gitops plan'; echo '\`\`\`'; cat plan.txt; echo '\`\`\`'; } > plan.md
          exit $status
      - name: post it on the pull request
        if: always()
        run: gh pr comment "\${{ github.event.pull_request.number }}" --edit-last --body-file plan.md || gh pr comment "\${{ github.event.pull_request.number }}" --body-file plan.md
        env: { GH_TOKEN: "\${{ github.token }}" }
`;

/** Where init puts the workflow. */
export const FLEET_WORKFLOW_PATH = '.github/workflows/k3s-gitops.yml';

/**
 * What a fleet repository keeps out of Git: what `npm ci` installs, and the folders an
 * interrupted `synth` leaves beside dist/ (the next synth puts them right).
 */
export const FLEET_GITIGNORE = `node_modules/
.dist.staging-*/
.dist.previous-*/
`;

/** The package.json scripts a fleet repository runs. */
export const FLEET_SCRIPTS: Readonly<Record<string, string>> = {
  synth: 'k3s-gitops synth',
  check: 'k3s-gitops validate && k3s-gitops synth --check',
  plan: 'k3s-gitops plan',
};

export interface InitFiles {
  /** Relative path -> content, for files that must not exist yet. */
  readonly create: ReadonlyMap<string, string>;
  /** Relative path -> content, for files written only where none exists; one that does is the user's and stays. */
  readonly ifAbsent: ReadonlyMap<string, string>;
  /** Scripts to add to package.json; the names must be free or hold the same command. */
  readonly scripts: Readonly<Record<string, string>>;
}

export function initFiles(o: Omit<StarterOptions, 'schemaRef'>, withCi: boolean): InitFiles {
  const create = new Map<string, string>([[path.posix.join('clusters', `${o.name}.yaml`), renderStarter({ ...o, schemaRef: INSTALLED_SCHEMA_REF })]]);
  if (withCi) create.set(FLEET_WORKFLOW_PATH, FLEET_WORKFLOW);
  return { create, ifAbsent: new Map([['.gitignore', FLEET_GITIGNORE]]), scripts: withCi ? FLEET_SCRIPTS : {} };
}
