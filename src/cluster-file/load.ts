import type { ErrorObject } from 'ajv';
import type { Document, LineCounter as LineCounterType, Node } from 'yaml';
import { YAML } from '../yaml';

const { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } = YAML;
import { type Diagnostic, type Finding, pointer, pointerSegments, show } from './diagnostics';
import { DNS_LABEL, DNS_SUBDOMAIN, NODE_PATH } from './schema';
import { redactDiagnostic } from './secrets';
import type { ClusterFile } from './types';

/** The most aliases a file may expand: blocks "billion laughs" documents. */
const MAX_ALIAS_COUNT = 200;

/** A cluster file as read: its text, its YAML document and where each node sits. */
export interface SourceFile {
  readonly file: string;
  readonly doc: Document.Parsed;
  readonly lineCounter: LineCounterType;
}

/** The result of reading one cluster file. `cluster` is set only when it is schema-valid. */
export interface ParsedClusterFile {
  readonly source: SourceFile;
  readonly cluster?: ClusterFile;
  readonly diagnostics: Diagnostic[];
}

/** The schema validator, compiled at build time (scripts/generate-validator.ts). */
interface CompiledValidator {
  (value: unknown): boolean;
  errors?: ErrorObject[] | null;
}

function validateSchema(value: unknown): ErrorObject[] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const validator = require('./schema-validator.generated') as CompiledValidator;
  return validator(value) ? [] : [...(validator.errors ?? [])];
}

/**
 * Parses and schema-checks one cluster file. Pure: takes the text, never the disk.
 * Every problem is returned, placed at its line and column.
 */
export function parseClusterFile(file: string, text: string): ParsedClusterFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, strict: true, prettyErrors: false });
  const source: SourceFile = { file, doc, lineCounter };
  const diagnostics: Diagnostic[] = [];
  const at = (offset: number) => lineCounter.linePos(offset);

  // The yaml library's messages may quote the source (a tag, an alias): redacted like the rest.
  for (const problem of [...doc.errors, ...doc.warnings]) {
    const { line, col } = at(problem.pos[0]);
    diagnostics.push(redactDiagnostic({
      code: `YAML_${problem.code}`, severity: 'error', file, pointer: '', line, col,
      message: problem.message.split('\n')[0],
    }, doc));
  }
  if (diagnostics.length > 0) return { source, diagnostics };

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    return {
      source,
      diagnostics: [redactDiagnostic({ code: 'YAML_ALIAS_LIMIT', severity: 'error', file, pointer: '', line: 1, col: 1, message: `${(e as Error).message.split('\n')[0]}; at most ${MAX_ALIAS_COUNT} aliases are expanded` }, doc)],
    };
  }
  const findings = validateSchema(value).flatMap(findingFromSchemaError);
  diagnostics.push(...findings.map((f) => locate(source, f)));
  return diagnostics.length > 0 ? { source, diagnostics } : { source, cluster: value as ClusterFile, diagnostics };
}

/**
 * Places a finding at the line and column of the node its pointer names. Every finding
 * becomes a diagnostic here, so every one is redacted here (see `redactDiagnostic`).
 */
export function locate(source: SourceFile, finding: Finding): Diagnostic {
  const offset = offsetOf(source.doc, finding.pointer, finding.atKey ?? false);
  const { line, col } = source.lineCounter.linePos(offset);
  return redactDiagnostic({
    code: finding.code, severity: finding.severity ?? 'error', file: source.file,
    pointer: finding.pointer, message: finding.message, line, col,
  }, source.doc);
}

/** Walks the document along a pointer; stops at the deepest node that exists. */
function offsetOf(doc: Document.Parsed, ptr: string, atKey: boolean): number {
  let node: unknown = doc.contents;
  let offset = (node as Node | null)?.range?.[0] ?? 0;
  for (const segment of pointerSegments(ptr)) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === segment);
      if (!pair) break;
      const keyOffset = (pair.key as Node).range?.[0] ?? offset;
      node = pair.value;
      offset = atKey ? keyOffset : (node as Node | null)?.range?.[0] ?? keyOffset;
    } else if (isSeq(node)) {
      const item = node.items[Number(segment)];
      if (item === undefined) break;
      node = item;
      offset = (node as Node | null)?.range?.[0] ?? offset;
    } else {
      break;
    }
  }
  return offset;
}

