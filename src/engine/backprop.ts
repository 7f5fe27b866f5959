// TF.js's engine.gradients as TF.js 4.22 writes it, with one change: the backward pass lets go of what it has
// finished with. TF.js keeps every tensor a kernel saved for its gradient and every intermediate gradient until
// the whole backward pass returns, so a step's memory peaks at the end of the backward pass with all
// activations and all their gradients alive: twice what PyTorch holds, which frees each node's saved tensors
// and output gradients as soon as its backward has run. Here each node's output gradients are disposed once
// its input gradients exist, and its saved tensors with them when no higher-order gradient is being taken.
import * as tf from '@tensorflow/tfjs-core';
import { getFilteredNodesXToY, type TapeNode } from '@tensorflow/tfjs-core/dist/tape';

/** The parts of TF.js's Engine that engine.gradients uses; they are private in its typings only. */
interface EngineInternals {
  state: { activeTape: TapeNode[] | null; gradientDepth: number };
  startTape(): void;
  endTape(): void;
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  tidy<T extends tf.TensorContainer>(nameOrFn: string | (() => T), fn?: () => T): T;
  gradients<T extends tf.Tensor>(
    f: () => T,
    xs: tf.Tensor[],
    dy?: T,
    allowNoGradients?: boolean,
  ): { value: T; grads: tf.Tensor[] };
}

/**
 * Walks the tape backward as TF.js's backpropagateGradients does. When `freeing`, a node's output gradients
 * (other than those the caller reads: y's seed and the xs') are disposed once its inputs' gradients are
 * accumulated, and its saved tensors too: nothing later in the walk reads either.
 */
function backpropagate(
  engine: EngineInternals,
  gradientOf: Map<number, tf.Tensor>,
  tape: TapeNode[],
  kept: ReadonlySet<number>,
  freeing: boolean,
): void {
  for (let index = tape.length - 1; index >= 0; index--) {
    const node = tape[index]!;
    // An output outside the back-propagation subgraph does not affect y: its dy is null.
    const dys = node.outputs.map((output) => gradientOf.get(output.id) ?? null) as tf.Tensor[];
    if (node.gradient == null) {
      throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
    }
    const inputGradients = node.gradient(dys);
    const produced = new Set<tf.Tensor>();
    for (const inputName in node.inputs) {
      if (!(inputName in inputGradients)) {
        throw new Error(
          `Cannot backprop through input ${inputName}. Available gradients found: ${Object.keys(inputGradients)}.`,
        );
      }
      const dx = engine.tidy(() => inputGradients[inputName]!());
      if (dx.dtype !== 'float32') {
        throw new Error(
          `Error in gradient for op ${node.kernelName}. The gradient of input ${inputName} must have 'float32' dtype, but has '${dx.dtype}'`,
        );
      }
      const x = node.inputs[inputName]!;
      if (!tf.util.arraysEqual(dx.shape, x.shape)) {
        throw new Error(
          `Error in gradient for op ${node.kernelName}. The gradient of input '${inputName}' has shape '${dx.shape}', which does not match the shape of the input '${x.shape}'`,
        );
      }
      const current = gradientOf.get(x.id);
      if (current === undefined) {
        gradientOf.set(x.id, dx);
        produced.add(dx);
      } else {
        const sum = tf.add(current, dx);
        gradientOf.set(x.id, sum);
        produced.add(sum);
        current.dispose();
      }
    }
    if (!freeing) continue;
    node.outputs.forEach((output, outputIndex) => {
      const dy = dys[outputIndex];
      // A gradient function may hand dy on as an input's gradient (the same tensor): it lives on there.
      if (dy == null || kept.has(output.id) || produced.has(dy)) return;
      dy.dispose();
      gradientOf.delete(output.id);
    });
    for (const tensor of node.saved ?? []) tensor.dispose();
  }
}

function freeingGradients(this: EngineInternals, ...args: Parameters<EngineInternals['gradients']>) {
  const [f, xs, dy, allowNoGradients = false] = args;
  tf.util.assert(xs.length > 0, () => 'gradients() received an empty list of xs.');
  if (dy != null && dy.dtype !== 'float32') {
    throw new Error(`dy must have 'float32' dtype, but has '${dy.dtype}'`);
  }
  const y = this.scopedRun(
    () => this.startTape(),
    () => this.endTape(),
    () => this.tidy('forward', f),
  );
  tf.util.assert(y instanceof tf.Tensor, () => 'The result y returned by f() must be a tensor.');
  const tape = getFilteredNodesXToY(this.state.activeTape!, xs, y);
  if (!allowNoGradients && tape.length === 0 && xs.length > 0) {
    throw new Error(
      'Cannot compute gradient of y=f(x) with respect to x. Make sure that the f you passed encloses all operations that lead from x to y.',
    );
  }
  return this.tidy('backward', () => {
    const gradientOf = new Map<number, tf.Tensor>([[y.id, dy == null ? tf.onesLike(y) : dy]]);
    // Higher-order gradients record this pass on an outer tape, whose nodes may still need what it made.
    const freeing = this.state.gradientDepth === 0;
    if (freeing) {
      // What nodes off the path from the xs to y saved is never read: a momentum encoder's pass, say.
      const walked = new Set(tape.map((node) => node.id));
      for (const node of this.state.activeTape!) {
        if (!walked.has(node.id)) for (const tensor of node.saved ?? []) tensor.dispose();
      }
    }
    backpropagate(this, gradientOf, tape, new Set([y.id, ...xs.map((x) => x.id)]), freeing);
    const grads = xs.map((x) => gradientOf.get(x.id)!);
    if (freeing) {
      for (const node of this.state.activeTape!) for (const tensor of node.saved ?? []) tensor.dispose();
      this.state.activeTape = null;
    }
    return { value: y, grads };
  });
}

let installed = false;

/** Puts the freeing backward pass in place of the engine's, once per process. */
export function installFreeingBackprop(): void {
  if (installed) return;
  (tf.engine() as unknown as EngineInternals).gradients = freeingGradients as EngineInternals['gradients'];
  installed = true;
}
