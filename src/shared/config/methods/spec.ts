import type { TrainingLoop } from '../experiment/definitions';
import type { GroupKey, KeyDefinition, Resolved } from '../experiment/keys';

/** A setting a method cannot train with, found by weighing its options against the rest of the experiment. */
export interface MethodProblem {
  /** The option at fault, within the method's block. */
  key: string;
  message: string;
  /** The other key of the rule: where the problem is shown when `key` keeps its default and is not written. */
  otherKey: string;
}

/**
 * What the experiment file, its schema and docs, and the trainer know of an SSL method without running it:
 * the implementation, with its networks and loss, is the engine's (src/engine/methods), which the extension
 * host cannot load. The method's name is its key in the registry.
 */
export interface MethodSpec<Keys extends Record<string, KeyDefinition> = Record<string, KeyDefinition>> {
  /** What `ssl.method` says of this value: the paper, then the loss. */
  description: string;
  /** The block `ssl.<name>`, which applies only when `ssl.method` selects the method. */
  options: GroupKey<Keys>;
  /** Whether the method puts the predictor `model.predictor` describes on its online branch. */
  usesPredictor: boolean;
  /** Settings it cannot train with that the range of a single key cannot rule out. */
  problems?(options: Resolved<GroupKey<Keys>>, training: TrainingLoop): MethodProblem[];
  /**
   * Scopes of its parameters (`predictor` for `<branch>.predictor.…`) whose learning rate stays at the scaled
   * base value while the others follow the schedule.
   */
  fixedRateScopes?(options: Resolved<GroupKey<Keys>>): readonly string[];
}

/** Types a spec's option block from its keys, so its checks and its implementation read the options typed. */
export const methodSpec = <const Keys extends Record<string, KeyDefinition>>(
  spec: MethodSpec<Keys>,
): MethodSpec<Keys> => spec;
