import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Presets, SingleBar } from 'cli-progress';
import { selectBackend } from '../engine/backends/selectBackend';
import { ExperimentInputError, resolveExperiment, runExperiment } from '../engine/training/experiment';
import type { DownloadProgress } from '../engine/weights/download';
import { experimentFileSuffix } from '../shared/config/experiment/choices';
import { maxExperimentFileLength } from '../shared/config/experiment/parse';
import type { BackendPreference } from '../shared/protocol/backend';
import type { ExperimentStart, TrainingProgressMessage } from '../shared/protocol/worker';
import { formatDiagnostic } from './diagnostics';

/** A problem with what the user gave (config, arguments, data, run folder): exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
  constructor(
    message: string,
    /** The config's errors behind it, already printed by file and line: a study records them as the reason. */
    readonly details: readonly string[] = [],
  ) {
    super(message);
  }
}

function errorsOf(diagnostics: ExperimentInputError['diagnostics']): string[] {
  return diagnostics
    .filter((diagnostic) => diagnostic.severity === 'error')
    .map((diagnostic) => diagnostic.message);
}

export interface RunCommandOptions {
  out?: string;
  set: string[];
  resume?: string;
  /** Where relative paths in `set` are resolved: the current folder, as on any command line, unless given. */
  overridesBase?: string;
  backend?: BackendPreference;
  wasmDir: string;
  version: string;
}

/** An experiment file's text; a missing, unreadable or implausibly large file is a {@link UsageError}. */
export async function readConfigFile(file: string): Promise<string> {
  const cannotRead = (error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code;
    return new UsageError(
      code === 'ENOENT'
        ? `${file}: no such file`
        : `${file}: cannot read (${code ?? (error as Error).message})`,
    );
  };
  const info = await stat(file).catch((error: unknown) => {
    throw cannotRead(error);
  });
  if (!info.isFile()) {
    const what = info.isDirectory() ? 'a folder' : 'not a regular file';
    throw new UsageError(`${file}: is ${what}; give the experiment file (*${experimentFileSuffix}) itself`);
  }
  // Checked before reading, so a huge file given by mistake is not read into memory first.
  if (info.size > maxExperimentFileLength) {
    throw new UsageError(
      `${file}: is ${info.size} bytes, more than the ${maxExperimentFileLength} an experiment file may hold; is it the right file?`,
    );
  }
  return readFile(file, 'utf8').catch((error: unknown) => {
    throw cannotRead(error);
  });
}

async function startOf(configFile: string | undefined, options: RunCommandOptions): Promise<ExperimentStart> {
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
    return { kind: 'resume', runDir: options.resume };
  }
  if (!configFile) {
    throw new UsageError('a config file is needed unless --resume is given');
  }
  return {
    kind: 'new',
    configFile,
    text: await readConfigFile(configFile),
    overrides: options.set,
    overridesBase: options.overridesBase ?? process.cwd(),
    ...(options.out === undefined ? {} : { out: options.out }),
    runsFolder: path.join(process.cwd(), '.synthpair', 'runs'),
  };
}

/** The progress display: a bar on a terminal, one JSON object per line for programs. */
function progressReporter(interactive: boolean) {
  let bar: SingleBar | undefined;
  let downloadBar: SingleBar | undefined;
  let lastTenth: number | undefined;
  return {
    update(progress: TrainingProgressMessage) {
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
    downloading(url: string, { received, total }: DownloadProgress) {
      const done = total !== undefined && received >= total;
      if (!interactive) {
        // A line per tenth and the last: a program reading them wants to know it moves, not every chunk.
        const tenth = total ? Math.floor((10 * received) / total) : Math.floor(received / 10_000_000);
        if (tenth === lastTenth && !done) return;
        lastTenth = tenth;
        process.stdout.write(`${JSON.stringify({ event: 'download', url, received, total })}\n`);
        return;
      }
      const megabytes = (bytes: number) => (bytes / 1_000_000).toFixed(1);
      const payload = { file: path.basename(new URL(url).pathname), mb: megabytes(received) };
      if (!downloadBar) {
        downloadBar = new SingleBar(
          {
            format: 'downloading {file} |{bar}| {mb} of {totalMb} MB | eta {eta_formatted}',
            hideCursor: true,
          },
          Presets.shades_classic,
        );
        downloadBar.start(total ?? 0, received, { ...payload, totalMb: total ? megabytes(total) : '?' });
      }
      downloadBar.update(received, payload);
      if (done) {
        downloadBar.stop();
        downloadBar = undefined;
      }
    },
    log(level: 'info' | 'warn', message: string) {
      downloadBar?.stop();
      downloadBar = undefined;
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

/** `synthpair run`: trains a config into a new run folder, or resumes one; returns the exit code. */
export async function runCommand(
  configFile: string | undefined,
  options: RunCommandOptions,
): Promise<number> {
  const start = await startOf(configFile, options);
  const printDiagnostics = (diagnostics: ExperimentInputError['diagnostics']) => {
    if (start.kind !== 'new') return;
    for (const diagnostic of diagnostics) {
      process.stderr.write(`${formatDiagnostic(start.configFile, start.text, diagnostic)}\n`);
    }
  };
  const experiment = await resolveExperiment(start).catch((error: unknown) => {
    if (!(error instanceof ExperimentInputError)) throw error;
    printDiagnostics(error.diagnostics);
    throw new UsageError(error.message, errorsOf(error.diagnostics));
  });
  printDiagnostics(experiment.diagnostics);

  const { report } = await selectBackend({
    preference: options.backend ?? experiment.config.backend,
    wasmDir: options.wasmDir,
    nativeModulePaths: [],
    synthpairVersion: options.version,
  });
  const reporter = progressReporter(process.stdout.isTTY === true);
  reporter.log(
    'info',
    `backend: ${report.selected} (${report.attempts.find((attempt) => attempt.outcome === 'selected')?.reason})`,
  );

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
    const { outcome } = await runExperiment(
      experiment,
      {
        backend: report.selected,
        versions: { synthpair: options.version, tfjs: report.versions.tfjs },
        cacheFolder: path.join(process.cwd(), '.synthpair', 'cache'),
      },
      {
        started: (run) => reporter.log('info', `run folder: ${run.dir}`),
        log: reporter.log,
        progress: reporter.update,
        downloading: reporter.downloading,
        shouldStop: () => stopRequested,
      },
    );
    return outcome.state === 'completed' ? 0 : 130;
  } catch (error) {
    if (!(error instanceof ExperimentInputError)) throw error;
    printDiagnostics(error.diagnostics);
    throw new UsageError(error.message, errorsOf(error.diagnostics));
  } finally {
    reporter.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
