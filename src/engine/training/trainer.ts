import { setImmediate } from 'node:timers/promises';
import type { ResolvedConfig } from '../../shared/config/experiment/definitions';
import type {
  BestCheckpointPointer,
  BestCheckpointRecord,
  EvalRecord,
  ValidationFigures,
} from '../../shared/protocol/runFiles';
import type { TrainingOutcome, TrainingProgressMessage } from '../../shared/protocol/worker';
import { describeEvaluation } from '../../shared/runFolder/describe';
import { rewriteJsonLines } from '../../shared/runFolder/jsonLines';
import { epochFolderName, type RunDirectory } from '../../shared/runFolder/runDirectory';
import { analyse, maskOf, type ProbeSet, perturbationOf, probeSet } from '../analysis/analysisStep';
import { latestAnalysis, readMaskCriteria, removeAnalysesAfter, writeAnalysis } from '../analysis/artefacts';
import {
  chooseCheckpoint,
  type EpochProgress,
  loadCheckpoint,
  loadLatestCheckpoint,
  pointBestAt,
  pointLatestAt,
  readCheckpointManifest,
  restoreVariables,
  saveCheckpoint,
} from '../checkpoint';
import { openTrainBatchSource } from '../data/batchWorkerPool';
import { type ImageSet, type TrainBatch, type TrainBatchSource, trainBatchCount } from '../data/loader';
import { type DatasetSplits, loadSplits } from '../data/splits';
import type { Perturbation } from '../synthesis/pairLoss';
import { tf } from '../tf';
import type { DownloadProgress } from '../weights/download';
import { type InitialEncoder, readInitialEncoderOf } from '../weights/initialEncoder';
import { type EvaluationResult, evaluate, evaluationSettingsOf, validate } from './evaluate';
import { learningRateAt } from './optimizer';
import { buildTrainingModels, type TrainingModels } from './step';

export interface TrainerHooks {
  log(level: 'info' | 'warn', message: string): void;
  progress(progress: TrainingProgressMessage): void;
  /**
   * Asked after every step and before every epoch, once the events that came in meanwhile (a signal, the
   * host's stop request) have been delivered: true ends the run there, as `stopped`.
   */
  shouldStop(): boolean;
  /** How the download of `model.init`'s address goes, when it is not cached yet. */
  downloading?(url: string, progress: DownloadProgress): void;
}

/**
 * Steps between two logged step records. The last step of every epoch is logged too, so that a live curve
 * moves with every epoch however short; epoch summaries are always logged.
 */
const logEverySteps = 10;

/**
 * Trains a run from its resolved config, or continues it from its latest checkpoint. Everything that
 * decides the numbers — data order, augmentation, initial weights, perturbation — derives from the seed, the
 * epoch and the step, so a resumed run retraces the uninterrupted one, even from the middle of an epoch.
 */
export async function train(
  config: ResolvedConfig,
  /** `config.data.root` is absolute: whoever read the config file resolved it against the file's folder. */
  context: { run: RunDirectory; cacheFolder: string; resume: boolean; initialEncoder?: InitialEncoder },
  hooks: TrainerHooks,
): Promise<TrainingOutcome> {
  const data = await loadSplits(config.data, context.cacheFolder, hooks.log, {
    skippedList: context.run.file('skipped'),
  });
  const schedule = scheduleOf(config, data.train);
  const initialEncoder = await initialEncoderFor(config, context, hooks);
  const models = buildTrainingModels(config, initialEncoder);
  const batches = await openTrainBatchSource(data.train, (message) => hooks.log('warn', message));
  try {
    const training = new Training(config, context.run, hooks, data, schedule, models);
    const startEpoch = context.resume ? await training.resumeFromCheckpoint() : 0;
    await training.analyseIfMaskNeededFor(startEpoch + 1);
    for (let epoch = startEpoch; epoch < config.train.epochs; epoch++) {
      // A stop asked for while the data loaded or the last epoch's end was worked on takes effect here.
      if ((await stopAsked(hooks)) || (await training.trainEpoch(epoch, batches)) === 'stopped') {
        // Awaited here: the checkpoint it saves reads the models, which `finally` disposes.
        return await training.stopped(epoch);
      }
      await training.endOfEpoch(epoch + 1);
    }
    return training.completed();
  } finally {
    models.dispose();
    await batches.dispose();
  }
}

