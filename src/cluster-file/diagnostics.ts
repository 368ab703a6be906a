/**
 * Every problem the compiler reports: a stable code, where it is, and a plain
 * message saying what was found and what is allowed.
 */

export type Severity = 'error' | 'warning';

/** A problem in one cluster file. `pointer` is the JSON pointer into the file. */
export interface Diagnostic {
  readonly code: string;
  readonly severity: Severity;
  readonly file: string;
  readonly pointer: string;
  readonly message: string;
  readonly line: number;
  readonly col: number;
}

/** A problem before it has been placed in the file. */
export interface Finding {
  readonly code: string;
  readonly pointer: string;
  readonly message: string;
  readonly severity?: Severity;
  /** Point at the key rather than its value (an unknown or forbidden field). */
  readonly atKey?: boolean;
}

/**
 * `FILE:LINE:COL /json/pointer severity CODE: message`, one line. Diagnostics come
 * redacted from `locate`; a token-shaped string in one built elsewhere is caught here.
 */
export function formatDiagnostic(d: Diagnostic): string {
  return redactTokens(`${d.file}:${d.line}:${d.col} ${d.pointer || '/'} ${d.severity} ${d.code}: ${d.message}`);
}

/** Diagnostics in file order, so a run prints them as the user reads the file. */
export function sortDiagnostics(list: readonly Diagnostic[]): Diagnostic[] {
  return [...list].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col || a.code.localeCompare(b.code));
}

export const hasErrors = (list: readonly Diagnostic[]): boolean => list.some((d) => d.severity === 'error');

/** Encodes one JSON pointer segment (RFC 6901). */
export function pointerSegment(segment: string | number): string {
  return String(segment).replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Builds a JSON pointer from segments. */
export function pointer(...segments: (string | number)[]): string {
  return segments.map((s) => `/${pointerSegment(s)}`).join('');
}

/** Splits a JSON pointer into its segments. */
export function pointerSegments(ptr: string): string[] {
  if (ptr === '' || ptr === '/') return [];
  return ptr.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** What a message prints instead of a secret: why it is not shown, never a piece of it. */
export const redacted = (why: string): string => `[redacted: ${why}]`;

/**
 * K3s's secure join token, `K10<sha256 of the cluster CA>::<username>:<password>`
 * (k3s-io/k3s pkg/clientaccess/token.go), also cut short: the CA hash alone names the
 * cluster, and a message cut at 80 characters keeps most of it.
 */
const K3S_TOKEN = /K10[0-9a-f]{16,}(?:::\S*)?/gi;
/**
 * A bootstrap token, `<6>.<16>` of [a-z0-9] (`k3s token create`), which K3s also takes
 * for `--token`. The digit it asks of the second part keeps DNS names out.
 */
const BOOTSTRAP_TOKEN = /(?<![A-Za-z0-9.-])[a-z0-9]{6}\.(?=[a-z]*[0-9])[a-z0-9]{16}(?![A-Za-z0-9-])(?!\.[A-Za-z0-9])/g;
/** Long hex or mixed-case base64 with a digit: what keys, passwords and short-format tokens look like. */
const BARE_SECRET = /^(?=[^/])(?=.*[0-9])[A-Za-z0-9+/=_-]{32,}$/;

/**
 * Why a string must not be printed, judged by its shape alone, wherever it was
 * written; undefined when its shape says nothing.
 */
export function secretShape(text: string): string | undefined {
  if (text.search(K3S_TOKEN) >= 0) return 'it looks like a K3s join token';
  if (text.search(BOOTSTRAP_TOKEN) >= 0) return 'it looks like a K3s bootstrap token';
  if (BARE_SECRET.test(text) && (/^[0-9a-f]+$/i.test(text) || (/[a-z]/.test(text) && /[A-Z]/.test(text)))) return 'it looks like a key or password';
  return undefined;
}

/**
 * Replaces every token-shaped piece of a text, whatever printed it: a YAML tag, a
 * command-line argument, a committed file. Punctuation that closes the piece stays.
 */
export function redactTokens(text: string): string {
  const replace = (why: string) => (piece: string) => {
    const tail = /[\]"'`),;:.]*$/.exec(piece)?.[0] ?? '';
    return `${redacted(why)}${tail}`;
  };
  return text.replace(K3S_TOKEN, replace('it looks like a K3s join token')).replace(BOOTSTRAP_TOKEN, replace('it looks like a K3s bootstrap token'));
}

const cut = (text: string) => (text.length > 80 ? `${text.slice(0, 77)}...` : text);

/** A found value as `show` prints it when its shape says nothing: the form `redactDiagnostic` scrubs. */
export function quote(value: unknown): string {
  return cut(JSON.stringify(value) ?? String(value));
}

/**
 * Shows a found value in a message, short and unambiguous, and never one shaped like a
 * secret, alone or inside a list or mapping (`redactDiagnostic` takes care of values
 * found where secrets go, whatever their shape).
 */
export function show(value: unknown): string {
  const hide = (v: unknown) => {
    const why = typeof v === 'string' ? secretShape(v) : undefined;
    return why ? redacted(why) : undefined;
  };
  if (typeof value === 'string') return hide(value) ?? quote(value);
  return redactTokens(cut(JSON.stringify(value, (_key, v: unknown) => hide(v) ?? v) ?? String(value)));
}
