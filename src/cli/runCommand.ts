import { readFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Presets, SingleBar } from 'cli-progress';
import type { ResolvedConfig } from '../config/experiment/definitions';
import { overrideKey, parseExperimentConfig } from '../config/experiment/parse';
import { selectBackend } from '../engine/backends/selectBackend';
import { DatasetError, listDataset } from '../engine/data/datasets';
import { describeEvaluation } from '../engine/training/evaluate';
import { type TrainingProgress, train } from '../engine/training/trainer';
import type { BackendPreference } from '../protocol/backend';
import { RunDirectory, RunDirectoryError, runFolderName } from '../runs/runDirectory';
import { formatDiagnostic } from './diagnostics';

/** A problem with what the user gave (config, arguments, data, run folder): exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export interface RunCommandOptions {
  out?: string;
  set: string[];
  resume?: string;
  backend?: BackendPreference;
  wasmDir: string;
  version: string;
}

async function loadConfig(file: string, overrides: string[]): Promise<ResolvedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === 'ENOENT'
        ? `${file}: no such file`
        : `${file}: cannot read (${code ?? (error as Error).message})`,
    );
  }
  const { config, diagnostics } = parseExperimentConfig(text, { overrides });
  for (const diagnostic of diagnostics) {
    process.stderr.write(`${formatDiagnostic(file, text, diagnostic)}\n`);
  }
  if (!config) {
    throw new UsageError(`${file}: has errors; nothing was run`);
  }
  // The saved config must not depend on where a later resume is started from. A root written in the file
  // is relative to the file; one given with --set, like any path on a command line, to the current folder.
  const rootFromCommandLine = overrides.some((assignment) => overrideKey(assignment) === 'data.root');
  const base = rootFromCommandLine ? process.cwd() : path.dirname(file);
  return { ...config, data: { ...config.data, root: path.resolve(base, config.data.root) } };
}

async function loadSavedConfig(run: RunDirectory): Promise<ResolvedConfig> {
  const text = JSON.stringify(await run.readConfig());
  const { config, diagnostics } = parseExperimentConfig(text);
  if (!config) {
    throw new UsageError(
      `${run.file('config')} is not a valid config for this SynthPair version: ${diagnostics.map((diagnostic) => diagnostic.message).join('; ')}`,
    );
  }
  return config;
}

/** The progress display: a bar on a terminal, one JSON object per line for programs. */
function progressReporter(interactive: boolean) {
  let bar: SingleBar | undefined;
  return {
    update(progress: TrainingProgress) {
      const loss = Object.values(progress.losses)[0] ?? Number.NaN;
      if (!interactive) {
        process.stdout.write(`${JSON.stringify({ event: 'progress', ...progress })}\n`);
        return;
      }
      bar ??= new SingleBar(
        {
          format:
            'epoch {epoch}/{epochs} |{bar}| {value}/{total} steps | loss {loss} | {rate} img/s | eta {eta_formatted}',
          hideCursor: true,
        },
        Presets.shades_classic,
      );
      const payload = {
        epoch: progress.epoch,
        epochs: progress.epochs,
        loss: loss.toFixed(4),
        rate: progress.imagesPerSecond.toFixed(1),
      };
      // start() draws at once, so it needs the payload too or the first frame shows the placeholders.
      if (!bar.isActive) {
        bar.start(progress.totalSteps, progress.step, payload);
      }
      bar.update(progress.step, payload);
    },
    log(level: 'info' | 'warn', message: string) {
      bar?.stop();
      bar = undefined;
      if (interactive) {
        process.stderr.write(`${level === 'warn' ? 'warning: ' : ''}${message}\n`);
      } else {
        process.stdout.write(`${JSON.stringify({ event: 'log', level, message })}\n`);
      }
    },
    stop() {
      bar?.stop();
    },
  };
}

/** Opens a run to continue it, refusing one that is still training or already done. */
async function openForResume(dir: string): Promise<RunDirectory> {
  const run = await RunDirectory.open(dir).catch((error: unknown) => {
    throw error instanceof RunDirectoryError ? new UsageError(error.message) : error;
  });
  if (run.current.state === 'running' && isAlive(run.current.pid)) {
    throw new UsageError(`${dir}: being trained by process ${run.current.pid}`);
  }
  if (run.current.state === 'completed') {
    throw new UsageError(`${dir}: has completed; nothing to resume`);
  }
  return run;
}

/**
 * Without its checkpoints a run would start over and drop the history it logged, so resuming one whose
 * checkpoints are gone is refused rather than done.
 */