/**
 * The weights of `model.init` when the run starts from its first step: a resumed run that has a checkpoint
 * continues from it, and does not need the file any more.
 */
async function initialEncoderFor(
  config: ResolvedConfig,
  context: { run: RunDirectory; resume: boolean; initialEncoder?: InitialEncoder },
  hooks: Pick<TrainerHooks, 'log' | 'downloading'>,
): Promise<InitialEncoder | undefined> {
  if (config.model.init === '') return undefined;
  if (context.resume && (await chooseCheckpoint(context.run.file('checkpoints')))) return undefined;
  const initial =
    context.initialEncoder ??
    (await readInitialEncoderOf(config.model, (progress) =>
      hooks.downloading?.(config.model.init, progress),
    ));
  // Tensors set aside for one reason are named together: a ResNet has twenty batch-norm step counters.
  const byReason = new Map<string, { name: string }[]>();
  for (const tensor of initial.setAside)
    byReason.set(tensor.reason, [...(byReason.get(tensor.reason) ?? []), tensor]);
  const setAside = [...byReason]
    .map(([reason, tensors]) => `${tensors.map(({ name }) => name).join(', ')} (${reason})`)
    .join('; ');
  hooks.log('info', `the encoder starts from ${initial.source}${setAside ? `; set aside: ${setAside}` : ''}`);
  return initial;
}

/**
 * Asks the hooks whether to stop once what arrived during the step has been delivered. A step's tensor work
 * holds the thread, and a prefetched batch or a finished write resumes the trainer without the event loop
 * polling for signals and IPC messages, so a request would otherwise wait for a batch that is not ready.
 * Two turns: the first may run in the check phase of an iteration whose poll had already passed when the
 * request arrived; one queued from the check phase runs only after the next poll.
 */
export async function stopAsked(hooks: Pick<TrainerHooks, 'shouldStop'>): Promise<boolean> {
  await setImmediate();
  await setImmediate();
  return hooks.shouldStop();
}

/** How a run's steps are laid out, and the learning rate along them. */
interface Schedule {
  stepsPerEpoch: number;
  totalSteps: number;
  baseLr: number;
  batchSize: number;
  warmupSteps: number;
  kind: ResolvedConfig['optim']['schedule'];
}

function scheduleOf(config: ResolvedConfig, trainSet: ImageSet): Schedule {
  const { batchSize, epochs } = config.train;
  const stepsPerEpoch = trainBatchCount(trainSet, batchSize);
  if (stepsPerEpoch === 0) {
    throw new RangeError(
      `train.batchSize ${batchSize} is larger than the ${trainSet.images.length} training images`,
    );
  }
  return {
    stepsPerEpoch,
    totalSteps: stepsPerEpoch * epochs,
    baseLr: config.optim.lr,
    batchSize,
    warmupSteps: config.optim.warmupEpochs * stepsPerEpoch,
    kind: config.optim.schedule,
  };
}

/** A run in training: where it stands, and the work of its steps and of the ends of its epochs. */
class Training {
  /** Optimiser steps taken since the run began. */
  private step = 0;
  /** The steps taken by the newest checkpoint, which a resume continues from; 0, as a start from scratch, before one. */
  private checkpointedStep = 0;
  /** How far the epoch in training has got; what a stop checkpoint saves. */
  private epochProgress = epochStart();
  /** The mask and σ of the latest analysis, which L_Cp perturbs with once it is due. */
  private perturbation: Perturbation | undefined;
  private lastEvaluation: EvalRecord | undefined;
  /** The checkpoint with the best validation figure so far, as best.json points at it, and that epoch's figures. */
  private best: { pointer: BestCheckpointPointer; validation: ValidationFigures } | undefined;
  private readonly probes: ProbeSet;
  private readonly pairsWanted: boolean;

