import { EventEmitter } from 'node:events';
import type {
  ExperimentStart,
  LogLevel,
  TrainingProgressMessage,
  WorkerLaunchOptions,
  WorkerResult,
} from '../../shared/protocol/worker';
import { isAlive } from '../../shared/runFolder/liveness';
import { WorkerProcess, WorkerStoppedError } from '../workers/workerProcess';

export type TrainingResult = WorkerResult<'train'>;

/** A run asked for: waiting in the queue, or training in a worker of its own. */
export interface RunRequest {
  id: number;
  /** What the queue and the status bar call it: the experiment's file name or the run folder's. */
  label: string;
  /** The experiment file it belongs to, to group it and to tell the editor it is busy. */
  configFile: string | undefined;
  start: ExperimentStart;
  /** Where decoded images are cached: shared by the runs of a workspace. */
  cacheFolder: string;
}

export interface ActiveRun {
  request: RunRequest;
  /** Known once the worker has made or opened it. */
  runDir: string | undefined;
  progress: TrainingProgressMessage | undefined;
  /** What the run does before its first step, when that takes a while (downloading its weights). */
  preparing?: string;
  /** Seconds per step, smoothed, for the ETA. */
  secondsPerStep: number | undefined;
  stopping: boolean;
  pid: number | undefined;
}

export type RunEnding =
  | { kind: 'finished'; result: TrainingResult }
  | { kind: 'failed'; error: Error }
  | { kind: 'cancelled' }
  /**
   * Stop was asked for and the worker, still busy `afterMs` later, was ended. What it wrote stays: its folder
   * says `running` with a process that is gone, which every reader takes for stopped, and Resume continues
   * it from its last checkpoint. A stop, not a failure.
   */
  | { kind: 'forcedStop'; afterMs: number };

interface RunControllerEvents {
  /** The queue, a run's state or its progress changed. */
  changed: [];
  ended: [request: RunRequest, ending: RunEnding, runDir: string | undefined];
}

export interface RunControllerOptions {
  workerScript: string;
  /** Read for each worker, so changed settings apply to the next run. */
  launchOptions(): WorkerLaunchOptions;
  runtime(): { concurrency: number; execPath?: string; heapMb?: number };
  log(level: LogLevel, message: string): void;
  /**
   * How long a stop waits for the worker to finish its step, or the end-of-epoch work it is in, and record
   * `stopped` before ending it. Default 30 s.
   */
  stopGraceMs?: number;
}

interface ActiveEntry {
  run: ActiveRun;
  worker: WorkerProcess;
  forcedStop?: NodeJS.Timeout;
  /** Set when the controller ended the worker of a run it had asked to stop: how long it had waited. */
  forcedAfterMs?: number;
}

/**
 * Starts training runs, one worker process each, at most `concurrency` at once; the rest wait in order.
 * Stop asks a worker to end after its current step (its last checkpoint is what Resume continues) and ends
 * the worker's whole process tree when it does not comply in time.
 */
export class RunController extends EventEmitter<RunControllerEvents> {
  private readonly queue: RunRequest[] = [];
  private readonly active = new Map<number, ActiveEntry>();
  private nextId = 1;
  private disposed = false;

  constructor(private readonly options: RunControllerOptions) {
    super();
  }

  get queued(): readonly RunRequest[] {
    return this.queue;
  }

  get running(): ActiveRun[] {
    return [...this.active.values()].map(({ run }) => run);
  }

  /** Experiment files with a run queued or training. */
  busyConfigs(): string[] {
    const files = [...this.queue, ...this.running.map((run) => run.request)]
      .map((request) => request.configFile)
      .filter((file): file is string => file !== undefined);
    return [...new Set(files)];
  }

  /** Whether this window trains or queued the run in `runDir`. */
  owns(runDir: string): boolean {
    return (
      this.running.some((run) => run.runDir === runDir) ||
      this.queue.some((request) => request.start.kind === 'resume' && request.start.runDir === runDir)
    );
  }

  /** Queues a run; it starts at once when fewer than `concurrency` runs train. */
  enqueue(request: Omit<RunRequest, 'id'>): RunRequest {
    if (this.disposed) {
      throw new Error('SynthPair is shutting down');
    }
    const queued = { ...request, id: this.nextId++ };
    this.queue.push(queued);
    this.pump();
    this.emit('changed');
    return queued;
  }

