import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import * as z from 'zod/mini';
import '../shared/protocol/zodLocale';
import { type BestCheckpointPointer, bestCheckpointPointer } from '../shared/protocol/runFiles';
import { validateMessage } from '../shared/protocol/validate';
import {
  replaceFolderAtomically,
  writeJsonAtomically,
  writeStagedFile,
} from '../shared/runFolder/atomicFiles';
import { checkpointFileNames, epochFolderName, RunDirectoryError } from '../shared/runFolder/runDirectory';
import { tf } from './tf';

const tensorEntry = z.object({
  name: z.string(),
  shape: z.array(z.int().check(z.nonnegative())),
  dtype: z.enum(['float32', 'int32']),
  /** Position and length in weights.bin, in elements of 4 bytes. */
  offset: z.int().check(z.nonnegative()),
  length: z.int().check(z.nonnegative()),
});

const epochProgressSchema = z.object({
  /** Steps of the epoch after `epoch` already trained: a resume skips that many of its batches. */
  steps: z.int().check(z.nonnegative()),
  /** Each loss term summed over those steps, in the order they were added, so the epoch's mean comes out the same. */
  lossSums: z.record(z.string(), z.number()),
});
/** How far a stopped run got into the epoch it was training. */
export type EpochProgress = z.infer<typeof epochProgressSchema>;

const manifestSchema = z.object({
  format: z.literal(1),
  /** Epochs finished. */
  epoch: z.int().check(z.nonnegative()),
  /** Optimiser steps taken since the run began. */
  step: z.int().check(z.nonnegative()),
  /** Whatever else the trainer needs to continue exactly: RNG streams, queue position, ... */
  state: z.record(z.string(), z.unknown()),
  /** Only on a stop checkpoint, saved when the run was asked to stop, wherever in an epoch that was. */
  epochProgress: z.optional(epochProgressSchema),
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
 * Writes a checkpoint as `<dir>/<name>/{manifest.json, weights.bin}`: `epoch-0003` after an epoch, or
 * {@link stopCheckpointName} when `contents.epochProgress` says where in an epoch a stopped run got to. The
 * folder is assembled under a temporary name and renamed into place, and only then does `latest.json` point
 * at it: a run killed at any moment leaves the previous checkpoint as the latest complete one.
 */
export async function saveCheckpoint(
  dir: string,
  contents: {
    epoch: number;
    step: number;
    state: Record<string, unknown>;
    epochProgress?: EpochProgress;
    tensors: NamedTensor[];
  },
  options: {
    /** Epoch checkpoints kept; a stop checkpoint neither counts nor outlives the next checkpoint saved. */
    keep: number;
    /** Makes this checkpoint the best one, chosen by this validation figure, before older ones are pruned. */
    best?: Pick<BestCheckpointPointer, 'by' | 'value'>;
  },
): Promise<string> {
  const name = contents.epochProgress
    ? stopCheckpointName(contents.epoch, contents.step)
    : epochFolderName(contents.epoch);
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
    ...(contents.epochProgress ? { epochProgress: contents.epochProgress } : {}),
    tensors: entries,
  };
  await replaceFolderAtomically(dir, name, async (staging) => {
    await writeStagedFile(path.join(staging, checkpointFileNames.weights), Buffer.concat(chunks));
    await writeStagedFile(
      path.join(staging, checkpointFileNames.manifest),
      `${JSON.stringify(manifest, null, 2)}\n`,
    );
  });
  await pointLatestAt(dir, name);
  if (options.best) await pointBestAt(dir, { checkpoint: name, epoch: contents.epoch, ...options.best });
  await pruneCheckpoints(dir, name, options.keep);
  return name;
}

/** Makes `name` the checkpoint a resume, and every reader of the run, continues from. */
export async function pointLatestAt(dir: string, name: string): Promise<void> {
  await writeJsonAtomically(path.join(dir, checkpointFileNames.latest), { checkpoint: name });
}

/**
 * Keeps the newest `keep` epoch checkpoints, always including the one just written and the best one by
 * validation; deletes every stop checkpoint but the one just written, as the newer checkpoint supersedes it
 * as the resume point; and clears abandoned staging.
 */
async function pruneCheckpoints(dir: string, latest: string, keep: number): Promise<void> {
  const names = (await readdir(dir)).sort();
  const best = (await readBestPointer(dir).catch(() => undefined))?.checkpoint;
  const epochCheckpoints = names.filter(isEpochCheckpointName);
  const doomed = [
    ...epochCheckpoints
      .filter((entry) => entry !== latest)
      .slice(0, Math.max(0, epochCheckpoints.length - Math.max(1, keep)))
      .filter((entry) => entry !== best),
    ...names.filter((entry) => isStopCheckpointName(entry) && entry !== latest),
  ];
  const abandoned = names.filter(
    (entry) => entry.startsWith('.staging-') && !entry.endsWith(`-${process.pid}`),
  );
  await Promise.all(
    [...doomed, ...abandoned].map((entry) => rm(path.join(dir, entry), { recursive: true, force: true })),
  );
}

/** Records `pointer` as the best checkpoint by validation: pruning keeps it, and `--checkpoint best` opens it. */
export async function pointBestAt(dir: string, pointer: BestCheckpointPointer): Promise<void> {
  await writeJsonAtomically(path.join(dir, checkpointFileNames.best), pointer);
}

/** What `best.json` holds, or undefined without one; throws when it is unreadable or names no checkpoint folder. */
export async function readBestPointer(dir: string): Promise<BestCheckpointPointer | undefined> {
  const file = path.join(dir, checkpointFileNames.best);
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw new RunDirectoryError(`${file} cannot be read (${error.code ?? error.message})`);
  });
  if (text === undefined) return undefined;
  const pointer = validateMessage(bestCheckpointPointer, parseJson(file, text));
  if (!pointer.ok || !isCheckpointName(pointer.value.checkpoint)) {
    throw new RunDirectoryError(
      `${file} is not a best-checkpoint pointer: ${pointer.ok ? `${pointer.value.checkpoint} is no checkpoint folder` : pointer.reason}`,
    );
  }
  return pointer.value;
}

