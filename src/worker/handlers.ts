import type { SelectedBackend } from '../engine/backends/selectBackend';
import { ExperimentInputError, resolveExperiment, runExperiment } from '../engine/training/experiment';
import type {
  LogLevel,
  TrainingProgressMessage,
  WorkerMethod,
  WorkerParams,
  WorkerResult,
} from '../protocol/worker';

export interface WorkerContext {
  backend(): Promise<SelectedBackend>;
  log(level: LogLevel, message: string): void;
  progress(message: string, fraction?: number, training?: TrainingProgressMessage): void;
}

export type WorkerHandlers = {
  [M in WorkerMethod]: (params: WorkerParams<M>, context: WorkerContext) => Promise<WorkerResult<M>>;
};

export function createHandlers(options: { version: string }): WorkerHandlers {
  // One run per worker: the host starts a worker per run, so a second one here is the host's mistake.
  let training: { stopRequested: boolean } | undefined;
  return {
    ping: async ({ payload }) => ({ payload, pid: process.pid }),
    backendInfo: async (_params, context) => {
      context.progress('Selecting a TF.js backend');
      return (await context.backend()).report;
    },
    train: async ({ start, cacheFolder }, context) => {
      if (training) {
        throw new Error('this worker is already training a run');
      }
      const current = { stopRequested: false };
      training = current;
      try {
        const experiment = await resolveExperiment(start);
        for (const diagnostic of experiment.diagnostics) {
          context.log('warn', diagnostic.message);
        }
        const { report } = await context.backend();
        const { run, outcome } = await runExperiment(
          experiment,
          {
            backend: report.selected,
            versions: { synthpair: options.version, tfjs: report.versions.tfjs },
            cacheFolder,
          },
          {
            started: (run) => context.log('info', `run folder: ${run.dir}`),
            log: context.log,
            progress: (progress) =>
              context.progress(
                `epoch ${progress.epoch}/${progress.epochs}, step ${progress.step}/${progress.totalSteps}`,
                progress.totalSteps > 0 ? progress.step / progress.totalSteps : undefined,
                progress,
              ),
            shouldStop: () => current.stopRequested,
          },
        );
        return {
          runDir: run.dir,
          state: outcome.state,
          epoch: outcome.epoch,
          step: outcome.step,
          ...(outcome.evaluation ? { evaluation: outcome.evaluation } : {}),
        };
      } catch (error) {
        // The host shows one message: the config's own diagnostics are what the user has to fix.
        if (error instanceof ExperimentInputError && error.diagnostics.length > 0) {
          throw new ExperimentInputError(
            `${error.message}: ${error.diagnostics.map((diagnostic) => diagnostic.message).join('; ')}`,
          );
        }
        throw error;
      } finally {
        training = undefined;
      }
    },
    stopTraining: async () => {
      if (!training) return { stopping: false };
      training.stopRequested = true;
      return { stopping: true };
    },
  };
}
