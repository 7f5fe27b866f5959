import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { ResolvedConfig } from '../../shared/config/experiment/definitions';
import { type RunDirectory, RunDirectoryError } from '../../shared/runFolder/runDirectory';
import {
  type CheckpointManifest,
  chooseCheckpoint,
  isCheckpointName,
  loadCheckpoint,
  readBestPointer,
  readCheckpointManifest,
  restoreVariables,
} from '../checkpoint';
import type { SslMethod } from '../methods/method';
import { createMethodFor } from '../methods/registry';
import { tf } from '../tf';

/** The method `config` builds, every variable as a run's checkpoint (the latest, or `name`) saved it; the caller disposes it. */
export async function restoreCheckpoint(
  config: ResolvedConfig,
  run: RunDirectory,
  name: string | undefined,
): Promise<{ method: SslMethod; checkpoint: string; epoch: number }> {
  const checkpointsDir = run.file('checkpoints');
  const chosen = await chooseRunCheckpoint(checkpointsDir, name);
  const method = await methodFromCheckpoint(config, checkpointsDir, chosen.name);
  return { method, checkpoint: chosen.name, epoch: chosen.manifest.epoch };
}

/** The method `config` builds with every variable as checkpoint `name` of `dir` saved it; the caller disposes it. */
export async function methodFromCheckpoint(
  config: ResolvedConfig,
  dir: string,
  name: string,
): Promise<SslMethod> {
  const loaded = await loadCheckpoint(dir, name);
  const method = createMethodFor(config);
  try {
    restoreVariables(method.state(), loaded.tensors);
  } catch (error) {
    method.dispose();
    throw error;
  } finally {
    tf.dispose([...loaded.tensors.values()]);
  }
  return method;
}

/** The name by which commands open the checkpoint validation chose. */
export const bestCheckpointName = 'best';

/**
 * The checkpoint a command names (`epoch-0003`, or `best`: the one validation chose), or else the run's latest, without reading its weights; a
 * {@link RunDirectoryError} naming the folder when there is none.
 */
export async function chooseRunCheckpoint(
  dir: string,
  name: string | undefined,
): Promise<{ name: string; manifest: CheckpointManifest }> {
  if (name === bestCheckpointName) {
    const best = await readBestPointer(dir);
    if (!best) {
      throw new RunDirectoryError(
        `${dir} has no best checkpoint: the run chose none (data.validation.fraction is 0, or no validation has run yet)`,
      );
    }
    return chooseRunCheckpoint(dir, best.checkpoint);
  }
  if (name !== undefined) {
    // A name from the command line must not reach outside the run's checkpoints.
    if (!isCheckpointName(name) || !(await stat(path.join(dir, name)).catch(() => undefined))) {
      throw new RunDirectoryError(`${dir} has no checkpoint ${name}`);
    }
    return { name, manifest: await readCheckpointManifest(dir, name) };
  }
  const latest = await chooseCheckpoint(dir);
  if (!latest) {
    throw new RunDirectoryError(
      `${dir} has no checkpoint yet (one is saved every checkpoint.everyEpochs epochs and at the end)`,
    );
  }
  return latest;
}
