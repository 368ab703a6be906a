/**
 * `npm run docs`: writes the reference pages rendered from the source (the cluster
 * file's fields, the commands, the error codes). test/docs.test.ts fails when the committed pages differ.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { referencePages } from '../src/docs/reference';

const root = path.resolve(__dirname, '..', '..');
for (const [file, text] of referencePages()) {
  fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
  fs.writeFileSync(path.join(root, file), text);
  console.log(`wrote ${file}`);
}
