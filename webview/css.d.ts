// A component imports the CSS file beside it as text (`with { type: 'text' }`), which esbuild inlines.
declare module '*.css' {
  const cssText: string;
  export default cssText;
}