async function checkResumable(run: RunDirectory, config: ResolvedConfig): Promise<void> {
  const folder = run.file('checkpoints');
  if (!(await stat(folder).catch(() => undefined))?.isDirectory()) {
    throw new UsageError(`${folder}: no such folder, so the run cannot be resumed`);
  }
  const hasCheckpoint = await stat(path.join(folder, 'latest.json')).then(
    () => true,
    () => false,
  );
  if (!hasCheckpoint && run.current.epoch >= config.checkpoint.everyEpochs) {
    throw new UsageError(
      `${folder}: holds no checkpoint although the run reached epoch ${run.current.epoch}, so it cannot be resumed`,
    );
  }
}

/** Lists the data before the run folder is touched, so data that cannot train leaves no failed run behind. */
async function checkDataset(config: ResolvedConfig): Promise<void> {
  await listDataset(config.data.root, config.data.layout).catch((error: unknown) => {
    throw error instanceof DatasetError ? new UsageError(error.message) : error;
  });
}

/** `synthpair run`: trains a config into a new run folder, or resumes one; returns the exit code. */
export async function runCommand(
  configFile: string | undefined,
  options: RunCommandOptions,
): Promise<number> {
  if (options.resume !== undefined) {
    const extra = [
      configFile,
      options.set.length > 0 && '--set',
      options.out !== undefined && '--out',
    ].filter(Boolean);
    if (extra.length > 0) {
      throw new UsageError(
        `--resume: continues with the config saved in the run folder; drop ${extra.join(' and ')}`,
      );
    }
  }
  const resumed = options.resume === undefined ? undefined : await openForResume(options.resume);
  if (!resumed && !configFile) {
    throw new UsageError('a config file is needed unless --resume is given');
  }
  const config = resumed ? await loadSavedConfig(resumed) : await loadConfig(configFile!, options.set);
  if (resumed) {
    await checkResumable(resumed, config);
  }
  await checkDataset(config);

  const { report } = await selectBackend({
    preference: options.backend ?? config.backend,
    wasmDir: options.wasmDir,
    nativeModulePaths: [],
    synthpairVersion: options.version,
  });
  const interactive = process.stdout.isTTY === true;
  const reporter = progressReporter(interactive);
  reporter.log(
    'info',
    `backend: ${report.selected} (${report.attempts.find((attempt) => attempt.outcome === 'selected')?.reason})`,
  );

  let run: RunDirectory;
  if (resumed) {
    run = resumed;
    const removed = await run.removeAbandonedWrites();
    if (removed.length > 0) {
      reporter.log('info', `removed what an interrupted write left: ${removed.join(', ')}`);
    }
    await run.update({ state: 'running', pid: process.pid, backend: report.selected });
  } else {
    const startedAt = new Date();
    const dir =
      options.out ?? path.join(process.cwd(), '.synthpair', 'runs', runFolderName(config.name, startedAt));
    run = await RunDirectory.create(dir, config, {
      name: config.name,
      pid: process.pid,
      seed: config.seed,
      startedAt: startedAt.toISOString(),
      backend: report.selected,
      versions: { synthpair: options.version, tfjs: report.versions.tfjs, node: process.versions.node },
    }).catch((error: unknown) => {
      throw error instanceof RunDirectoryError ? new UsageError(error.message) : error;
    });
  }
  reporter.log('info', `run folder: ${run.dir}`);

  let stopRequested = false;
  const onSignal = () => {
    if (stopRequested) {
      process.exit(130);
    }
    stopRequested = true;
    reporter.log('warn', 'stopping after this step (again to quit at once); resume with --resume');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const outcome = await train(
      config,
      {
        run: run,
        cacheFolder: path.join(process.cwd(), '.synthpair', 'cache'),
        resume: Boolean(options.resume),
      },
      { log: reporter.log, progress: reporter.update, shouldStop: () => stopRequested },
    );
    reporter.stop();
    await run.update({ state: outcome.state, endedAt: new Date().toISOString() });
    if (outcome.evaluation) {
      reporter.log('info', `final: ${describeEvaluation(outcome.evaluation)}`);
    }
    return outcome.state === 'completed' ? 0 : 130;
  } catch (error) {
    reporter.stop();
    const message = error instanceof Error ? error.message : String(error);
    await run.update({ state: 'failed', error: message, endedAt: new Date().toISOString() });
    throw error instanceof DatasetError ? new UsageError(message) : error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A killed process lingers as a zombie until its parent reaps it; it trains nothing any more.
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}
