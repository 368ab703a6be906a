/**
 * Where a cluster file holds secrets, and the one place every diagnostic passes before
 * it is printed: no message and no pointer shows a value found at a secret-bearing
 * position, nor one shaped like a secret, wherever it was written. `plan`'s stderr
 * is what a fleet's CI posts on its pull requests.
 */
import type { Document, Node } from 'yaml';
import { SECRET_KEYS } from '../k3s/facts';
import { YAML } from '../yaml';
import { NODE_PATH } from './schema';
import { type Diagnostic, type Finding, pointer, pointerSegments, quote, redacted, redactTokens, secretShape } from './diagnostics';

const { isAlias, isMap, isScalar, isSeq } = YAML;

/**
 * Field names that carry a secret wherever they are: registry credentials, S3 keys in
 * any spelling (`accessKey`, `secret_key`, `etcd-s3-secret-key`), the K3s flags of
 * SECRET_KEYS. Not `configSecret`, `credentialsSecret`, `secretName`: those name a
 * Secret, they do not hold one.
 */
const SECRET_NAME = /^(?:password|passwd|username|auth|identity_?token|identitytoken|secret|key_file)$|access[-_]?key|secret[-_]?(?:access[-_]?)?key/i;

/** Fields under a secret-bearing position that are names, not values: printed as they are. */
const KNOWN_FIELDS: ReadonlySet<string> = new Set([
  'file', 'agentFile', 'username', 'password', 'auth', 'token', 'identity_token', 'identitytoken', 'username_file', 'password_file', 'auth_file',
]);

/** Fields whose value is a path on the node: a path may be printed, anything else there may be the secret itself. */
const PATH_FIELD = /^(?:file|agentFile|.*[_-]file)$/;
const IS_NODE_PATH = new RegExp(NODE_PATH);

/**
 * Whether the value at these pointer segments may be a secret: anything under
 * `spec.token` (the join tokens) or a registry's `auth` (its credentials), and any
 * field named like a credential or key, at any depth.
 */
export function isSecretPosition(segments: readonly string[]): boolean {
  const [a, b, c, , e] = segments;
  if (a === 'spec' && b === 'token') return true;
  if (a === 'spec' && b === 'registries' && c === 'configs' && e === 'auth') return true;
  return segments.some((s) => SECRET_KEYS.has(s) || SECRET_NAME.test(s));
}

/** A string the file holds that no message may print, and why, for the message that would have. */
interface Secret {
  readonly text: string;
  readonly why: string;
  /** A mapping key: the pointer names it too. */
  readonly key: boolean;
}

interface Walked {
  readonly secrets: readonly Secret[];
  /** K3s join tokens anywhere, by pointer: the SECRET_IN_CONFIG findings. */
  readonly tokens: readonly Finding[];
}

const walked = new WeakMap<Document, Walked>();

/** The text a scalar's value prints as, where it could carry a secret (not null, not a boolean). */
function scalarTexts(node: Node): string[] {
  if (!isScalar(node)) return [];
  const { value, source } = node as { value: unknown; source?: string };
  if (typeof value === 'string') return [value];
  if (typeof value === 'number' || typeof value === 'bigint') return [...new Set([String(value), ...(typeof source === 'string' ? [source] : [])])];
  return [];
}

/**
 * Walks the whole document once, broken documents included: every value at a
 * secret-bearing position (but a path where a path goes), every unknown key there,
 * and every string shaped like a secret anywhere. Each node is walked at most once as
 * a secret and once as not, so aliases cannot make the walk explode; no recursion, so
 * deep nesting cannot overflow the stack.
 */
