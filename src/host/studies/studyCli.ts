import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { isAlive } from '../../shared/runFolder/liveness';

/** How the CLI is started, read for each command so that changed settings apply to the next one. */
export interface StudyCliLaunch {
  /** The Node.js executable; the extension host's own runtime unless `synthpair.nodeExecutable` names one. */
  node: string;
  /** `--backend` for every trial; none leaves the choice to the CLI (auto). */
  backend?: string;
}

export interface StudyCliOptions {
  /** The bundled CLI, dist/cli.js. */
  cliScript: string;
  launch(): StudyCliLaunch;
  log(level: 'info' | 'error', message: string): void;
}

export interface StudyCliOutcome {
  /** The exit code; null when the process could not start or was ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** What the CLI said last before giving up (its `synthpair: …` line), or why it could not start. */
  message: string | undefined;
}

export interface StudyCliProcess {
  pid: number | undefined;
  exited: Promise<StudyCliOutcome>;
}

/** The time the CLI puts before the lines it prints while it follows a study; the log stamps its own. */
const leadingTimestamp = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\s+/;

/** `synthpair: …` is the CLI giving up, `✗ …` a trial that failed: both want the user's eye. */
function levelOf(line: string): 'info' | 'error' {
  return line.startsWith('synthpair: ') || line.startsWith('✗ ') ? 'error' : 'info';
}

/** The exit codes of `synthpair study run`, as its help lists them. */
export const studyExitCodes = { completed: 0, trialFailed: 1, usage: 2, stopped: 130 } as const;

/**
 * Runs `synthpair study …` for the extension, one process per command, with the output in the log. It keeps
 * the `study run`s it started, so that closing the window can stop the studies that train in them: their
 * trials stop after their step, and the next Run Study resumes them.
 */
export class StudyCli {
  private readonly runs = new Map<ChildProcess, string>();

  constructor(private readonly options: StudyCliOptions) {}

  /** Starts `study run FILE` in `cwd`; a local study trains for as long as the process lives. */
  run(file: string, cwd: string): StudyCliProcess {
    const { backend } = this.options.launch();
    const started = this.start(['study', 'run', file, ...(backend ? ['--backend', backend] : [])], file, cwd);
    this.runs.set(started.child, file);
    void started.exited.finally(() => this.runs.delete(started.child));
    return { pid: started.child.pid, exited: started.exited };
  }

  /**
   * `study cancel FILE`, which finds the study's local queue and Slurm arrays in its folder, wherever they were
   * started, and waits for the queue to end. A `study run` of this window that has not yet written its queue
   * into the folder (it checks every condition first) is ended as well.
   */
  async cancel(file: string, cwd: string): Promise<StudyCliOutcome> {
    const outcome = await this.start(['study', 'cancel', file], file, cwd).exited;
    for (const [child, runFile] of this.runs) {
      if (runFile === file && child.pid !== undefined && isAlive(child.pid)) child.kill('SIGTERM');
    }
    return outcome;
  }

  /** Whether a `study run` of `file` that this window started is still alive. */
  isRunning(file: string): boolean {
    return [...this.runs.values()].includes(file);
  }

  /** Stops the studies this window trains and waits at most `withinMs` for their processes to end. */
  async dispose(withinMs = 4000): Promise<void> {
    const children = [...this.runs.keys()];
    for (const child of children) child.kill('SIGTERM');
    const ended = children.map(
      (child) =>
        new Promise<void>((resolve) =>
          child.exitCode !== null ? resolve() : child.once('exit', () => resolve()),
        ),
    );
    await Promise.race([Promise.all(ended), new Promise((resolve) => setTimeout(resolve, withinMs))]);
  }

  private start(
    args: string[],
    file: string,
    cwd: string,
  ): { child: ChildProcess; exited: Promise<StudyCliOutcome> } {
    const { node } = this.options.launch();
    const label = path.basename(file);
    const { log } = this.options;
    log('info', `${label}: synthpair ${args.join(' ')}`);
    const child = spawn(node, [this.options.cliScript, ...args], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      // The extension host's runtime is Electron's in desktop VS Code; this makes it a plain Node, for the
      // CLI and for the trial processes it starts, which inherit the environment.
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    });
    let message: string | undefined;
    const lines = (stream: NodeJS.ReadableStream | null) => {
      let partial = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        const parts = (partial + chunk).split('\n');
        partial = parts.pop() ?? '';
        for (const line of parts) {
          if (line.trim() === '') continue;
          if (line.startsWith('synthpair: ')) message = line.slice('synthpair: '.length);
          log(levelOf(line), `${label}: ${line.replace(leadingTimestamp, '')}`);
        }
      });
    };
    lines(child.stdout);
    lines(child.stderr);
    const exited = new Promise<StudyCliOutcome>((resolve) => {
      child.once('error', (error) => {
        log('error', `${label}: could not start ${node}: ${error.message}`);
        resolve({ code: null, signal: null, message: `could not start ${node}: ${error.message}` });
      });
      // 'close', not 'exit': the output has been read to its end by then.
      child.once('close', (code, signal) => resolve({ code, signal, message }));
    });
    return { child, exited };
  }
}
