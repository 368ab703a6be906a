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

/** `FILE:LINE:COL /json/pointer severity CODE: message`, one line. */
export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}:${d.line}:${d.col} ${d.pointer || '/'} ${d.severity} ${d.code}: ${d.message}`;
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

/** Shows a found value in a message, short and unambiguous. */
export function show(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