  constructor(
    private readonly config: ResolvedConfig,
    private readonly run: RunDirectory,
    private readonly hooks: TrainerHooks,
    private readonly data: DatasetSplits,
    private readonly schedule: Schedule,
    private readonly models: TrainingModels,
  ) {
    this.probes = probeSet(data.test, config);
    this.pairsWanted = models.decoder !== undefined && config.loss.nu > 0;
  }

  /**
   * Restores the latest checkpoint and forgets what was logged after it; returns the epochs it had done. A
   * stop checkpoint also says how far into the next epoch the run had got, where its training picks up.
   */
  async resumeFromCheckpoint(): Promise<number> {
    const latest = await loadLatestCheckpoint(this.run.file('checkpoints'));
    if (!latest) {
      await forgetAfter(this.run, { epoch: 0, step: 0 });
      this.hooks.log('info', 'no checkpoint yet: starting from the beginning');
      return 0;
    }
    restoreVariables(this.models.state(), latest.tensors);
    tf.dispose([...latest.tensors.values()]);
    if (latest.fallback !== undefined) {
      this.hooks.log('warn', latest.fallback);
      // Readers of the run (pairs, heat maps, eval) then open the same checkpoint as this resume.
      await pointLatestAt(this.run.file('checkpoints'), latest.name);
    }
    const { epoch, step, epochProgress } = latest.manifest;
    this.step = step;
    this.checkpointedStep = step;
    this.epochProgress = epochProgress ?? epochStart();
    await this.restoreBest(await forgetAfter(this.run, { epoch, step }));
    this.perturbation = await savedPerturbation(this.run.dir, this.config, epoch);
    this.hooks.log('info', `resuming ${this.whereIn(epoch)} (step ${step}) from ${latest.name}`);
    return epoch;
  }

  /**
   * Trains the epoch numbered `epoch + 1`, from where {@link epochProgress} says it got to, and logs its
   * summary, unless the hooks ask to stop first.
   */
  async trainEpoch(epoch: number, batches: TrainBatchSource): Promise<'finished' | 'stopped'> {
    const { config, schedule } = this;
    const { batchSize, epochs } = config.train;
    const pairsDue = this.pairsWanted && epoch + 1 >= config.synthesis.startEpoch;
    const progress = this.epochProgress;
    let windowStart = performance.now();
    let windowImages = 0;
    const options = {
      batchSize,
      imageSize: config.data.imageSize,
      seed: config.seed,
      epoch,
      augment: config.augment,
      centreViews: this.models.decoder !== undefined,
    };
    for await (const batch of batches.epoch(options, progress.steps)) {
      const { losses, lr } = await this.trainStep(batch, pairsDue);
      progress.steps++;
      for (const [name, value] of Object.entries(losses)) {
        progress.lossSums[name] = (progress.lossSums[name] ?? 0) + value;
      }
      windowImages += batchSize;
      const imagesPerSecond = windowImages / Math.max((performance.now() - windowStart) / 1000, 1e-9);
      const { step } = this;
      if (step % logEverySteps === 0 || progress.steps === schedule.stepsPerEpoch) {
        const time = new Date().toISOString();
        await this.run.appendMetrics({
          kind: 'step',
          epoch: epoch + 1,
          step,
          time,
          losses,
          lr,
          imagesPerSecond,
        });
        windowStart = performance.now();
        windowImages = 0;
      }
      const { totalSteps } = schedule;
      this.hooks.progress({ epoch: epoch + 1, epochs, step, totalSteps, losses, lr, imagesPerSecond });
      if (await stopAsked(this.hooks)) {
        return 'stopped';
      }
    }
    const meanLosses = Object.entries(progress.lossSums).map(([name, total]) => [
      name,
      total / progress.steps,
    ]);
    await this.run.appendMetrics({
      kind: 'epoch',
      epoch: epoch + 1,
      step: this.step,
      time: new Date().toISOString(),
      losses: Object.fromEntries(meanLosses),
      lr: learningRateAt(this.step - 1, schedule),
    });
    this.epochProgress = epochStart();
    return 'finished';
  }