  /**
   * Stops a queued or training run of this window: a queued one leaves the queue, a training one stops after
   * its step. Returns false when the id is not (or no longer) one of them.
   */
  async stop(id: number): Promise<boolean> {
    const index = this.queue.findIndex((request) => request.id === id);
    if (index >= 0) {
      const [request] = this.queue.splice(index, 1);
      this.emit('ended', request!, { kind: 'cancelled' }, undefined);
      this.emit('changed');
      return true;
    }
    const entry = this.active.get(id);
    if (!entry) return false;
    if (!entry.run.stopping) {
      entry.run.stopping = true;
      this.emit('changed');
      const graceMs = this.options.stopGraceMs ?? 30_000;
      entry.forcedStop = setTimeout(() => void this.endWorker(entry, graceMs), graceMs);
      try {
        await entry.worker.request('stopTraining', {});
      } catch {
        // The worker has already gone: nothing is left to stop.
      }
    }
    return true;
  }

  /**
   * Stops every run and waits, at most `withinMs`, for them to record `stopped`; then ends what is left.
   * For deactivation: VS Code gives an extension only a few seconds.
   */
  async dispose(withinMs = 4000): Promise<void> {
    this.disposed = true;
    this.queue.splice(0);
    const entries = [...this.active.values()];
    const finished = Promise.all(
      entries.map(
        ({ worker }) =>
          new Promise<void>((resolve) => {
            if (worker.state === 'stopped' || worker.state === 'crashed') resolve();
            worker.on('state', (state) => {
              if (state === 'stopped' || state === 'crashed') resolve();
            });
          }),
      ),
    );
    await Promise.all(entries.map(({ run }) => this.stop(run.request.id)));
    await Promise.race([finished, new Promise((resolve) => setTimeout(resolve, withinMs))]);
    await Promise.all(entries.map((entry) => this.endWorker(entry, withinMs)));
    this.removeAllListeners();
  }

  /** Ends the worker of a run asked to stop, which it had not done `afterMs` after the request. */
  private endWorker(entry: ActiveEntry, afterMs: number): Promise<void> {
    entry.forcedAfterMs = afterMs;
    return entry.worker.stop();
  }

  private pump(): void {
    const { concurrency } = this.options.runtime();
    while (!this.disposed && this.active.size < concurrency && this.queue.length > 0) {
      this.launch(this.queue.shift()!);
    }
  }

  private launch(request: RunRequest): void {
    const { execPath, heapMb } = this.options.runtime();
    const worker = new WorkerProcess({
      script: this.options.workerScript,
      launch: this.options.launchOptions(),
      log: (level, message) => this.options.log(level, `${request.label}: ${message}`),
      runtime: { ...(execPath ? { execPath } : {}), ...(heapMb === undefined ? {} : { heapMb }) },
    });
    const run: ActiveRun = {
      request,
      runDir: request.start.kind === 'resume' ? request.start.runDir : undefined,
      progress: undefined,
      secondsPerStep: undefined,
      stopping: false,
      pid: undefined,
    };
    const entry: ActiveEntry = { run, worker };
    this.active.set(request.id, entry);
    let lastStep: { step: number; at: number } | undefined;
    const training = worker.request(
      'train',
      { start: request.start, cacheFolder: request.cacheFolder },
      {
        onProgress: (message, { runDir, training: progress }) => {
          run.pid = worker.pid;
          if (runDir) run.runDir = runDir;
          if (!progress && !runDir) run.preparing = message;
          if (progress) {
            const now = performance.now();
            if (lastStep && progress.step > lastStep.step) {
              const seconds = (now - lastStep.at) / 1000 / (progress.step - lastStep.step);
              // Smoothed, so one slow step (an evaluation, a checkpoint) does not make the ETA jump.
              run.secondsPerStep =
                run.secondsPerStep === undefined ? seconds : 0.9 * run.secondsPerStep + 0.1 * seconds;
            }
            lastStep = { step: progress.step, at: now };
            run.progress = progress;
          }
          this.emit('changed');
        },
      },
    );
    this.emit('changed');
    void training
      .then(
        (result): RunEnding => ({ kind: 'finished', result }),
        (error: unknown): RunEnding =>
          error instanceof WorkerStoppedError && entry.forcedAfterMs !== undefined
            ? { kind: 'forcedStop', afterMs: entry.forcedAfterMs }
            : { kind: 'failed', error: error instanceof Error ? error : new Error(String(error)) },
      )
      .then(async (ending) => {
        clearTimeout(entry.forcedStop);
        await worker.stop();
        this.active.delete(request.id);
        const runDir = ending.kind === 'finished' ? ending.result.runDir : run.runDir;
        this.emit('ended', request, ending, runDir);
        this.pump();
        this.emit('changed');
      });
  }
}

/**
 * Stops a run that another process trains (the CLI, or a window that has gone): SIGINT, which the CLI
 * answers by stopping after its step, then SIGKILL if it is still alive after `graceMs`.
 */
export async function stopExternalRun(pid: number, graceMs = 15_000): Promise<void> {
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // ended on its own meanwhile
  }
}
