import { randomBytes } from 'node:crypto';

export interface WebviewHtmlOptions {
  title: string;
  /** `webview.cspSource`: the only origin scripts, styles, fonts and images may come from. */
  cspSource: string;
  scriptUri: string;
  styleUris: readonly string[];
  nonce?: string;
}

export function createNonce(): string {
  return randomBytes(18).toString('base64url');
}

/**
 * The page every SynthPair webview starts from. The policy allows no inline code and no remote source:
 * only the bundle carrying this load's nonce runs, so anything injected into the DOM stays inert.
 */
export function renderWebviewHtml(options: WebviewHtmlOptions): string {
  const nonce = options.nonce ?? createNonce();
  const policy = [
    "default-src 'none'",
    `img-src ${options.cspSource} data: blob:`,
    `style-src ${options.cspSource} 'nonce-${nonce}'`,
    `font-src ${options.cspSource}`,
    // Panels fetch a run's arrays from the run folder through the webview's own resource origin.
    `connect-src ${options.cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  const styles = options.styleUris
    .map((uri) => `<link rel="stylesheet" href="${escapeAttribute(uri)}" nonce="${nonce}">`)
    .join('\n    ');
  return `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <meta http-equiv="Content-Security-Policy" content="${policy}">
    <meta name="viewport" content="width=device-width, initial-scale=1.0">
    ${styles}
    <title>${escapeText(options.title)}</title>
  </head>
  <body>
    <main id="app" aria-busy="true"></main>
    <script nonce="${nonce}" src="${escapeAttribute(options.scriptUri)}" defer></script>
  </body>
</html>`;
}

function escapeText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function escapeAttribute(text: string): string {
  return escapeText(text).replace(/"/g, '&quot;');
}
