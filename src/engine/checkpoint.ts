import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as z from 'zod/mini';
import '../shared/protocol/zodLocale';
import { validateMessage } from '../shared/protocol/validate';
import { replaceFolderAtomically, writeJsonAtomically } from '../shared/runFolder/atomicFiles';
import { checkpointFileNames, epochFolderName } from '../shared/runFolder/runDirectory';
import { tf } from './tf';

const tensorEntry = z.object({
  name: z.string(),
  shape: z.array(z.int().check(z.nonnegative())),
  dtype: z.enum(['float32', 'int32']),
  /** Position and length in weights.bin, in elements of 4 bytes. */
  offset: z.int().check(z.nonnegative()),
  length: z.int().check(z.nonnegative()),
});

const manifestSchema = z.object({
  format: z.literal(1),
  epoch: z.int().check(z.nonnegative()),
  step: z.int().check(z.nonnegative()),
  /** Whatever else the trainer needs to continue exactly: RNG streams, queue position, ... */
  state: z.record(z.string(), z.unknown()),
  tensors: z.array(tensorEntry),
});
export type CheckpointManifest = z.infer<typeof manifestSchema>;

const latestSchema = z.object({ checkpoint: z.string() });

export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

export interface LoadedCheckpoint {
  name: string;
  manifest: CheckpointManifest;
  /** Tensors by name; the caller owns and disposes them. */
  tensors: Map<string, tf.Tensor>;
}

/**
 * Writes a checkpoint as `<dir>/<name>/{manifest.json, weights.bin}`. The folder is assembled under a
 * temporary name and renamed into place, and only then does `latest.json` point at it: a run killed at any
 * moment leaves the previous checkpoint as the latest complete one.
 */
export async function saveCheckpoint(
  dir: string,
  contents: { epoch: number; step: number; state: Record<string, unknown>; tensors: NamedTensor[] },
  options: { keep: number },
): Promise<string> {
  const name = epochFolderName(contents.epoch);
  await mkdir(dir, { recursive: true });
  const entries: z.infer<typeof tensorEntry>[] = [];
  const chunks: Buffer[] = [];
  let offset = 0;
  for (const { name: tensorName, tensor } of contents.tensors) {
    if (tensor.dtype !== 'float32' && tensor.dtype !== 'int32') {
      throw new Error(`checkpoint cannot hold ${tensorName} of dtype ${tensor.dtype}`);
    }
    const values = await tensor.data();
    entries.push({
      name: tensorName,
      shape: tensor.shape,
      dtype: tensor.dtype,
      offset,
      length: values.length,
    });
    // tensor.data() hands back a copy of its own, so a view of it is enough.
    chunks.push(Buffer.from(values.buffer, values.byteOffset, values.byteLength));
    offset += values.length;
  }
  const manifest: CheckpointManifest = {
    format: 1,
    epoch: contents.epoch,
    step: contents.step,
    state: contents.state,
    tensors: entries,
  };
  await replaceFolderAtomically(dir, name, async (staging) => {
    await writeFile(path.join(staging, checkpointFileNames.weights), Buffer.concat(chunks));
    await writeFile(
      path.join(staging, checkpointFileNames.manifest),
      `${JSON.stringify(manifest, null, 2)}\n`,
    );
  });
  await writeJsonAtomically(path.join(dir, checkpointFileNames.latest), { checkpoint: name });
  await pruneCheckpoints(dir, name, options.keep);
  return name;
}

/** Keeps the newest `keep` checkpoints, always including the one just written, and clears abandoned staging. */
async function pruneCheckpoints(dir: string, latest: string, keep: number): Promise<void> {
  const names = (await readdir(dir)).sort();
  const complete = names.filter((entry) => /^epoch-\d{4,}$/.test(entry));
  const doomed = complete
    .filter((entry) => entry !== latest)
    .slice(0, Math.max(0, complete.length - Math.max(1, keep)));
  const abandoned = names.filter(
    (entry) => entry.startsWith('.staging-') && !entry.endsWith(`-${process.pid}`),
  );
  await Promise.all(
    [...doomed, ...abandoned].map((entry) => rm(path.join(dir, entry), { recursive: true, force: true })),
  );
}

/** The name `latest.json` points at, or undefined when the run has no checkpoint yet. */
export async function latestCheckpointName(dir: string): Promise<string | undefined> {
  let latestText: string;
  try {
    latestText = await readFile(path.join(dir, checkpointFileNames.latest), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw error;
  }
  const latest = validateMessage(latestSchema, JSON.parse(latestText));
  if (!latest.ok) {
    throw new Error(
      `${path.join(dir, checkpointFileNames.latest)} is not a checkpoint pointer: ${latest.reason}`,
    );
  }
  return latest.value.checkpoint;
}

/** The checkpoint `latest.json` names, or undefined when the run has none yet. */
export async function loadLatestCheckpoint(dir: string): Promise<LoadedCheckpoint | undefined> {
  const name = await latestCheckpointName(dir);
  return name === undefined ? undefined : loadCheckpoint(dir, name);
}

/** A checkpoint's manifest alone: its epoch and tensor table, without reading the weights. */
export async function readCheckpointManifest(dir: string, name: string): Promise<CheckpointManifest> {
  const file = path.join(dir, name, checkpointFileNames.manifest);
  const manifest = validateMessage(manifestSchema, JSON.parse(await readFile(file, 'utf8')));
  if (!manifest.ok) {
    throw new Error(`${file} is not a SynthPair checkpoint: ${manifest.reason}`);
  }
  return manifest.value;
}

export async function loadCheckpoint(dir: string, name: string): Promise<LoadedCheckpoint> {
  const folder = path.join(dir, name);
  const manifest = await readCheckpointManifest(dir, name);
  const bytes = await readFile(path.join(folder, checkpointFileNames.weights));
  const total = manifest.tensors.reduce((sum, entry) => sum + entry.length, 0);
  if (bytes.byteLength !== total * 4) {
    throw new Error(
      `${folder}/weights.bin holds ${bytes.byteLength} bytes, the manifest describes ${total * 4}`,
    );
  }
  // Copy into an aligned buffer: a Buffer from readFile may start at any offset of a shared pool.
  const aligned = new Uint8Array(bytes).buffer;
  const tensors = new Map<string, tf.Tensor>();
  for (const entry of manifest.tensors) {
    const values =
      entry.dtype === 'float32'
        ? new Float32Array(aligned, entry.offset * 4, entry.length)
        : new Int32Array(aligned, entry.offset * 4, entry.length);
    tensors.set(entry.name, tf.tensor(values, entry.shape, entry.dtype));
  }
  return { name, manifest, tensors };
}

/** Copies checkpointed values into live variables, insisting that every variable is found with its shape. */
export function restoreVariables(
  variables: readonly [string, tf.Variable][],
  tensors: Map<string, tf.Tensor>,
): void {
  for (const [name, variable] of variables) {
    const saved = tensors.get(name);
    if (!saved) {
      throw new Error(`the checkpoint has no ${name}: it was written by another model configuration`);
    }
    if (saved.shape.join('×') !== variable.shape.join('×')) {
      throw new Error(
        `${name} has shape ${saved.shape.join('×')} in the checkpoint but ${variable.shape.join('×')} in the model`,
      );
    }
    variable.assign(saved);
  }
}
