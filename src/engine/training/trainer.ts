import type { ResolvedConfig } from '../../shared/config/experiment/definitions';
import { selectedMethod } from '../../shared/config/methods/registry';
import type { EvalRecord, MetricsRecord } from '../../shared/protocol/runFiles';
import type { TrainingOutcome, TrainingProgressMessage } from '../../shared/protocol/worker';
import { describeEvaluation } from '../../shared/runFolder/describe';
import { rewriteJsonLines } from '../../shared/runFolder/jsonLines';
import type { RunDirectory } from '../../shared/runFolder/runDirectory';
import { analyse, maskOf, perturbationOf, probeSet } from '../analysis/analysisStep';
import { latestAnalysis, readMaskCriteria, removeAnalysesAfter, writeAnalysis } from '../analysis/artefacts';
import { loadLatestCheckpoint, restoreVariables, saveCheckpoint } from '../checkpoint';
import { openTrainBatchSource } from '../data/batchWorkerPool';
import { trainBatchCount } from '../data/loader';
import { loadSplits } from '../data/splits';
import type { SslMethod } from '../methods/method';
import { createMethodFor } from '../methods/registry';
import {
  type BuiltDecoder,
  buildDecoder,
  type Perturbation,
  synthesisLoss,
  usesDecoder,
} from '../synthesis/pairLoss';
import { tf } from '../tf';
import { evaluate } from './evaluate';
import { learningRateAt, type ParameterGroup, SslOptimizer } from './optimizer';

export interface TrainerHooks {
  log(level: 'info' | 'warn', message: string): void;
  progress(progress: TrainingProgressMessage): void;
  /** Asked between steps: true ends the run after the current step, as `stopped`. */
  shouldStop(): boolean;
}

/** Steps between two logged step records; epoch summaries are always logged. */
const logEverySteps = 10;

function parameterGroups(
  config: ResolvedConfig,
  method: SslMethod,
  decoder: BuiltDecoder | undefined,
): ParameterGroup[] {
  const variables = [...method.trainableVariables(), ...(decoder?.parameters.trainable() ?? [])];
  const { spec, options } = selectedMethod(config.ssl);
  const fixedScopes = spec.fixedRateScopes?.(options) ?? [];
  if (fixedScopes.length === 0) {
    return [{ variables, scheduled: true }];
  }
  const keepsBaseRate = (variable: tf.Variable) =>
    fixedScopes.some((scope) => variable.name.includes(`.${scope}.`));
  return [
    { variables: variables.filter((variable) => !keepsBaseRate(variable)), scheduled: true },
    { variables: variables.filter(keepsBaseRate), scheduled: false },
  ];
}

/**
 * Trains a run from its resolved config, or continues it from its latest checkpoint. Everything that
 * decides the numbers — data order, augmentation, initial weights — derives from the seed and the epoch, so
 * a resumed run retraces the uninterrupted one.
 */