  /** One optimiser step on `batch`, with L_Cp when `pairsDue` and a mask exists; returns its losses and rate. */
  private async trainStep(
    batch: TrainBatch,
    pairsDue: boolean,
  ): Promise<{ losses: Record<string, number>; lr: number }> {
    const { config, schedule, perturbation } = this;
    const { batchSize } = config.train;
    const size = config.data.imageSize;
    const toTensor = (view: Float32Array) => tf.tensor4d(view, [batchSize, size, size, 3]);
    const lr = learningRateAt(this.step, schedule);
    const losses = await this.models.step(
      () => ({
        views: [toTensor(batch.views[0]), toTensor(batch.views[1])],
        ...(batch.centre ? { centre: toTensor(batch.centre) } : {}),
        ...(pairsDue && perturbation ? { perturbation } : {}),
      }),
      {
        step: this.step,
        totalSteps: schedule.totalSteps,
        learningRates: { scheduled: lr, fixed: (config.optim.lr * batchSize) / 256 },
      },
    );
    this.step++;
    return { losses, lr };
  }

  /** After `epochsDone` epochs: the analysis, evaluation and checkpoint due then, and run.json's epoch. */
  async endOfEpoch(epochsDone: number): Promise<void> {
    const { config } = this;
    const last = epochsDone === config.train.epochs;
    const every = (epochs: number) => epochs > 0 && epochsDone % epochs === 0;
    if (last || every(config.analysis.everyEpochs)) {
      await this.analyseAfter(epochsDone);
    } else {
      await this.analyseIfMaskNeededFor(epochsDone + 1);
    }
    const testDue = last || every(config.eval.everyEpochs);
    const validationDue = last || every(config.eval.validation.everyEpochs);
    const record = await this.evaluateAfter(epochsDone, { test: testDue, validation: validationDue });
    const improved = record?.validation !== undefined && this.improvesOnBest(record.validation);
    if (record && last) {
      const best = await this.bestOnTest(improved ? { epoch: epochsDone, record } : undefined);
      if (best) record.best = best;
    }
    if (record) await this.recordEvaluation(record);
    if (last || every(config.checkpoint.everyEpochs) || improved) {
      await this.writeCheckpoint(epochsDone, improved ? { bestValidation: record?.validation } : {});
    }
    await this.run.update({ epoch: epochsDone });
  }

  /**
   * Saves a stop checkpoint of the last step trained, wherever in an epoch that was, unless the newest
   * checkpoint already holds it: a run stopped before its time limit or on preemption loses no step.
   */
  async stopped(epochsDone: number): Promise<TrainingOutcome> {
    if (this.step > this.checkpointedStep) {
      const checkpoint = await this.writeCheckpoint(epochsDone, { epochProgress: this.epochProgress });
      this.hooks.log(
        'info',
        `stopped ${this.whereIn(epochsDone)} (step ${this.step}); ${checkpoint} holds it for --resume`,
      );
    }
    return { state: 'stopped', epoch: epochsDone, step: this.step };
  }

  /** Where training stands, in words, after `epochsDone` epochs and the epoch progress made since. */
  private whereIn(epochsDone: number): string {
    const { steps } = this.epochProgress;
    if (steps === 0) return `after epoch ${epochsDone}`;
    return `${steps} of ${this.schedule.stepsPerEpoch} steps into epoch ${epochsDone + 1}`;
  }

  completed(): TrainingOutcome {
    const evaluation = this.lastEvaluation;
    return {
      state: 'completed',
      epoch: this.config.train.epochs,
      step: this.step,
      ...(evaluation ? { evaluation } : {}),
    };
  }

