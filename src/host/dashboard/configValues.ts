import { type FormattingOptions, modify } from 'jsonc-parser';
import { parseExperimentConfig } from '../../shared/config/experiment/parse';
import type { ConfigScalar, PanelConfigKey } from '../../shared/protocol/webview';
import { panelConfigKeys } from '../../shared/protocol/webview';

export type PanelValues = Record<PanelConfigKey, ConfigScalar>;

export type PanelValuesResult = { ok: true; values: PanelValues } | { ok: false; problem: string };

/**
 * The keys the panels show, read from the experiment file's text as the editor holds it (defaults filled in),
 * or the first error that keeps the text from being a config: the panels then keep the values they had.
 */
export function readPanelValues(text: string): PanelValuesResult {
  const parsed = parseExperimentConfig(text);
  if (!parsed.config) {
    const error = parsed.diagnostics.find((diagnostic) => diagnostic.severity === 'error');
    const where = error?.path ? `${error.path}: ` : '';
    return {
      ok: false,
      problem: error ? `${where}${error.message}` : 'the file is not an experiment config',
    };
  }
  const config = parsed.config as unknown as Record<string, unknown>;
  const values = Object.fromEntries(
    panelConfigKeys.map((key) => [key, valueAt(config, key.split('.')) as ConfigScalar]),
  ) as PanelValues;
  return { ok: true, values };
}

function valueAt(tree: Record<string, unknown>, keyPath: readonly string[]): unknown {
  let node: unknown = tree;
  for (const segment of keyPath) node = (node as Record<string, unknown>)[segment];
  return node;
}

/** The keys whose values differ between two readings. */
export function changedKeys(before: PanelValues | undefined, after: PanelValues): PanelConfigKey[] {
  return panelConfigKeys.filter((key) => before?.[key] !== after[key]);
}

export interface TextReplacement {
  offset: number;
  length: number;
  content: string;
}

/**
 * The edits that set `key` to `value` in the experiment file's text, keeping its comments and layout and
 * creating the enclosing objects when the file does not mention them yet.
 */
export function setConfigValue(
  text: string,
  key: PanelConfigKey,
  value: ConfigScalar,
  formatting: FormattingOptions,
): TextReplacement[] {
  return modify(text, key.split('.'), value, { formattingOptions: formatting });
}
