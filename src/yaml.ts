import * as path from 'node:path';

/**
 * The yaml library. cdk8s ships its own copy as a bundled dependency (jsii packages
 * cannot share theirs), and synth loads cdk8s anyway: using that copy spares loading
 * the library twice, about 25 ms of every run (see the benchmark). Both are yaml
 * 2.9.1, pinned; a test keeps them the same version. Resolving the path does not load
 * cdk8s, so validate stays free of it.
 */
export const YAML: typeof import('yaml') = require(require.resolve('yaml', { paths: [path.dirname(require.resolve('cdk8s/package.json'))] }));
