import { type ChildProcess, fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { RemoteError } from '../../shared/protocol/errors';
import { describeForLog, validateMessage } from '../../shared/protocol/validate';
import type { WorkerState } from '../../shared/protocol/webview';
import {
  type LogLevel,
  type ProgressDetails,
  usableRequestId,
  type WorkerLaunchOptions,
  type WorkerMethod,
  type WorkerParams,
  type WorkerResult,
  workerLaunchEnvVar,
  workerMethods,
  workerToHost,
} from '../../shared/protocol/worker';

export interface WorkerProcessOptions {
  /** The bundled worker script (dist/worker.js). */
  script: string;
  launch: WorkerLaunchOptions;
  log(level: LogLevel, message: string): void;
  /** The Node.js executable (default: this process's) and its JavaScript heap limit in MiB (default: Node's). */
  runtime?: { execPath?: string; heapMb?: number };
}

/** How many lines of the worker's output a crash report quotes. */
const keptOutputLines = 40;

export interface RequestOptions {
  onProgress?(message: string, details: ProgressDetails): void;
}

interface PendingRequest {
  method: WorkerMethod;
  resolve(value: unknown): void;
  reject(error: Error): void;
  onProgress?: RequestOptions['onProgress'];
}

export class WorkerCrashedError extends Error {
  constructor(
    readonly exitDescription: string,
    readonly lastLines: readonly string[],
  ) {
    super(`SynthPair worker ${exitDescription}`);
    this.name = 'WorkerCrashedError';
  }
}

/** The worker was ended on purpose (stop()) or exited cleanly while a request was still pending. */
export class WorkerStoppedError extends Error {
  constructor(readonly method: WorkerMethod) {
    super(`SynthPair worker stopped during ${method}`);
    this.name = 'WorkerStoppedError';
  }
}

interface WorkerProcessEvents {
  state: [state: WorkerState, detail?: string];
  crashed: [error: WorkerCrashedError];
}

/**
 * One engine worker: a forked child process that owns all tensor code. It is started on demand and is
 * never restarted behind the user's back: after a crash the next request starts a fresh one.
 */
export class WorkerProcess extends EventEmitter<WorkerProcessEvents> {
  private child: ChildProcess | undefined;
  private readonly pending = new Map<number, PendingRequest>();
  private readonly recentLines: string[] = [];
  private nextId = 1;
  private stateValue: WorkerState = 'stopped';
  private stopping = false;
  private readyPromise: Promise<void> | undefined;

  constructor(private readonly options: WorkerProcessOptions) {
    super();
  }

  get state(): WorkerState {
    return this.stateValue;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  lastLines(): readonly string[] {
    return [...this.recentLines];
  }

  async request<M extends WorkerMethod>(
    method: M,
    params: WorkerParams<M>,
    options: RequestOptions = {},
  ): Promise<WorkerResult<M>> {
    await this.start();
    const child = this.child;
    if (!child?.connected) {
      throw new Error('SynthPair worker is not running');
    }
    const id = this.nextId++;
    const result = new Promise<unknown>((resolve, reject) => {
      this.pending.set(id, { method, resolve, reject, onProgress: options.onProgress });
    });
    child.send({ kind: 'request', id, method, params });
    return (await result) as WorkerResult<M>;
  }

  /** Starts the worker if it is not running; resolves when it has said it is ready. */
  start(): Promise<void> {
    if (this.child && this.readyPromise) {
      return this.readyPromise;
    }
    this.stopping = false;
    this.setState('starting');
    const { runtime } = this.options;
    const child = fork(this.options.script, [], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      // Structured clone rather than JSON: pixels cross as bytes, not as numbers or base64 text.
      serialization: 'advanced',
      // A process group of its own lets stop() end the worker with anything it spawned.
      detached: process.platform !== 'win32',
      env: { ...process.env, [workerLaunchEnvVar]: JSON.stringify(this.options.launch) },
      execArgv: runtime?.heapMb === undefined ? [] : [`--max-old-space-size=${runtime.heapMb}`],
      ...(runtime?.execPath ? { execPath: runtime.execPath } : {}),
    });
    this.child = child;
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => this.remember(chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => this.remember(chunk));

    this.readyPromise = new Promise<void>((resolve, reject) => {
      const onReady = (raw: unknown) => {
        if ((raw as { event?: unknown } | null)?.event === 'ready') {
          child.off('message', onReady);
          this.setState('ready');
          resolve();
        }
      };
      child.on('message', onReady);
      child.once('exit', () =>
        reject(new WorkerCrashedError('exited before it was ready', this.lastLines())),
      );
      child.once('error', (error) => reject(error));
    });
    // The ready promise may be abandoned by a caller that gave up; its rejection is reported through 'crashed'.
    this.readyPromise.catch(() => undefined);

    child.on('message', (raw: unknown) => this.onMessage(raw));
    child.on('exit', (code, signal) => this.onExit(child, code, signal));
    return this.readyPromise;
  }

  /** Ends the worker and its whole process tree. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.child = undefined;
      this.readyPromise = undefined;
      this.setState('stopped');
      return;
    }
    this.stopping = true;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    killTree(child, 'SIGTERM');
    const forceKill = setTimeout(() => killTree(child, 'SIGKILL'), 3000);
    await exited;
    clearTimeout(forceKill);
  }

  dispose(): void {
    void this.stop();
  }

  private onMessage(raw: unknown): void {
    const message = validateMessage(workerToHost, raw);
    if (!message.ok) {
      this.options.log(
        'warn',
        `refused malformed worker message (${message.reason}): ${describeForLog(raw)}`,
      );
      // A refused answer still ends its request, which would otherwise wait for a reply that never comes.
      const id = (raw as { kind?: unknown } | null)?.kind === 'response' ? usableRequestId(raw) : undefined;
      const pending = id === undefined ? undefined : this.pending.get(id);
      if (id !== undefined && pending) {
        this.pending.delete(id);
        pending.reject(
          new Error(`refused a malformed ${pending.method} answer from the worker: ${message.reason}`),
        );
      }
      return;
    }
    const value = message.value;
    if (value.kind === 'event') {
      if (value.event === 'log') {
        this.remember(`[${value.level}] ${value.message}\n`);
        this.options.log(value.level, value.message);
      } else if (value.event === 'progress') {
        const { kind: _kind, event: _event, requestId, message, ...details } = value;
        this.pending.get(requestId)?.onProgress?.(message, details);
      }
      return;
    }
    const pending = this.pending.get(value.id);
    if (!pending) {
      this.options.log('warn', `refused a response to unknown request ${value.id}`);
      return;
    }
    this.pending.delete(value.id);
    if (!value.ok) {
      pending.reject(new RemoteError(value.error));
      return;
    }
    const result = validateMessage(workerMethods[pending.method].result, value.result);
    if (result.ok) {
      pending.resolve(result.value);
    } else {
      const reason = `refused malformed ${pending.method} result from the worker: ${result.reason}`;
      this.options.log('warn', reason);
      pending.reject(new Error(reason));
    }
  }

  private onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) {
      return;
    }
    this.child = undefined;
    this.readyPromise = undefined;
    const description = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    const expected = this.stopping || (code === 0 && signal === null);
    const error = new WorkerCrashedError(description, this.lastLines());
    for (const pending of this.pending.values()) {
      pending.reject(expected ? new WorkerStoppedError(pending.method) : error);
    }
    this.pending.clear();
    if (expected) {
      this.setState('stopped');
    } else {
      this.setState('crashed', description);
      this.emit('crashed', error);
    }
  }

  private remember(chunk: string): void {
    for (const line of chunk.split('\n')) {
      if (line.trim() !== '') {
        this.recentLines.push(line);
      }
    }
    this.recentLines.splice(0, Math.max(0, this.recentLines.length - keptOutputLines));
  }

  private setState(state: WorkerState, detail?: string): void {
    if (state !== this.stateValue || detail) {
      this.stateValue = state;
      this.emit('state', state, detail);
    }
  }
}

function killTree(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (process.platform !== 'win32' && child.pid !== undefined) {
      process.kill(-child.pid, signal);
    } else {
      child.kill(signal);
    }
  } catch {
    // Already gone.
  }
}
