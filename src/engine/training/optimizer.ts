import {
  fusedAdamUpdate,
  fusedMomentumUpdate,
  fusedOptimizerUpdatesAvailable,
} from '../backends/onednn/optimizerUpdates';
import { ParameterStore } from '../models/parameters';
import { tf } from '../tf';

export type OptimizerName = 'sgd' | 'lars' | 'adam';

export interface OptimizerSettings {
  name: OptimizerName;
  momentum: number;
  weightDecay: number;
  /** LARS's η: how far a layer may move relative to its weight norm. */
  trustCoefficient: number;
}

export interface ParameterGroup {
  variables: tf.Variable[];
  /** SimSiam keeps its predictor's learning rate fixed while the rest follows the schedule. */
  scheduled: boolean;
}

/** The rate of the scheduled groups at a step, and that of the groups kept at the scaled base rate. */
export interface LearningRates {
  scheduled: number;
  fixed: number;
}

const adamBetas = [0.9, 0.999] as const;
const adamEpsilon = 1e-8;

/**
 * SGD with momentum, LARS and Adam with PyTorch's update rules, whose state lives in named variables so a
 * checkpoint holds it like any weight and a resumed run continues bit for bit. Weight decay and LARS's
 * adaptation skip one-dimensional weights (biases and batch-norm scales and shifts), as SimCLR and BYOL do.
 */
export class SslOptimizer {
  readonly state: ParameterStore;
  private readonly slots = new Map<tf.Variable, tf.Variable[]>();
  private readonly stepCount: tf.Variable;

  constructor(
    private readonly settings: OptimizerSettings,
    private readonly groups: readonly ParameterGroup[],
  ) {
    this.state = ParameterStore.root('optimizer');
    this.stepCount = this.state.add('step', tf.scalar(0), { trainable: false });
    const slotNames = settings.name === 'adam' ? ['firstMoment', 'secondMoment'] : ['momentum'];
    for (const group of groups) {
      for (const variable of group.variables) {
        this.slots.set(
          variable,
          slotNames.map((slot) =>
            this.state.add(`${variable.name}.${slot}`, tf.zerosLike(variable), { trainable: false }),
          ),
        );
      }
    }
  }

  /**
   * Computes the loss and its gradients and applies one update; resolves to the loss terms' values. They are
   * read once the update is queued: a GPU backend reads back only asynchronously, and waiting for the
   * device in the middle of the step would stall it.
   */
  async step<T extends Record<string, tf.Scalar>>(
    loss: () => { total: tf.Scalar; terms: T },
    learningRates: LearningRates,
  ): Promise<Record<keyof T, number>> {
    let names: (keyof T)[] = [];
    const termValues = tf.tidy(() => {
      let kept: tf.Tensor1D | undefined;
      const variables = this.groups.flatMap((group) => group.variables);
      const { grads } = tf.variableGrads(() => {
        const computed = loss();
        names = Object.keys(computed.terms);
        // Kept: the tape disposes every tensor of the forward pass but the total when it returns.
        kept = tf.keep(tf.stack(Object.values(computed.terms)) as tf.Tensor1D);
        return computed.total;
      }, variables);
      this.stepCount.assign(tf.add(this.stepCount, 1));
      // The fused kernels take the step as a number; reading it back is free on the CPU backends that have them.
      const fusedStep = fusedOptimizerUpdatesAvailable() ? this.stepCount.dataSync()[0]! : undefined;
      for (const group of this.groups) {
        const rate = group.scheduled ? learningRates.scheduled : learningRates.fixed;
        for (const variable of group.variables) {
          // A variable this step's loss does not reach (the decoder before any term trains it) keeps its
          // value and its optimizer slots, as PyTorch's optimizers skip a parameter whose grad is None.
          const gradient = grads[variable.name];
          if (gradient) this.update(variable, gradient, rate, fusedStep);
        }
      }
      return kept!;
    });
    try {
      const values = await termValues.data();
      return Object.fromEntries(names.map((name, index) => [name, values[index]!])) as Record<
        keyof T,
        number
      >;
    } finally {
      termValues.dispose();
    }
  }

