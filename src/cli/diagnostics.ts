import type { ConfigDiagnostic } from '../shared/config/experiment/parse';

/**
 * `file:line:column: severity: message`, the form terminals and editors turn into links; `file: severity:
 * message` for a `--set` override, which has no place in the file to point at.
 */
export function formatDiagnostic(file: string, text: string, diagnostic: ConfigDiagnostic): string {
  if (diagnostic.offset === 0 && diagnostic.length === 0) {
    return `${file}: ${diagnostic.severity}: ${diagnostic.message}`;
  }
  const before = text.slice(0, diagnostic.offset);
  const line = before.split('\n').length;
  const column = diagnostic.offset - before.lastIndexOf('\n');
  return `${file}:${line}:${column}: ${diagnostic.severity}: ${diagnostic.message}`;
}