  /** L_Cp needs a mask from the epoch numbered `epochNumber` (from 1) on: one is made now if none exists. */
  async analyseIfMaskNeededFor(epochNumber: number): Promise<void> {
    const needed = this.pairsWanted && epochNumber >= this.config.synthesis.startEpoch;
    if (needed && this.perturbation === undefined) {
      await this.analyseAfter(epochNumber - 1);
    }
  }

  private async analyseAfter(epochsDone: number): Promise<void> {
    const { config, data, models } = this;
    const result = await analyse(
      models.method,
      models.decoder?.decoder,
      config,
      { train: data.train, test: data.test, probes: this.probes },
      { epoch: epochsDone, step: this.step },
    );
    await writeAnalysis(this.run.dir, result, config, data.classes);
    this.hooks.log(
      'info',
      `analysis after epoch ${epochsDone}: ${result.mask.count} of ${result.variance.length} dimensions non-discriminative (${config.analysis.combine} of ${result.mask.variance.count} by variance, ${result.mask.gradcam.count} by Grad-CAM)`,
    );
    this.perturbation = perturbationOf(result);
  }

  /** The test figures and the validation ones that are due after `epochsDone` epochs; undefined when none is. */
  private async evaluateAfter(
    epochsDone: number,
    due: { test: boolean; validation: boolean },
  ): Promise<EvalRecord | undefined> {
    const { data } = this;
    const encoder = this.models.method.encoder;
    const settings = evaluationSettingsOf(this.config);
    const validation = due.validation ? await validate(encoder, data.validation, settings) : undefined;
    if (!due.test && !validation) return undefined;
    return {
      epoch: epochsDone,
      time: new Date().toISOString(),
      ...(due.test ? await evaluate(encoder, data.train, data.test, settings) : {}),
      ...(validation ? { validation } : {}),
    };
  }

  private improvesOnBest(validation: ValidationFigures): boolean {
    return (
      this.best === undefined || validation[this.config.eval.validation.metric] > this.best.pointer.value
    );
  }

  /**
   * The best checkpoint by validation, on the test split: this epoch's figures when it is the best, else
   * those of the kept checkpoint measured now.
   */
  private async bestOnTest(
    now: { epoch: number; record: EvalRecord } | undefined,
  ): Promise<BestCheckpointRecord | undefined> {
    const by = this.config.eval.validation.metric;
    if (now?.record.validation) {
      const { epoch: _epoch, time: _time, validation, best: _best, ...figures } = now.record;
      return { epoch: now.epoch, checkpoint: epochFolderName(now.epoch), by, validation, ...figures };
    }
    if (!this.best) return undefined;
    const { pointer, validation } = this.best;
    const loaded = await loadCheckpoint(this.run.file('checkpoints'), pointer.checkpoint);
    const figures = await this.evaluateWith(loaded.tensors);
    this.hooks.log(
      'info',
      `best checkpoint ${pointer.checkpoint} (epoch ${pointer.epoch}, by validation ${by}) on the test split: ${describeEvaluation(figures)}`,
    );
    return { epoch: pointer.epoch, checkpoint: pointer.checkpoint, by, validation, ...figures };
  }

  /**
   * The test figures of the method with a checkpoint's weights, measured in place: a second copy of the
   * method could not register variables of the same names. The trained weights are put back after.
   */
  private async evaluateWith(saved: Map<string, tf.Tensor>): Promise<EvaluationResult> {
    const { data } = this;
    const variables = this.models.method.state();
    const trained = variables.map(([, variable]) => tf.clone(variable));
    try {
      restoreVariables(variables, saved);
      return await evaluate(
        this.models.method.encoder,
        data.train,
        data.test,
        evaluationSettingsOf(this.config),
      );
    } finally {
      for (const [index, [, variable]] of variables.entries()) variable.assign(trained[index]!);
      tf.dispose([...trained, ...saved.values()]);
    }
  }