/** The checkpoint a run continues from, and why it is not the one `latest.json` names, when it is not. */
export interface CheckpointChoice {
  name: string;
  manifest: CheckpointManifest;
  /** Set when `latest.json` was missing, damaged or named a damaged checkpoint. */
  fallback?: string;
}

/**
 * `epoch-0003-step-000070`: the checkpoint of a run stopped at step 70, after 3 epochs and whatever it had
 * trained of the fourth. It sorts after `epoch-0003` and before `epoch-0004`, so a plain sort stays chronological.
 */
export function stopCheckpointName(epoch: number, step: number): string {
  return `${epochFolderName(epoch)}-step-${String(step).padStart(6, '0')}`;
}

function isEpochCheckpointName(name: string): boolean {
  return /^epoch-\d{4,}$/.test(name);
}

function isStopCheckpointName(name: string): boolean {
  return /^epoch-\d{4,}-step-\d{6,}$/.test(name);
}

/**
 * Whether `name` is a checkpoint folder's name (`epoch-0003`, or a stop checkpoint's `epoch-0003-step-000070`),
 * and so stays inside `checkpoints/`.
 */
export function isCheckpointName(name: string): boolean {
  return isEpochCheckpointName(name) || isStopCheckpointName(name);
}

/**
 * The checkpoint `latest.json` names when it is intact, else the newest intact one (saying why), else
 * undefined when the run has none at all. A checkpoint is intact when its manifest is valid and its
 * weights file is as long as the manifest says; the pointer may only name a checkpoint folder of this run.
 * Throws a {@link RunDirectoryError} naming every damaged file when checkpoints exist but none is intact.
 */