function walk(doc: Document): Walked {
  const known = walked.get(doc);
  if (known) return known;
  const secrets: Secret[] = [];
  const tokens: Finding[] = [];
  const seen = [new Set<unknown>(), new Set<unknown>()];
  // `shown` is the pointer as messages may print it: a key that is a secret is `<redacted>`.
  const stack: { node: unknown; segments: string[]; shown: string }[] = [{ node: doc.contents, segments: [], shown: '' }];
  const shaped = (text: string, segments: readonly string[], key: boolean) => {
    const why = secretShape(text);
    if (!why) return false;
    secrets.push({ text, why, key });
    if (why.includes('join token')) {
      tokens.push({ code: 'SECRET_IN_CONFIG', pointer: pointer(...segments), atKey: key, message: `found ${key ? 'a key' : 'a string'} that looks like a K3s join token (redacted); the cluster file is committed to Git, and so is dist/, where it could land: a token never goes in either. Keep it in a file on each node, named by spec.token.file (\`k3s-gitops seed --token-file\` puts it there)` });
    }
    return true;
  };
  while (stack.length > 0) {
    const { node: found, segments, shown } = stack.pop() as (typeof stack)[number];
    const node = isAlias(found) ? found.resolve(doc) : found;
    const secret = isSecretPosition(segments);
    if (!node || seen[secret ? 1 : 0].has(node)) continue;
    seen[secret ? 1 : 0].add(node);
    for (const text of scalarTexts(node as Node)) {
      if (shaped(text, segments, false) || !secret) continue;
      if (PATH_FIELD.test(segments[segments.length - 1] ?? '') && IS_NODE_PATH.test(text)) continue;
      secrets.push({ text, why: `${shown || '/'} may hold a secret`, key: false });
    }
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
        if (key === undefined) continue;
        const child = [...segments, key];
        let hidden = shaped(key, child, true);
        if (!hidden && secret && !KNOWN_FIELDS.has(key)) {
          secrets.push({ text: key, why: `a key under ${shown || '/'}, which may hold a secret`, key: true });
          hidden = true;
        }
        stack.push({ node: pair.value, segments: child, shown: `${shown}${hidden ? '/<redacted>' : pointer(key)}` });
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => stack.push({ node: item, segments: [...segments, String(i)], shown: `${shown}/${i}` }));
    }
  }
  // Longest first, so a secret that holds another is scrubbed whole.
  const result = { secrets: secrets.sort((x, y) => y.text.length - x.text.length), tokens };
  walked.set(doc, result);
  return result;
}

/**
 * Every K3s join token the file holds, anywhere, as a SECRET_IN_CONFIG finding: such a
 * string would reach the committed dist/ (a cloud-init command, a label) or at least
 * sit in the committed cluster file.
 */
export function joinTokensIn(doc: Document): Finding[] {
  return [...walk(doc).tokens];
}

/** The forms a message may print a string in: as `show` quotes it, JSON-quoted, quoted, and bare when long enough to be unambiguous. */
function printedForms(text: string): string[] {
  const forms = [quote(text), JSON.stringify(text), `"${text}"`];
  // A bare 5 or "admin" would hit too much else; numbers print bare, so long ones count.
  if (text.length >= 8 || (/^\d{6,}$/.test(text))) forms.push(text);
  return [...new Set(forms)].filter((f) => f.length > 2);
}

/** A pointer with every segment that is a secret key, or shaped like a secret, replaced by `<redacted>`. */
function redactPointer(ptr: string, secrets: readonly Secret[]): string {
  const keys = new Set(secrets.filter((s) => s.key).map((s) => s.text));
  const segments = pointerSegments(ptr);
  if (!segments.some((s) => keys.has(s) || secretShape(s))) return ptr;
  return segments.map((s) => (keys.has(s) || secretShape(s) ? '/<redacted>' : pointer(s))).join('');
}

/**
 * The one redaction point: every diagnostic about a cluster file passes here before
 * anyone prints it (`locate`, the YAML errors). Knowing the document, it replaces in
 * message and pointer every value found at a secret-bearing position and every
 * secret-shaped string the file holds, then anything token-shaped left; the line,
 * column, code and what is allowed stay.
 */
export function redactDiagnostic(d: Diagnostic, doc: Document): Diagnostic {
  const { secrets } = walk(doc);
  let message = d.message;
  for (const s of secrets) {
    for (const form of printedForms(s.text)) {
      if (message.includes(form)) message = message.split(form).join(redacted(s.why));
    }
  }
  return { ...d, pointer: redactPointer(d.pointer, secrets), message: redactTokens(message) };
}