const PATTERN_MEANING: Record<string, string> = {
  [DNS_LABEL]: 'a DNS-1123 label: lowercase letters, digits and "-", starting and ending with a letter or digit',
  [DNS_SUBDOMAIN]: 'a DNS-1123 subdomain: lowercase letters, digits, "-" and ".", each part starting and ending with a letter or digit',
  [NODE_PATH]: 'an absolute path on the node, without spaces, such as /etc/rancher/k3s/token (the file holds the secret; the cluster file only names it)',
};

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `a ${typeof value} ${show(value)}`;
}

/** Edits (insert, delete, substitute, swap two neighbours) from a to b, ignoring case. */
function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const d = Array.from({ length: x.length + 1 }, (_, i) => Array.from({ length: y.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[x.length][y.length];
}

/** The known field a typo most likely meant: the nearest within a third of its length (at least 2 edits). */
function closest(field: string, known: readonly string[]): string | undefined {
  if (field.length > 100) return undefined;
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const distance = editDistance(field, name);
    if (distance <= Math.max(2, Math.floor(name.length / 3)) && (!best || distance < best.distance)) best = { name, distance };
  }
  return best?.name;
}

/** Turns one ajv error into a finding in the project's terms, or none for noise. */
function findingFromSchemaError(e: ErrorObject): Finding[] {
  const at = e.instancePath;
  // anyOf reports each failed branch too; the anyOf error itself says it all.
  if (e.schemaPath.includes('/anyOf/')) return [];
  switch (e.keyword) {
    case 'required': {
      const field = (e.params as { missingProperty: string }).missingProperty;
      return [{ code: 'MISSING_FIELD', pointer: at + pointer(field), message: `missing required field "${field}"` }];
    }
    case 'additionalProperties': {
      const field = (e.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys((e.parentSchema as { properties?: object }).properties ?? {});
      const guess = closest(field, known);
      return [{ code: 'UNKNOWN_FIELD', pointer: at + pointer(field), atKey: true, message: `unknown field "${field}"${guess ? ` (did you mean "${guess}"?)` : ''}; allowed here: ${known.join(', ')}` }];
    }
    case 'type':
      return [{ code: 'WRONG_TYPE', pointer: at, message: `found ${typeName(e.data)}, expected ${String(e.schema).replace('integer', 'a whole number').replace('object', 'a mapping').replace('array', 'a list')}` }];
    case 'anyOf':
      return [{ code: 'WRONG_TYPE', pointer: at, message: `found ${typeName(e.data)}, expected a string, number, boolean or list of strings` }];
    case 'enum':
      return [{ code: 'NOT_ALLOWED', pointer: at, message: `found ${show(e.data)}; allowed: ${(e.schema as unknown[]).join(', ')}` }];
    case 'const':
      return [{ code: 'NOT_ALLOWED', pointer: at, message: `found ${show(e.data)}; allowed: ${show(e.schema)}` }];
    case 'pattern': {
      const meaning = PATTERN_MEANING[String(e.schema)] ?? `text matching ${e.schema}`;
      return [{ code: 'BAD_FORMAT', pointer: at, message: `found ${show(e.data)}; expected ${meaning}` }];
    }
    case 'propertyNames': {
      const name = (e.params as { propertyName: string }).propertyName;
      return [{ code: 'BAD_FORMAT', pointer: at + pointer(name), atKey: true, message: `key ${show(name)} is not allowed here: keys are lowercase flag names such as "kube-apiserver-arg"` }];
    }
    case 'minimum': case 'maximum': case 'minItems': case 'maxItems': case 'minLength': case 'maxLength':
      return [{ code: 'OUT_OF_RANGE', pointer: at, message: `found ${typeName(e.data)}; ${e.message}` }];
    case 'multipleOf':
      return [{ code: 'OUT_OF_RANGE', pointer: at, message: `found ${show(e.data)}; must be a multiple of ${String(e.schema)}` }];
    case 'uniqueItems':
      return [{ code: 'DUPLICATE_ITEM', pointer: at, message: `list has a duplicate entry; ${e.message}` }];
    default:
      return [{ code: 'SCHEMA', pointer: at, message: e.message ?? 'invalid' }];
  }
}
