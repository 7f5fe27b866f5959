import { toWireError } from '../../shared/protocol/errors';
import type { HostToDashboard } from '../../shared/protocol/webview';
import type { SynthesisResultMessage, WorkerParams, WorkerResult } from '../../shared/protocol/worker';
import type { PanelValues } from './configValues';

/**
 * How long an edit made while a redraw is waiting or running settles before the next redraw starts: about a
 * frame, which folds edits that come together into one request. An edit while nothing is waiting or running
 * starts its redraw at once. The worker cancels a redraw that a newer request overtakes, so typing "0.35" ends
 * in the grid of 0.35 however fast it is typed.
 */
const synthesisDebounceMs = 16;

export interface PairsSynthesisDependencies {
  synthesize(params: WorkerParams<'synthesize'>): Promise<WorkerResult<'synthesize'>>;
  post(message: HostToDashboard): void;
  log(message: string): void;
  debounceMs?: number;
}

/** One redraw from the edit that asked for it to the pixels on screen. */
export interface EditToPixels {
  requestId: number;
  /** From the document change to the webview's report that it painted the grid. */
  totalMs: number;
  /** The worker's share: loading (first time), encoding, perturbing, decoding. */
  workerMs: number;
  /** From the message's arrival in the webview to the painted frame. */
  renderMs: number;
}

interface Requested {
  version: number;
  editedAt: number;
  workerMs?: number;
}

/**
 * Redraws the pair grid in the worker whenever the panel keys of the experiment change: at once when it is
 * idle, else debounced. The worker answers a request superseded by a newer one with `cancelled`, so the grid
 * only ever moves forward.
 */
export class PairsSynthesis {
  private timer: NodeJS.Timeout | undefined;
  private nextId = 1;
  private readonly requested = new Map<number, Requested>();
  private readonly listeners = new Set<(timing: EditToPixels) => void>();
  private latest = 0;
  private running = 0;
  /** The originals and reconstructions the webview holds, from the last grid sent whole. */
  private sentBase?: { id: number; originals: Uint8Array; reconstructions: Uint8Array };
  private nextBaseId = 1;

  constructor(private readonly dependencies: PairsSynthesisDependencies) {}

  /**
   * Asks for a grid of `runDir` with `values`; `editedAt` (performance.now()) is when the edit that changed
   * them happened, which edit-to-pixels is timed from.
   */
  schedule(runDir: string, values: PanelValues, version: number, editedAt: number): void {
    const start = () => {
      this.timer = undefined;
      void this.run(runDir, values, version, editedAt);
    };
    if (this.timer === undefined && this.running === 0) {
      start();
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(start, this.dependencies.debounceMs ?? synthesisDebounceMs);
  }

  /** Drops a pending redraw, e.g. when the panel shows another run. */
  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.latest = this.nextId;
  }

  /** Called when the webview reports the grid of `requestId` painted. */
  rendered(requestId: number, renderMs: number): EditToPixels | undefined {
    const requested = this.requested.get(requestId);
    if (!requested || requested.workerMs === undefined) return undefined;
    this.requested.delete(requestId);
    const timing: EditToPixels = {
      requestId,
      totalMs: performance.now() - requested.editedAt,
      workerMs: requested.workerMs,
      renderMs,
    };
    this.dependencies.log(
      `pairs redrawn: edit to pixels ${timing.totalMs.toFixed(0)} ms (worker ${timing.workerMs.toFixed(0)} ms, webview paint ${renderMs.toFixed(0)} ms)`,
    );
    for (const listener of this.listeners) listener(timing);
    return timing;
  }

  /**
   * Sends a grid to the webview: without its originals and reconstructions when those are the bytes the
   * webview holds already, as after an edit of perturb.* or of the mask.
   */
  show(requestId: number, version: number, result: SynthesisResultMessage): void {
    const base = this.sentBase;
    if (
      base &&
      sameBytes(base.originals, result.originals) &&
      sameBytes(base.reconstructions, result.reconstructions)
    ) {
      const { originals: _originals, reconstructions: _reconstructions, ...perturbed } = result;
      this.dependencies.post({
        type: 'synthesisSameBase',
        requestId,
        version,
        baseId: base.id,
        result: perturbed,
      });
      return;
    }
    // Never reused: a webview that refused a grid keeps the base before it, which must not pass for a newer one.
    const baseId = this.nextBaseId++;
    this.sentBase = { id: baseId, originals: result.originals, reconstructions: result.reconstructions };
    this.dependencies.post({ type: 'synthesis', requestId, version, baseId, result });
  }

  /** The webview holds no base any more (it reloaded) or not the one sent last: the next grid goes whole. */
  forgetSentBase(): void {
    this.sentBase = undefined;
  }

  /** Every measured edit-to-pixels time, as the grids appear. */
  onDidRender(listener: (timing: EditToPixels) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.listeners.clear();
  }

  private async run(runDir: string, values: PanelValues, version: number, editedAt: number): Promise<void> {
    const requestId = this.nextId++;
    this.latest = requestId;
    this.requested.set(requestId, { version, editedAt });
    // Only the newest request's bookkeeping can still be needed.
    for (const id of this.requested.keys()) if (id < requestId - 8) this.requested.delete(id);
    this.dependencies.post({ type: 'synthesisState', requestId, state: 'pending' });
    this.running++;
    try {
      const result = await this.dependencies.synthesize({ runDir, overrides: { ...values } });
      if (result.cancelled || requestId !== this.latest) {
        this.requested.delete(requestId);
        this.dependencies.post({ type: 'synthesisState', requestId, state: 'cancelled' });
        return;
      }
      this.requested.get(requestId)!.workerMs = result.elapsedMs;
      this.show(requestId, version, result);
    } catch (error) {
      this.requested.delete(requestId);
      if (requestId !== this.latest) return;
      const wire = toWireError(error);
      // The worker refuses runs it cannot redraw (no decoder, still training, no checkpoint yet) with a reason a
      // person can act on; anything else is a failure.
      this.dependencies.post({
        type: 'synthesisState',
        requestId,
        state: wire.name === 'ExperimentInputError' ? 'unavailable' : 'failed',
        message: wire.message,
      });
    } finally {
      this.running--;
    }
  }
}

function sameBytes(left: Uint8Array, right: Uint8Array): boolean {
  return Buffer.from(left.buffer, left.byteOffset, left.byteLength).equals(
    Buffer.from(right.buffer, right.byteOffset, right.byteLength),
  );
}
