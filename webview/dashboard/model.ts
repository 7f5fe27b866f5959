import type { EvalRecord, MetricsRecord } from '../../src/shared/protocol/runFiles';
import type { ConfigScalar, DashboardState, PanelConfigKey } from '../../src/shared/protocol/webview';

/** One run as the curves draw it: everything its metrics.jsonl and eval.jsonl held so far. */
export interface CurveRun {
  runDir: string;
  label: string;
  /** The run the rest of the dashboard shows; overlaid runs are drawn fainter. */
  selected: boolean;
  metrics: readonly MetricsRecord[];
  evals: readonly EvalRecord[];
}

export type CurveSettings = NonNullable<DashboardState['curves']>;

/**
 * Events the panel views raise (bubbling and composed, so they cross shadow roots); the dashboard shell turns
 * them into messages to the host or into persisted state.
 */
export interface DashboardEvents {
  /** Write one key of the experiment file, as an undoable edit. */
  'sp-config-edit': CustomEvent<{ key: PanelConfigKey; value: ConfigScalar }>;
  /** Part of the webview state changed; the shell merges it into what it saves with setState. */
  'sp-settings': CustomEvent<Partial<DashboardState>>;
  /** Save an export through the host's save dialog. */
  'sp-export': CustomEvent<{ suggestedName: string; format: 'png' | 'csv'; base64: string }>;
  /** A redrawn pair grid is on screen; the host times edit-to-pixels with it. */
  'sp-rendered': CustomEvent<{ requestId: number; renderMs: number }>;
}

export function emit<K extends keyof DashboardEvents>(
  from: EventTarget,
  type: K,
  detail: DashboardEvents[K]['detail'],
): void {
  from.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
}

/** Bytes as base64, for exports that cross to the host. */
export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  const chunk = 0x8000;
  for (let offset = 0; offset < bytes.length; offset += chunk) {
    binary += String.fromCharCode(...bytes.subarray(offset, offset + chunk));
  }
  return btoa(binary);
}