  dispose(): void {
    this.state.dispose();
  }

  private update(variable: tf.Variable, gradient: tf.Tensor, rate: number, step: number | undefined): void {
    const { name, momentum, weightDecay, trustCoefficient } = this.settings;
    const regularised = variable.rank > 1;
    const slots = this.slots.get(variable)!;
    const decay = regularised ? weightDecay : 0;
    if (name === 'adam' && step !== undefined) {
      const [first, second] = slots as [tf.Variable, tf.Variable];
      const updated = fusedAdamUpdate(variable, gradient, first, second, {
        rate,
        beta1: adamBetas[0],
        beta2: adamBetas[1],
        epsilon: adamEpsilon,
        correction1: 1 - adamBetas[0] ** step,
        correction2: 1 - adamBetas[1] ** step,
        weightDecay: decay,
      });
      for (const [index, target] of [variable, first, second].entries()) target.assign(updated[index]!);
      return;
    }
    const decayed = decay > 0 ? tf.add(gradient, tf.mul(variable, decay)) : gradient;
    if (name === 'adam') {
      const [first, second] = slots as [tf.Variable, tf.Variable];
      first.assign(tf.add(tf.mul(first, adamBetas[0]), tf.mul(decayed, 1 - adamBetas[0])));
      second.assign(tf.add(tf.mul(second, adamBetas[1]), tf.mul(tf.square(decayed), 1 - adamBetas[1])));
      const correction1 = tf.sub(1, tf.pow(adamBetas[0], this.stepCount));
      const correction2 = tf.sub(1, tf.pow(adamBetas[1], this.stepCount));
      const denominator = tf.add(tf.sqrt(tf.div(second, correction2)), adamEpsilon);
      variable.assign(tf.sub(variable, tf.mul(rate, tf.div(tf.div(first, correction1), denominator))));
      return;
    }
    let ratio: tf.Tensor = tf.scalar(1);
    if (name === 'lars' && regularised) {
      // Each layer's step is scaled to η·‖w‖/‖g‖ of its weights; a zero norm leaves the step as SGD's.
      const weightNorm = tf.norm(variable);
      const gradientNorm = tf.norm(decayed);
      ratio = tf.where(
        tf.logicalAnd(tf.greater(weightNorm, 0), tf.greater(gradientNorm, 0)),
        tf.div(tf.mul(weightNorm, trustCoefficient), gradientNorm),
        tf.onesLike(weightNorm),
      );
    }
    const [buffer] = slots as [tf.Variable];
    if (step !== undefined) {
      const [updatedVariable, updatedBuffer] = fusedMomentumUpdate(variable, gradient, buffer, ratio, {
        rate,
        momentum,
        weightDecay: decay,
      });
      buffer.assign(updatedBuffer);
      variable.assign(updatedVariable);
      return;
    }
    buffer.assign(tf.add(tf.mul(buffer, momentum), tf.mul(decayed, ratio)));
    variable.assign(tf.sub(variable, tf.mul(buffer, rate)));
  }
}

/**
 * The learning rate at a step: the base rate scaled by batchSize/256 (Goyal et al. 2017), a linear warm-up,
 * then a half cosine to zero (SGDR without restarts) or constant.
 */
export function learningRateAt(
  step: number,
  schedule: {
    baseLr: number;
    batchSize: number;
    warmupSteps: number;
    totalSteps: number;
    kind: 'cosine' | 'constant';
  },
): number {
  const peak = (schedule.baseLr * schedule.batchSize) / 256;
  if (step < schedule.warmupSteps) {
    return (peak * (step + 1)) / schedule.warmupSteps;
  }
  if (schedule.kind === 'constant') {
    return peak;
  }
  const progress = (step - schedule.warmupSteps) / Math.max(1, schedule.totalSteps - schedule.warmupSteps);
  return 0.5 * peak * (1 + Math.cos(Math.PI * Math.min(1, progress)));
}
