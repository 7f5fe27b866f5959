import { color } from 'd3-color';

/** The theme's chart colours (`--vscode-charts-<name>`). */
export const chartColourNames = ['blue', 'red', 'green', 'orange', 'purple', 'yellow'] as const;
export type ChartColour = (typeof chartColourNames)[number];

/** Colours and font the charts are drawn with, read from the theme's CSS variables. */
export interface ChartTheme {
  text: string;
  grid: string;
  background: string;
  font: string;
  colours: Record<ChartColour, string>;
}

/**
 * VS Code's own defaults for `--vscode-charts-*`, for a webview host or theme that leaves one unset: the
 * variables are always set inside VS Code, but a partial theme must still get readable, distinct lines.
 */
const defaultChartColours: Record<'dark' | 'light' | 'highContrast', Record<ChartColour, string>> = {
  dark: {
    blue: '#3794ff',
    red: '#f14c4c',
    green: '#89d185',
    orange: '#d18616',
    purple: '#b180d7',
    yellow: '#cca700',
  },
  light: {
    blue: '#1a85ff',
    red: '#e51400',
    green: '#388a34',
    orange: '#d18616',
    purple: '#652d90',
    yellow: '#bf8803',
  },
  highContrast: {
    blue: '#3794ff',
    red: '#f48771',
    green: '#89d185',
    orange: '#d18616',
    purple: '#b180d7',
    yellow: '#ffd700',
  },
};

function themeKind(body: HTMLElement): keyof typeof defaultChartColours {
  if (body.classList.contains('vscode-light') || body.classList.contains('vscode-high-contrast-light')) {
    return 'light';
  }
  return body.classList.contains('vscode-high-contrast') ? 'highContrast' : 'dark';
}

function withOpacity(css: string, opacity: number): string {
  const parsed = color(css);
  return parsed ? parsed.copy({ opacity: parsed.opacity * opacity }).formatRgb() : css;
}

/** The theme as it applies to `element`, read once per theme: the canvases cannot resolve CSS variables. */
export function readChartTheme(element: Element): ChartTheme {
  const style = getComputedStyle(element);
  const variable = (name: string) => style.getPropertyValue(name).trim();
  const kind = themeKind(document.body);
  const text = variable('--vscode-charts-foreground') || variable('--vscode-foreground') || style.color;
  const lines = variable('--vscode-charts-lines') || text;
  const colours = Object.fromEntries(
    chartColourNames.map((name) => [
      name,
      variable(`--vscode-charts-${name}`) || defaultChartColours[kind][name],
    ]),
  ) as Record<ChartColour, string>;
  return {
    text,
    // High contrast themes draw every border at full strength; elsewhere a grid stays in the background.
    grid: withOpacity(lines, kind === 'highContrast' ? 0.45 : 0.18),
    background:
      variable('--vscode-editor-background') ||
      getComputedStyle(document.body).backgroundColor ||
      'transparent',
    font: chartFont(element),
    colours,
  };
}

/** The axes' font: the editor's family, a little smaller than its text. */
export function chartFont(element: Element): string {
  const style = getComputedStyle(element);
  const variable = (name: string) => style.getPropertyValue(name).trim();
  const fontSize = Number.parseFloat(variable('--vscode-font-size')) || 13;
  const family = variable('--vscode-font-family') || style.fontFamily;
  return `${Math.max(10, fontSize - 2)}px ${family}`;
}

/**
 * CSS colours (custom properties, `color-mix()`) as the canvas takes them: a canvas cannot resolve `var()`, so
 * each is resolved by the browser on a hidden probe inside `host`, where the host's own variables apply.
 */
export function resolveColours<Name extends string>(
  host: Element,
  expressions: Record<Name, string>,
): Record<Name, string> {
  const probe = document.createElement('span');
  probe.hidden = true;
  host.append(probe);
  const resolved = {} as Record<Name, string>;
  for (const [name, expression] of Object.entries(expressions) as [Name, string][]) {
    probe.style.color = expression;
    resolved[name] = getComputedStyle(probe).color;
  }
  probe.remove();
  return resolved;
}

/**
 * Calls `onChange` when the colour theme changes: VS Code then restyles <html> (a switch between two dark
 * themes changes only its variables there) and the body's class.
 */
export function watchTheme(onChange: () => void): MutationObserver {
  const observer = new MutationObserver(onChange);
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ['style', 'class'] });
  observer.observe(document.body, { attributes: true, attributeFilter: ['class'] });
  return observer;
}