  private async recordEvaluation(record: EvalRecord): Promise<void> {
    this.lastEvaluation = record;
    await this.run.appendEval(record);
    this.hooks.log('info', `epoch ${record.epoch}: ${describeEvaluation(record)}`);
  }

  /**
   * The best checkpoint of the history a resume keeps: the first epoch with the highest validation figure whose
   * checkpoint is still there. Recomputed rather than read from best.json, which a kill can leave a step behind.
   */
  private async restoreBest(evals: readonly EvalRecord[]): Promise<void> {
    const by = this.config.eval.validation.metric;
    const dir = this.run.file('checkpoints');
    let best: Training['best'];
    for (const { epoch, validation } of evals) {
      if (validation === undefined || (best && validation[by] <= best.pointer.value)) continue;
      const checkpoint = epochFolderName(epoch);
      if (await readCheckpointManifest(dir, checkpoint).catch(() => undefined)) {
        best = { pointer: { checkpoint, epoch, by, value: validation[by] }, validation };
      }
    }
    this.best = best;
    if (best) await pointBestAt(dir, best.pointer);
  }

  /**
   * Saves the state after `epochsDone` epochs and `epochProgress` into the next, when given, as a stop
   * checkpoint; as the new best checkpoint when `bestValidation` is given. Returns the checkpoint's name.
   */
  private async writeCheckpoint(
    epochsDone: number,
    { bestValidation, epochProgress }: { bestValidation?: ValidationFigures; epochProgress?: EpochProgress },
  ): Promise<string> {
    const { keep } = this.config.checkpoint;
    const by = this.config.eval.validation.metric;
    const best = bestValidation && { by, value: bestValidation[by] };
    const checkpoint = await saveCheckpoint(
      this.run.file('checkpoints'),
      {
        epoch: epochsDone,
        step: this.step,
        state: {},
        ...(epochProgress ? { epochProgress } : {}),
        tensors: this.models.state().map(([name, tensor]) => ({ name, tensor })),
      },
      { keep: keep === 0 ? Number.MAX_SAFE_INTEGER : keep, ...(best ? { best } : {}) },
    );
    this.checkpointedStep = this.step;
    if (best) this.best = { pointer: { checkpoint, epoch: epochsDone, ...best }, validation: bestValidation };
    return checkpoint;
  }
}

/** Where an epoch's training stands before its first step. */
function epochStart(): EpochProgress {
  return { steps: 0, lossSums: {} };
}

/**
 * Drops what was logged and analysed after the checkpoint a run resumes from, which holds `epoch` epochs
 * and `step` steps, so its history reads as one run. Step records up to the checkpoint's step stay, those of
 * a stop checkpoint's unfinished epoch too; evaluations and analyses come only at the end of an epoch. The
 * analysis at `epoch` itself stays: it is the one taken after the checkpoint's epoch, or before training
 * when no checkpoint exists. Returns the evaluations kept.
 */
async function forgetAfter(
  run: RunDirectory,
  { epoch, step }: { epoch: number; step: number },
): Promise<EvalRecord[]> {
  await removeAnalysesAfter(run.dir, epoch);
  const metrics = await run.readMetrics();
  await rewriteJsonLines(
    run.file('metrics'),
    metrics.records.filter((record) => record.step <= step),
  );
  const kept = (await run.readEvals()).records.filter((record) => record.epoch <= epoch);
  await rewriteJsonLines(run.file('eval'), kept);
  return kept;
}

/**
 * The mask and σ a resumed run continues with: those of the newest analysis at or before its checkpoint,
 * rebuilt from the saved variances and importances exactly as the run derived them.
 */
async function savedPerturbation(
  runDir: string,
  config: ResolvedConfig,
  epoch: number,
): Promise<Perturbation | undefined> {
  const saved = await latestAnalysis(runDir, epoch);
  if (!saved) {
    return undefined;
  }
  const { variance, importance } = await readMaskCriteria(saved);
  return perturbationOf({ variance, mask: maskOf(config, variance, importance) });
}
