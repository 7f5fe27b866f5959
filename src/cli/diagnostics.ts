import type { ConfigDiagnostic } from '../config/experiment/parse';

/** `file:line:column: severity: message`, the form terminals and editors turn into links. */
export function formatDiagnostic(file: string, text: string, diagnostic: ConfigDiagnostic): string {
  const before = text.slice(0, diagnostic.offset);
  const line = before.split('\n').length;
  const column = diagnostic.offset - before.lastIndexOf('\n');
  return `${file}:${line}:${column}: ${diagnostic.severity}: ${diagnostic.message}`;
}