export async function chooseCheckpoint(dir: string): Promise<CheckpointChoice | undefined> {
  const problems: string[] = [];
  const pointed = await readPointer(dir).catch((error: Error) => {
    problems.push(error.message);
    return undefined;
  });
  const folders = (await readdir(dir).catch(() => [] as string[]))
    .filter((entry) => isCheckpointName(entry))
    .sort()
    .reverse();
  const candidates =
    pointed === undefined ? folders : [pointed, ...folders.filter((name) => name !== pointed)];
  for (const name of candidates) {
    const manifest = await readIntactManifest(dir, name).catch((error: Error) => {
      problems.push(error.message);
      return undefined;
    });
    if (!manifest) continue;
    if (name === pointed) return { name, manifest };
    const why =
      problems.length > 0 ? problems.join('; ') : `${path.join(dir, checkpointFileNames.latest)} is missing`;
    return { name, manifest, fallback: `${why}; continuing from ${name}, the newest intact checkpoint` };
  }
  if (problems.length === 0) return undefined;
  throw new RunDirectoryError(`${dir} holds no intact checkpoint: ${problems.join('; ')}`);
}

/** The name `latest.json` holds, or undefined without one; throws when it is unreadable or points elsewhere. */
async function readPointer(dir: string): Promise<string | undefined> {
  const file = path.join(dir, checkpointFileNames.latest);
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw new RunDirectoryError(`${file} cannot be read (${error.code ?? error.message})`);
  });
  if (text === undefined) return undefined;
  const latest = validateMessage(latestSchema, parseJson(file, text));
  if (!latest.ok) {
    throw new RunDirectoryError(`${file} is not a checkpoint pointer: ${latest.reason}`);
  }
  if (!isCheckpointName(latest.value.checkpoint)) {
    throw new RunDirectoryError(
      `${file} names ${JSON.stringify(latest.value.checkpoint)}, which is not a checkpoint folder of this run`,
    );
  }
  return latest.value.checkpoint;
}

async function readIntactManifest(dir: string, name: string): Promise<CheckpointManifest> {
  const manifest = await readCheckpointManifest(dir, name);
  const weights = path.join(dir, name, checkpointFileNames.weights);
  const size = (await stat(weights).catch(() => undefined))?.size;
  if (size === undefined) throw new RunDirectoryError(`${weights} is missing`);
  checkWeightsLength(weights, size, manifest);
  return manifest;
}

function checkWeightsLength(file: string, bytes: number, manifest: CheckpointManifest): void {
  const total = manifest.tensors.reduce((sum, entry) => sum + entry.length, 0);
  if (bytes !== total * 4) {
    throw new RunDirectoryError(`${file} holds ${bytes} bytes, the manifest describes ${total * 4}`);
  }
}

function parseJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new RunDirectoryError(`${file} is not JSON (${(error as Error).message})`);
  }
}

/** The checkpoint a run continues from ({@link chooseCheckpoint}), loaded; undefined when it has none yet. */
export async function loadLatestCheckpoint(
  dir: string,
): Promise<(LoadedCheckpoint & Pick<CheckpointChoice, 'fallback'>) | undefined> {
  const choice = await chooseCheckpoint(dir);
  if (!choice) return undefined;
  const loaded = await loadCheckpoint(dir, choice.name);
  return choice.fallback === undefined ? loaded : { ...loaded, fallback: choice.fallback };
}

/** A checkpoint's manifest alone: its epoch and tensor table, without reading the weights. */
export async function readCheckpointManifest(dir: string, name: string): Promise<CheckpointManifest> {
  const file = path.join(dir, name, checkpointFileNames.manifest);
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new RunDirectoryError(
      error.code === 'ENOENT'
        ? `${file} is missing`
        : `${file} cannot be read (${error.code ?? error.message})`,
    );
  });
  const manifest = validateMessage(manifestSchema, parseJson(file, text));
  if (!manifest.ok) {
    throw new RunDirectoryError(`${file} is not a SynthPair checkpoint: ${manifest.reason}`);
  }
  return manifest.value;
}

export async function loadCheckpoint(dir: string, name: string): Promise<LoadedCheckpoint> {
  const folder = path.join(dir, name);
  const manifest = await readCheckpointManifest(dir, name);
  const weights = path.join(folder, checkpointFileNames.weights);
  const bytes = await readFile(weights);
  checkWeightsLength(weights, bytes.byteLength, manifest);
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
