import { heatmapperKind, type ImageHeatmap, type RunHeatmapper } from '../engine/analysis/imageHeatmap';
import type { SelectedBackend } from '../engine/backends/selectBackend';
import { diagnoseExperimentText } from '../engine/diagnostics/semanticDiagnostics';
import { LoadedRunCache } from '../engine/savedRun';
import { imageBytes } from '../engine/synthesis/grid';
import {
  describeSynthesis,
  type RunSynthesizer,
  type Synthesis,
  SynthesizerCache,
} from '../engine/synthesis/synthesizer';
import { ExperimentInputError, resolveExperiment, runExperiment } from '../engine/training/experiment';
import { InitialWeightsCheck } from '../engine/weights/initialEncoder';
import type {
  ImageHeatmapResultMessage,
  LogLevel,
  ProgressDetails,
  SynthesisResultMessage,
  WorkerMethod,
  WorkerParams,
  WorkerResult,
} from '../shared/protocol/worker';

export interface WorkerContext {
  backend(): Promise<SelectedBackend>;
  log(level: LogLevel, message: string): void;
  progress(message: string, details?: ProgressDetails): void;
}

export type WorkerHandlers = {
  [M in WorkerMethod]: (params: WorkerParams<M>, context: WorkerContext) => Promise<WorkerResult<M>>;
};

export interface HandlerOptions {
  version: string;
  /** The launch option of that name: where a native backend a config forces is looked for. */
  nativeModulePaths: readonly string[];
}

export function createHandlers(options: HandlerOptions): WorkerHandlers {
  // One run per worker: the host starts a worker per run, so a second one here is the host's mistake.
  let training: { stopRequested: boolean } | undefined;
  // One cache for every model a request loads from a run: they share training's variable names.
  const loadedRuns = new LoadedRunCache();
  const synthesizers = new SynthesizerCache(loadedRuns);
  const initialWeights = new InitialWeightsCheck();
  // Counts synthesize and train requests: a synthesis that is no longer the newest request answers
  // `cancelled`, since the host has asked for something else since.
  let newestRequest = 0;
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
      let runDir: string | undefined;
      let lastPercent: number | undefined;
      training = current;
      newestRequest++;
      try {
        // The trainer builds variables of the names a loaded run holds.
        await loadedRuns.close();
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
            started: (run) => {
              runDir = run.dir;
              context.log('info', `run folder: ${run.dir}`);
              context.progress('started', { runDir });
            },
            log: context.log,
            progress: (progress) =>
              context.progress(
                `epoch ${progress.epoch}/${progress.epochs}, step ${progress.step}/${progress.totalSteps}`,
                {
                  ...(progress.totalSteps > 0 ? { fraction: progress.step / progress.totalSteps } : {}),
                  training: progress,
                  ...(runDir === undefined ? {} : { runDir }),
                },
              ),
            downloading: (url, { received, total }) => {
              // A hundred reports at most: the notification cannot show finer steps.
              const fraction = total ? received / total : undefined;
              const percent = fraction === undefined ? undefined : Math.floor(100 * fraction);
              if (percent !== undefined && percent === lastPercent) return;
              lastPercent = percent;
              const megabytes = (bytes: number) => `${(bytes / 1_000_000).toFixed(1)} MB`;
              context.progress(
                `downloading ${url}: ${megabytes(received)}${total ? ` of ${megabytes(total)}` : ''}`,
                fraction === undefined ? {} : { fraction },
              );
            },
            shouldStop: () => current.stopRequested,
          },
        );
        return { runDir: run.dir, ...outcome };
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
    synthesize: async ({ runDir, overrides }, context) => {
      const started = performance.now();
      if (training) {
        throw new Error('this worker is training a run; synthesize in another worker');
      }
      const request = ++newestRequest;
      // Tensor work blocks the event loop, so a newer request is only seen when this one lets messages in.
      const superseded = async () => {
        await new Promise((resolve) => setImmediate(resolve));
        return request !== newestRequest;
      };
      if (await superseded()) return { cancelled: true };
      await context.backend();
      return synthesizers.use(runDir, async (synthesizer) => {
        if (await superseded()) return { cancelled: true };
        const synthesis = await synthesizer.synthesize(
          Object.entries(overrides).map(([key, value]) => `${key}=${String(value)}`),
        );
        const result = synthesisMessage(synthesizer, synthesis, performance.now() - started);
        return (await superseded()) ? { cancelled: true } : result;
      });
    },
    imageHeatmap: async ({ runDir, imageFile }, context) => {
      const started = performance.now();
      if (training) {
        throw new Error('this worker is training a run; draw heat maps in another worker');
      }
      await context.backend();
      return loadedRuns.use(heatmapperKind, runDir, async (heatmapper) =>
        imageHeatmapMessage(heatmapper, await heatmapper.heatmapOf(imageFile), performance.now() - started),
      );
    },
    diagnoseConfig: async ({ configFile, text }, context) =>
      diagnoseExperimentText(
        configFile,
        text,
        { nativeModulePaths: options.nativeModulePaths },
        // Fitting the weights builds the encoder, which needs a backend.
        async (model) => {
          await context.backend();
          return initialWeights.problemOf(model);
        },
      ),
  };
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

function synthesisMessage(
  synthesizer: RunSynthesizer,
  synthesis: Synthesis,
  elapsedMs: number,
): SynthesisResultMessage {
  const { pairs } = synthesis;
  return {
    cancelled: false,
    runDir: synthesizer.sources.runDir,
    ...describeSynthesis(synthesizer, synthesis),
    probes: pairs.images,
    imageSize: pairs.imageSize,
    samples: pairs.samples,
    originals: synthesizer.probeBytes,
    reconstructions: synthesizer.reconstructionBytes,
    perturbed: imageBytes(pairs.perturbed),
    elapsedMs,
  };
}

function imageHeatmapMessage(
  heatmapper: RunHeatmapper,
  heatmap: ImageHeatmap,
  elapsedMs: number,
): ImageHeatmapResultMessage {
  const { sources } = heatmapper;
  return {
    runDir: sources.runDir,
    imageFile: heatmap.imageFile,
    checkpoint: sources.checkpoint,
    epoch: sources.checkpointEpoch,
    analysisEpoch: sources.analysis.manifest.epoch,
    split: heatmap.split,
    position: heatmap.position,
    probe: heatmap.probe ?? null,
    imageSize: heatmap.imageSize,
    pixels: base64(heatmap.pixels),
    gradCam: base64(imageBytes(heatmap.maps.gradCam)),
    gradientTimesActivation: base64(imageBytes(heatmap.maps.gradientTimesActivation)),
    loss: heatmap.loss,
    batchImages: heatmap.batchImages,
    elapsedMs,
  };
}
