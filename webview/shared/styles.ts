/**
 * Every component's CSS is a file beside it, imported as text (`with { type: 'text' }`) and applied as a
 * constructed stylesheet: the webview's CSP refuses inline styles but not those, and the same kind of file
 * serves a shadow root (a lit element's `static styles`, through `unsafeCSS`) and light DOM (through this).
 */
export function adoptIntoPage(cssText: string): void {
  const sheet = new CSSStyleSheet();
  sheet.replaceSync(cssText);
  document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
}