export async function train(
  config: ResolvedConfig,
  /** `config.data.root` is absolute: whoever read the config file resolved it against the file's folder. */
  context: { run: RunDirectory; cacheFolder: string; resume: boolean },
  hooks: TrainerHooks,
): Promise<TrainingOutcome> {
  const {
    train: trainSet,
    test: testSet,
    classes,
  } = await loadSplits(config.data, context.cacheFolder, hooks.log);

  const { batchSize, epochs } = config.train;
  const stepsPerEpoch = trainBatchCount(trainSet, batchSize);
  if (stepsPerEpoch === 0) {
    throw new RangeError(
      `train.batchSize ${batchSize} is larger than the ${trainSet.images.length} training images`,
    );
  }
  const totalSteps = stepsPerEpoch * epochs;
  const schedule = {
    baseLr: config.optim.lr,
    batchSize,
    warmupSteps: config.optim.warmupEpochs * stepsPerEpoch,
    totalSteps,
    kind: config.optim.schedule,
  };
  const method = createMethodFor(config);
  const decoder = usesDecoder(config) ? buildDecoder(config, method.encoder.featureDim) : undefined;
  const pairsWanted = decoder !== undefined && config.loss.nu > 0;
  const probes = probeSet(testSet, config);
  const optimizer = new SslOptimizer(
    {
      name: config.optim.name,
      momentum: config.optim.momentum,
      weightDecay: config.optim.weightDecay,
      trustCoefficient: config.optim.lars.trustCoefficient,
    },
    parameterGroups(config, method, decoder),
  );
  const checkpointed = () => [
    ...method.state(),
    ...(decoder?.parameters.all() ?? []),
    ...optimizer.state.all(),
  ];
  const checkpointsDir = context.run.file('checkpoints');
  const batchSource = await openTrainBatchSource(trainSet, (message) => hooks.log('warn', message));

  try {
    let startEpoch = 0;
    let step = 0;
    let perturbation: Perturbation | undefined;
    if (context.resume) {
      const latest = await loadLatestCheckpoint(checkpointsDir);
      if (latest) {
        restoreVariables(checkpointed(), latest.tensors);
        tf.dispose([...latest.tensors.values()]);
        startEpoch = latest.manifest.epoch;
        step = latest.manifest.step;
        await forgetAfter(context.run, startEpoch);
        perturbation = await savedPerturbation(context.run.dir, config, startEpoch);
        hooks.log('info', `resuming after epoch ${startEpoch} (step ${step}) from ${latest.name}`);
      } else {
        await forgetAfter(context.run, 0);
        hooks.log('info', 'no checkpoint yet: starting from the beginning');
      }
    }

    const runAnalysis = async (epochsDone: number) => {
      const result = analyse(
        method,
        decoder?.decoder,
        config,
        { train: trainSet, test: testSet, probes },
        { epoch: epochsDone, step },
      );
      await writeAnalysis(context.run.dir, result, config, classes);
      hooks.log(
        'info',
        `analysis after epoch ${epochsDone}: ${result.mask.count} of ${result.variance.length} dimensions non-discriminative (${config.analysis.combine} of ${result.mask.variance.count} by variance, ${result.mask.gradcam.count} by Grad-CAM)`,
      );
      perturbation = perturbationOf(result);
    };
    if (pairsWanted && perturbation === undefined && startEpoch + 1 >= config.synthesis.startEpoch) {
      await runAnalysis(startEpoch);
    }

    let lastEvaluation: EvalRecord | undefined;
    for (let epoch = startEpoch; epoch < epochs; epoch++) {
      const pairsDue = pairsWanted && epoch + 1 >= config.synthesis.startEpoch;
      const epochLosses: Record<string, number> = {};
      let epochSteps = 0;
      let stopped = false;
      let windowStart = performance.now();
      let windowImages = 0;
      for await (const batch of batchSource.epoch({
        batchSize,
        imageSize: config.data.imageSize,
        seed: config.seed,
        epoch,
        augment: config.augment,
        centreViews: decoder !== undefined,
      })) {
        const lr = learningRateAt(step, schedule);
        const size = config.data.imageSize;
        const losses = optimizer.step(
          () => {
            const [view1, view2] = batch.views.map((view) => tf.tensor4d(view, [batchSize, size, size, 3]));
            const contrastive = method.loss(view1!, view2!);
            if (!decoder) {
              return contrastive;
            }
            const synthesis = synthesisLoss(method, decoder.decoder, config, {
              centre: tf.tensor4d(batch.centre!, [batchSize, size, size, 3]),
              ...(pairsDue && perturbation ? { perturbation } : {}),
              step,
            });
            const total = tf.add(contrastive.total, synthesis.total) as tf.Scalar;
            return { total, terms: { ...contrastive.terms, ...synthesis.terms, total } };
          },
          { scheduled: lr, fixed: (config.optim.lr * batchSize) / 256 },
        );
        step++;
        method.afterStep({ step, totalSteps });
        epochSteps++;
        windowImages += batchSize;
        for (const [name, value] of Object.entries(losses)) {
          epochLosses[name] = (epochLosses[name] ?? 0) + value;
        }
        const seconds = (performance.now() - windowStart) / 1000;
        const imagesPerSecond = windowImages / Math.max(seconds, 1e-9);
        const record: MetricsRecord = {
          kind: 'step',
          epoch: epoch + 1,
          step,
          time: new Date().toISOString(),
          losses,
          lr,
          imagesPerSecond,
        };
        if (step % logEverySteps === 0) {
          await context.run.appendMetrics(record);
          windowStart = performance.now();
          windowImages = 0;
        }
        hooks.progress({ epoch: epoch + 1, epochs, step, totalSteps, losses, lr, imagesPerSecond });
        if (hooks.shouldStop()) {
          stopped = true;
          break;
        }
      }
      if (stopped) {
        // The last checkpoint stays the resume point; what this partial epoch logged is dropped on resume.
        return { state: 'stopped', epoch, step };
      }
      const meanLosses = Object.fromEntries(
        Object.entries(epochLosses).map(([name, total]) => [name, total / epochSteps]),
      );
      await context.run.appendMetrics({
        kind: 'epoch',
        epoch: epoch + 1,
        step,
        time: new Date().toISOString(),
        losses: meanLosses,
        lr: learningRateAt(step - 1, schedule),
      });
      const finished = epoch + 1 === epochs;
      const analysisDue =
        finished ||
        (config.analysis.everyEpochs > 0 && (epoch + 1) % config.analysis.everyEpochs === 0) ||
        (pairsWanted && perturbation === undefined && epoch + 2 >= config.synthesis.startEpoch);
      if (analysisDue) {
        await runAnalysis(epoch + 1);
      }
      const evalDue =
        finished || (config.eval.everyEpochs > 0 && (epoch + 1) % config.eval.everyEpochs === 0);
      if (evalDue) {
        const result = evaluate(method.encoder, trainSet, testSet, {
          imageSize: config.data.imageSize,
          batchSize,
          seed: config.seed,
          ...config.eval,
        });
        lastEvaluation = {
          epoch: epoch + 1,
          time: new Date().toISOString(),
          ...result,
        };
        await context.run.appendEval(lastEvaluation);
        hooks.log('info', `epoch ${epoch + 1}: ${describeEvaluation(lastEvaluation)}`);
      }
      const checkpointDue =
        finished || (config.checkpoint.everyEpochs > 0 && (epoch + 1) % config.checkpoint.everyEpochs === 0);
      if (checkpointDue) {
        await saveCheckpoint(
          checkpointsDir,
          {
            epoch: epoch + 1,
            step,
            state: {},
            tensors: checkpointed().map(([name, tensor]) => ({ name, tensor })),
          },
          { keep: config.checkpoint.keep === 0 ? Number.MAX_SAFE_INTEGER : config.checkpoint.keep },
        );
      }
      await context.run.update({ epoch: epoch + 1 });
    }
    return {
      state: 'completed',
      epoch: epochs,
      step,
      ...(lastEvaluation ? { evaluation: lastEvaluation } : {}),
    };
  } finally {
    method.dispose();
    decoder?.parameters.dispose();
    optimizer.dispose();
    await batchSource.dispose();
  }
}

/**
 * Drops what was logged and analysed after the checkpoint a run resumes from, so its history reads as one
 * run. The analysis at `epoch` itself stays: it is the one taken after the checkpoint's epoch, or before
 * training when no checkpoint exists.
 */
async function forgetAfter(run: RunDirectory, epoch: number): Promise<void> {
  await removeAnalysesAfter(run.dir, epoch);
  const metrics = await run.readMetrics();
  await rewriteJsonLines(
    run.file('metrics'),
    metrics.records.filter((record) => record.epoch <= epoch),
  );
  const evals = await run.readEvals();
  await rewriteJsonLines(
    run.file('eval'),
    evals.records.filter((record) => record.epoch <= epoch),
  );
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
