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
  // Editors do not show a byte-order mark, so the first line's columns start after it.
  const firstCharacter = text.startsWith('\uFEFF') ? 1 : 0;
  const lineStart = Math.max(before.lastIndexOf('\n') + 1, firstCharacter);
  const column = diagnostic.offset - lineStart + 1;
  return `${file}:${line}:${column}: ${diagnostic.severity}: ${diagnostic.message}`;
}
