import type * as z from 'zod/mini';
import { describeForLog, validateMessage } from '../../src/shared/protocol/validate';

interface VsCodeApi<State> {
  postMessage(message: unknown): void;
  getState(): State | undefined;
  setState(state: State): void;
}

declare function acquireVsCodeApi<State>(): VsCodeApi<State>;

/**
 * The webview's side of a panel's contract: outgoing messages are typed, incoming ones are validated
 * before the UI sees them, and persisted state is checked too, since it may come from an older version.
 */
export function connectToHost<Incoming, Outgoing, State>(schemas: {
  incoming: z.ZodMiniType<Incoming>;
  state: z.ZodMiniType<State>;
}) {
  const api = acquireVsCodeApi<unknown>();
  return {
    post(message: Outgoing): void {
      api.postMessage(message);
    },
    onMessage(handler: (message: Incoming) => void): void {
      window.addEventListener('message', (event: MessageEvent<unknown>) => {
        const message = validateMessage(schemas.incoming, event.data);
        if (message.ok) {
          handler(message.value);
        } else {
          console.warn(`SynthPair: refused message (${message.reason}): ${describeForLog(event.data)}`);
        }
      });
    },
    restoreState(): State | undefined {
      const stored = api.getState();
      if (stored === undefined) {
        return undefined;
      }
      const state = validateMessage(schemas.state, stored);
      return state.ok ? state.value : undefined;
    },
    saveState(state: State): void {
      api.setState(state);
    },
  };
}
