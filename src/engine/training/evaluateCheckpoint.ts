import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { ResolvedConfig } from '../../shared/config/experiment/definitions';
import { type RunDirectory, RunDirectoryError } from '../../shared/runFolder/runDirectory';
import {
  isCheckpointName,
  type LoadedCheckpoint,
  loadCheckpoint,
  loadLatestCheckpoint,
  restoreVariables,
} from '../checkpoint';
import { loadSplits, type SplitLog } from '../data/splits';
import { createMethodFor } from '../methods/registry';
import { tf } from '../tf';
import { type EvaluationResult, evaluate } from './evaluate';

export interface CheckpointEvaluation {
  checkpoint: string;
  epoch: number;
  result: EvaluationResult;
}

/**
 * Evaluates a run's saved encoder (the latest checkpoint, or a named one) as training would have at that
 * epoch, with `config.eval` deciding what is measured. Reads the run folder and writes nothing to it.
 */
export async function evaluateCheckpoint(
  config: ResolvedConfig,
  run: RunDirectory,
  options: { checkpoint?: string; cacheFolder: string },
  log: SplitLog,
): Promise<CheckpointEvaluation> {
  const checkpointsDir = run.file('checkpoints');
  const loaded = await readCheckpoint(checkpointsDir, options.checkpoint);
  const method = createMethodFor(config);
  try {
    try {
      restoreVariables(method.state(), loaded.tensors);
    } finally {
      tf.dispose([...loaded.tensors.values()]);
    }
    const splits = await loadSplits(config.data, options.cacheFolder, log);
    log('info', `evaluating ${loaded.name} (epoch ${loaded.manifest.epoch})`);
    const result = evaluate(method.encoder, splits.train, splits.test, {
      imageSize: config.data.imageSize,
      batchSize: config.train.batchSize,
      seed: config.seed,
      ...config.eval,
    });
    return { checkpoint: loaded.name, epoch: loaded.manifest.epoch, result };
  } finally {
    method.dispose();
  }
}

async function readCheckpoint(dir: string, name: string | undefined): Promise<LoadedCheckpoint> {
  if (name !== undefined) {
    // A name from the command line must not reach outside the run's checkpoints.
    if (!isCheckpointName(name) || !(await stat(path.join(dir, name)).catch(() => undefined))) {
      throw new RunDirectoryError(`${dir} has no checkpoint ${name}`);
    }
    return loadCheckpoint(dir, name);
  }
  const latest = await loadLatestCheckpoint(dir);
  if (!latest) {
    throw new RunDirectoryError(
      `${dir} has no checkpoint yet (one is saved every checkpoint.everyEpochs epochs and at the end)`,
    );
  }
  return latest;
}
