import type { ResolvedConfig } from '../../config/experiment/definitions';
import type { EvalRecord, MetricsRecord } from '../../protocol/runFiles';
import { rewriteJsonLines } from '../../runs/jsonLines';
import type { RunDirectory } from '../../runs/runDirectory';
import { loadLatestCheckpoint, restoreVariables, saveCheckpoint } from '../checkpoint';
import { openTrainBatchSource } from '../data/batchWorkerPool';
import { trainBatchCount } from '../data/loader';
import { loadSplits } from '../data/splits';
import type { MethodOptions, SslMethod } from '../methods/method';
import { createMethod } from '../methods/registry';
import { tf } from '../tf';
import { describeEvaluation, evaluate } from './evaluate';
import { learningRateAt, type ParameterGroup, SslOptimizer } from './optimizer';

export interface TrainingProgress {
  epoch: number;
  epochs: number;
  step: number;
  totalSteps: number;
  losses: Record<string, number>;
  lr: number;
  imagesPerSecond: number;
}

export interface TrainerHooks {
  log(level: 'info' | 'warn', message: string): void;
  progress(progress: TrainingProgress): void;
  /** Asked between steps: true ends the run after the current step, as `stopped`. */
  shouldStop(): boolean;
}

export interface TrainingOutcome {
  state: 'completed' | 'stopped';
  epoch: number;
  step: number;
  evaluation?: EvalRecord;
}

/** Steps between two logged step records; epoch summaries are always logged. */
const logEverySteps = 10;

export function methodOptions(config: ResolvedConfig): MethodOptions {
  return {
    seed: config.seed,
    encoder: { arch: config.model.arch, width: config.model.width, stem: config.model.stem },
    projector: config.model.projector,
    predictor: config.model.predictor,
    simclr: config.ssl.simclr,
    mocov2: config.ssl.mocov2,
    byol: config.ssl.byol,
  };
}

function parameterGroups(config: ResolvedConfig, method: SslMethod): ParameterGroup[] {
  const variables = method.trainableVariables();
  if (config.ssl.method !== 'simsiam' || !config.ssl.simsiam.fixPredictorLr) {
    return [{ variables, scheduled: true }];
  }
  const isPredictor = (variable: tf.Variable) => variable.name.includes('.predictor.');
  return [
    { variables: variables.filter((variable) => !isPredictor(variable)), scheduled: true },
    { variables: variables.filter(isPredictor), scheduled: false },
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
  const { train: trainSet, test: testSet } = await loadSplits(config.data, context.cacheFolder, hooks.log);

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
  const method = createMethod(config.ssl.method, methodOptions(config));
  const optimizer = new SslOptimizer(
    {
      name: config.optim.name,
      momentum: config.optim.momentum,
      weightDecay: config.optim.weightDecay,
      trustCoefficient: config.optim.lars.trustCoefficient,
    },
    parameterGroups(config, method),
  );
  const checkpointed = () => [...method.state(), ...optimizer.state.all()];
  const checkpointsDir = context.run.file('checkpoints');
  const batchSource = await openTrainBatchSource(trainSet, (message) => hooks.log('warn', message));

  try {
    let startEpoch = 0;
    let step = 0;
    if (context.resume) {
      const latest = await loadLatestCheckpoint(checkpointsDir);
      if (latest) {
        restoreVariables(checkpointed(), latest.tensors);
        tf.dispose([...latest.tensors.values()]);
        startEpoch = latest.manifest.epoch;
        step = latest.manifest.step;
        await truncateLogs(context.run, startEpoch);
        hooks.log('info', `resuming after epoch ${startEpoch} (step ${step}) from ${latest.name}`);
      } else {
        await truncateLogs(context.run, 0);
        hooks.log('info', 'no checkpoint yet: starting from the beginning');
      }
    }

    let lastEvaluation: EvalRecord | undefined;
    for (let epoch = startEpoch; epoch < epochs; epoch++) {
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
      })) {
        const lr = learningRateAt(step, schedule);
        const size = config.data.imageSize;
        const losses = optimizer.step(
          () => {
            const [view1, view2] = batch.views.map((view) => tf.tensor4d(view, [batchSize, size, size, 3]));
            return method.loss(view1!, view2!);
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
    optimizer.dispose();
    await batchSource.dispose();
  }
}

/** Drops what was logged after the checkpoint a run resumes from, so its history reads as one run. */
async function truncateLogs(run: RunDirectory, epoch: number): Promise<void> {
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
