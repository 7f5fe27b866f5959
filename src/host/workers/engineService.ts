import { EventEmitter } from 'node:events';
import type { BackendReport } from '../../shared/protocol/backend';
import type { WorkerState } from '../../shared/protocol/webview';
import type { LogLevel, WorkerLaunchOptions, WorkerParams, WorkerResult } from '../../shared/protocol/worker';
import { type WorkerCrashedError, WorkerProcess } from './workerProcess';

export interface EngineServiceOptions {
  workerScript: string;
  /** Read at each worker start, so a changed setting applies to the next worker. */
  launchOptions(): WorkerLaunchOptions;
  log(level: LogLevel, message: string): void;
}

interface EngineServiceEvents {
  state: [state: WorkerState, detail?: string];
  crashed: [error: WorkerCrashedError];
}

/**
 * The long-lived worker that answers questions about the engine (backend, later synthesis) outside of
 * training runs, which get a worker each.
 */
export class EngineService extends EventEmitter<EngineServiceEvents> {
  private worker: WorkerProcess | undefined;
  private cachedReport: BackendReport | undefined;

  constructor(private readonly options: EngineServiceOptions) {
    super();
  }

  get state(): WorkerState {
    return this.worker?.state ?? 'stopped';
  }

  get workerPid(): number | undefined {
    return this.worker?.pid;
  }

  async backendReport(options: { restart?: boolean } = {}): Promise<BackendReport> {
    if (options.restart) {
      await this.worker?.stop();
      this.cachedReport = undefined;
    }
    if (this.cachedReport && this.worker?.state === 'ready') {
      return this.cachedReport;
    }
    const report = await this.ensureWorker().request('backendInfo', {});
    this.cachedReport = report;
    return report;
  }

  async ping(payload: string): Promise<{ payload: string; pid: number }> {
    return this.ensureWorker().request('ping', { payload });
  }

  /** Problems of an experiment file's text, answered off the extension host: listing a data set walks folders. */
  async diagnoseConfig(params: WorkerParams<'diagnoseConfig'>): Promise<WorkerResult<'diagnoseConfig'>> {
    return this.ensureWorker().request('diagnoseConfig', params);
  }

  /** Redraws a run's pair grid; see the worker method for what may be overridden and when it is cancelled. */
  async synthesize(params: WorkerParams<'synthesize'>): Promise<WorkerResult<'synthesize'>> {
    return this.ensureWorker().request('synthesize', params);
  }

  /** The heat maps of one image of a run's data set, computed from the run's latest checkpoint. */
  async imageHeatmap(params: WorkerParams<'imageHeatmap'>): Promise<WorkerResult<'imageHeatmap'>> {
    return this.ensureWorker().request('imageHeatmap', params);
  }

  dispose(): void {
    this.worker?.dispose();
    this.removeAllListeners();
  }

  private ensureWorker(): WorkerProcess {
    if (this.worker && this.worker.state !== 'crashed' && this.worker.state !== 'stopped') {
      return this.worker;
    }
    this.worker?.removeAllListeners();
    const worker = new WorkerProcess({
      script: this.options.workerScript,
      launch: this.options.launchOptions(),
      log: this.options.log,
    });
    worker.on('state', (state, detail) => this.emit('state', state, detail));
    worker.on('crashed', (error) => {
      this.cachedReport = undefined;
      this.emit('crashed', error);
    });
    this.worker = worker;
    return worker;
  }
}
