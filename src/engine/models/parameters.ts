import { tf, tfSeed } from '../tf';

interface Registry {
  variables: Map<string, tf.Variable>;
  trainableNames: Set<string>;
}

/**
 * The weights of a model by stable, hierarchical name ("encoder.layer2.0.conv1.weight"), which checkpoints
 * and the momentum encoders of MoCo and BYOL rely on: two models built from the same config have the same
 * names in the same order.
 */
export class ParameterStore {
  private constructor(
    readonly prefix: string,
    private readonly registry: Registry,
  ) {}

  static root(prefix: string): ParameterStore {
    return new ParameterStore(prefix, { variables: new Map(), trainableNames: new Set() });
  }

  /** A view of the same registry under a longer prefix, for a sub-module. */
  scope(name: string): ParameterStore {
    return new ParameterStore(`${this.prefix}.${name}`, this.registry);
  }

  add(name: string, initial: tf.Tensor, options: { trainable: boolean }): tf.Variable {
    const fullName = `${this.prefix}.${name}`;
    if (this.registry.variables.has(fullName)) {
      throw new Error(`parameter ${fullName} is defined twice`);
    }
    const variable = tf.variable(initial, options.trainable, fullName);
    initial.dispose();
    this.registry.variables.set(fullName, variable);
    if (options.trainable) {
      this.registry.trainableNames.add(fullName);
    }
    return variable;
  }

  /** Every weight under this prefix, trainable or not (batch-norm running statistics), in definition order. */
  all(): [string, tf.Variable][] {
    return [...this.registry.variables.entries()].filter(([name]) => name.startsWith(`${this.prefix}.`));
  }

  trainable(): tf.Variable[] {
    return this.all()
      .filter(([name]) => this.registry.trainableNames.has(name))
      .map(([, variable]) => variable);
  }

  dispose(): void {
    for (const [name, variable] of this.all()) {
      variable.dispose();
      this.registry.variables.delete(name);
      this.registry.trainableNames.delete(name);
    }
  }
}

/** He (Kaiming) normal initialisation for ReLU networks, fan-out mode as torchvision's ResNet uses. */
export function heNormal(shape: number[], fanOut: number, seed: number): tf.Tensor {
  return tf.randomNormal(shape, 0, Math.sqrt(2 / fanOut), 'float32', tfSeed(seed));
}

/** PyTorch's default Linear initialisation: uniform in ±1/sqrt(fanIn). */
export function linearUniform(shape: number[], fanIn: number, seed: number): tf.Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return tf.randomUniform(shape, -bound, bound, 'float32', tfSeed(seed));
}

/** A deterministic stream of seeds, so that a model's weights depend only on the run's seed. */
export class SeedSequence {
  private next: number;

  constructor(seed: number) {
    this.next = seed >>> 0;
  }

  take(): number {
    // A 32-bit LCG step is enough here: the seeds only need to differ, not to be random.
    this.next = (Math.imul(this.next, 1664525) + 1013904223) >>> 0;
    return this.next;
  }
}
