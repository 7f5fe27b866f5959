import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { type InputNorm, inputNormOf, weightsFilePattern } from '../../shared/config/experiment/choices';
import type { ResolvedConfig } from '../../shared/config/experiment/definitions';
import { parseExperimentConfig } from '../../shared/config/experiment/parse';
import { checkpointFileNames, RunDirectoryError, runFileNames } from '../../shared/runFolder/runDirectory';
import { chooseCheckpoint, loadCheckpoint } from '../checkpoint';
import { buildEncoder, type EncoderSpec } from '../models/registry';
import { readAndDispose } from '../tf';
import { cachedDownload, cachedWeightsFile, type DownloadProgress, isWeightsUrl } from './download';
import {
  type ExportedTensors,
  type ImportedTensor,
  throwIfMisfit,
  WeightsFileError,
} from './importedTensors';
import { readSafetensorsFile } from './safetensorsFile';
import { readTorchFile } from './torchFile';
import {
  type MatchedWeights,
  matchTorchvisionResNet,
  type ParameterSlot,
  torchvisionStateDict,
} from './torchvisionResNet';

/**
 * The weights an encoder starts from instead of random ones (`model.init`), by the encoder's own parameter
 * names (`layer2.0.conv1.conv.weight`), in SynthPair's layout: every network of a method that holds an
 * encoder (MoCo's key encoder, BYOL's target) starts from them.
 */
export interface InitialEncoder {
  /** The file or folder they were read from, absolute. */
  source: string;
  values: Map<string, Float32Array>;
  /** What the source held that the encoder has no place for, and why: for the log, so nothing goes unsaid. */
  setAside: MatchedWeights['setAside'];
}

/** Where the parameters of the encoder {@link buildEncoder} makes are named from. */
const slotPrefix = 'encoder';

/** The online encoder of a SynthPair checkpoint: its branch's prefix, less the heads on top of the encoder. */
const runEncoderPrefix = 'online';
const runHeads = ['projector', 'predictor'];

/**
 * Reads `source` (absolute) and fits it to the encoder `spec` builds, strictly: a torchvision-layout PyTorch
 * file (`.pth`, `.pt`) or `.safetensors` file, or a SynthPair run folder (its latest checkpoint) or one of its
 * checkpoints. Anything that cannot be read or does not fit is a {@link WeightsFileError} naming the source,
 * and the tensor with both shapes where one differs.
 */
export async function readInitialEncoder(source: string, spec: EncoderSpec): Promise<InitialEncoder> {
  const slots = encoderSlots(spec);
  const kind = await stat(source).catch((error: NodeJS.ErrnoException) => {
    throw new WeightsFileError(
      error.code === 'ENOENT'
        ? `${source}: no such file or folder`
        : `${source}: cannot be read (${error.code ?? error.message})`,
    );
  });
  const matched = kind.isDirectory()
    ? matchRunEncoder(source, await readRunEncoder(source), slots)
    : matchTorchvisionResNet(source, await readWeightsFile(source, spec), slots, slotPrefix);
  const values = new Map<string, Float32Array>();
  for (const [name, value] of matched.values) values.set(name.slice(slotPrefix.length + 1), value);
  return { source, values, setAside: matched.setAside };
}

/** `model.init` (absolute, as a resolved config holds it) fitted to the encoder the rest of `model` builds. */
export async function readInitialEncoderOf(
  model: ResolvedConfig['model'],
  onDownload?: (progress: DownloadProgress) => void,
): Promise<InitialEncoder> {
  const { arch, width, stem, padding, init } = model;
  const source = isWeightsUrl(init)
    ? await cachedDownload(init, onDownload ? { onProgress: onDownload } : {})
    : init;
  return readInitialEncoder(source, { arch, width, stem, padding });
}

/**
 * The online encoder of one of a run's checkpoints (its folder, absolute) in torchvision's ResNet layout and
 * names ({@link torchvisionStateDict}), for PyTorch to load: the inverse of starting a run from a torchvision
 * file. `spec` is the run's model; a SmallCNN has no torchvision counterpart and is refused.
 */
export async function torchvisionEncoderOf(
  checkpointFolder: string,
  spec: EncoderSpec,
  batchesTracked: bigint,
): Promise<ExportedTensors> {
  if (spec.arch === 'smallcnn') {
    throw new WeightsFileError(
      `${checkpointFolder}: its model.arch is "smallcnn", which torchvision has no network for; only a ResNet (resnet18, resnet50) is written in torchvision's layout`,
    );
  }
  const slots = encoderSlots(spec);
  const matched = matchRunEncoder(checkpointFolder, await readRunEncoder(checkpointFolder), slots);
  return torchvisionStateDict(slots, matched.values, batchesTracked, slotPrefix);
}

/**
 * Whether `model.init` fits the model, remembered per version of the source and per model: the editor asks on
 * every edit, and reading a ResNet-50's weights takes a second.
 */
export class InitialWeightsCheck {
  private readonly answers = new Map<string, Promise<string | undefined>>();

  /** Why the weights cannot start this model, or undefined when they can. */
  async problemOf(model: ResolvedConfig['model']): Promise<string | undefined> {
    // An address not downloaded yet is fetched when a run starts, not while the file is edited.
    const local = isWeightsUrl(model.init) ? cachedWeightsFile(model.init) : model.init;
    if (isWeightsUrl(model.init) && !(await stat(local).catch(() => undefined))) return undefined;
    // Only what decides the fit: an edit of the heads or the normalisation does not read the weights again.
    const { arch, width, stem, init } = model;
    const key = JSON.stringify([arch, width, stem, init, await versionOf(local)]);
    let answer = this.answers.get(key);
    if (!answer) {
      answer = readInitialEncoderOf(model).then(
        () => undefined,
        (error: unknown) => {
          if (error instanceof WeightsFileError) return error.message;
          throw error;
        },
      );
      // The newest few: the user goes back and forth between a handful of files and widths.
      if (this.answers.size >= 8) this.answers.delete(this.answers.keys().next().value!);
      this.answers.set(key, answer);
    }
    return answer;
  }
}

/** What changes when the weights at `source` change: the file, or a run's pointer to its latest checkpoint. */
async function versionOf(source: string): Promise<string> {
  const version = async (file: string) => {
    const info = await stat(file).catch(() => undefined);
    return info ? `${info.size}@${info.mtimeMs}` : 'absent';
  };
  return `${await version(source)} ${await version(path.join(source, 'checkpoints', checkpointFileNames.latest))}`;
}

/**
 * What `model.inputNorm: auto` means for a new run: ImageNet's for a weights file, the normalisation the run
 * (or the run of the checkpoint) that `model.init` names was trained with, none without `model.init`.
 */
export async function decideInputNorm(model: ResolvedConfig['model']): Promise<InputNorm> {
  if (model.inputNorm !== 'auto' || model.init === '' || weightsFilePattern.test(model.init)) {
    return inputNormOf(model);
  }
  for (const runDir of [model.init, path.dirname(path.dirname(model.init))]) {
    const text = await readFile(path.join(runDir, runFileNames.config), 'utf8').catch(() => undefined);
    const saved = text === undefined ? undefined : parseExperimentConfig(text).config;
    if (saved) return inputNormOf(saved.model);
  }
  throw new WeightsFileError(
    `${model.init}: no SynthPair run's config.json beside it tells how its encoder normalised images; set model.inputNorm`,
  );
}

/** The names and shapes of the parameters of the encoder `spec` builds. */
function encoderSlots(spec: EncoderSpec): ParameterSlot[] {
  const { parameters } = buildEncoder(spec, 0, slotPrefix);
  try {
    return parameters.all().map(([name, variable]) => ({ name, shape: variable.shape }));
  } finally {
    parameters.dispose();
  }
}

async function readWeightsFile(file: string, spec: EncoderSpec) {
  if (spec.arch === 'smallcnn') {
    throw new WeightsFileError(
      `${file}: weights in torchvision's layout fit a ResNet, and model.arch is "smallcnn"; choose "resnet18" or "resnet50" as the file was trained`,
    );
  }
  const bytes = await readFile(file);
  const extension = path.extname(file).toLowerCase();
  if (extension === '.safetensors') return readSafetensorsFile(file, bytes);
  if (extension === '.pth' || extension === '.pt') return readTorchFile(file, bytes);
  throw new WeightsFileError(
    `${file}: not a weights file SynthPair reads: name a .pth or .pt file (torch.save), a .safetensors file, or a SynthPair run or checkpoint folder`,
  );
}

/** The tensors of a run's latest checkpoint, or of one checkpoint folder, as they were saved. */
async function readRunEncoder(folder: string): Promise<Map<string, ImportedTensor>> {
  const checkpoints = path.join(folder, 'checkpoints');
  const isRun = (await stat(checkpoints).catch(() => undefined))?.isDirectory() ?? false;
  const isCheckpoint =
    !isRun &&
    ((await stat(path.join(folder, checkpointFileNames.manifest)).catch(() => undefined))?.isFile() ?? false);
  if (!isRun && !isCheckpoint) {
    throw new WeightsFileError(
      `${folder}: a folder, but neither a SynthPair run (it has no checkpoints/) nor one of its checkpoints (it has no ${checkpointFileNames.manifest})`,
    );
  }
  try {
    let loaded: Awaited<ReturnType<typeof loadCheckpoint>>;
    if (isRun) {
      const choice = await chooseCheckpoint(checkpoints);
      if (!choice) throw new WeightsFileError(`${folder}: a SynthPair run without a checkpoint yet`);
      loaded = await loadCheckpoint(checkpoints, choice.name);
    } else {
      loaded = await loadCheckpoint(path.dirname(folder), path.basename(folder));
    }
    const tensors = new Map<string, ImportedTensor>();
    for (const [name, tensor] of loaded.tensors) {
      tensors.set(name, { shape: tensor.shape, storedAs: 'float32', values: await readAndDispose(tensor) });
    }
    return tensors;
  } catch (error) {
    throw error instanceof RunDirectoryError ? new WeightsFileError(error.message) : error;
  }
}

/**
 * Fits the online encoder of a SynthPair checkpoint to `slots`: the same architecture, width and stem give
 * the same names and shapes. The heads, the other networks and the optimiser's state are not an encoder's.
 */
function matchRunEncoder(
  folder: string,
  tensors: Map<string, ImportedTensor>,
  slots: readonly ParameterSlot[],
): MatchedWeights {
  const values = new Map<string, Float32Array>();
  const problems: string[] = [];
  const encoderNames = [...tensors.keys()].filter(
    (name) =>
      name.startsWith(`${runEncoderPrefix}.`) &&
      !runHeads.some((head) => name.startsWith(`${runEncoderPrefix}.${head}.`)),
  );
  const slotNames = new Set(slots.map((slot) => slot.name));
  for (const name of encoderNames) {
    const local = name.slice(runEncoderPrefix.length + 1);
    if (!slotNames.has(`${slotPrefix}.${local}`)) {
      problems.push(`its encoder has ${local} (${tensors.get(name)!.shape.join('×')}), this model has not`);
    }
  }
  for (const slot of slots) {
    const local = slot.name.slice(slotPrefix.length + 1);
    const saved = tensors.get(`${runEncoderPrefix}.${local}`);
    if (!saved) {
      problems.push(`this model has ${local} (${slot.shape.join('×')}), its encoder has not`);
    } else if (saved.shape.join('×') !== slot.shape.join('×')) {
      problems.push(`${local} is ${saved.shape.join('×')} there but ${slot.shape.join('×')} in this model`);
    } else {
      values.set(slot.name, saved.values);
    }
  }
  throwIfMisfit(
    `${folder}: its encoder does not fit the model (were model.arch, model.width or model.stem changed?)`,
    problems,
  );
  return {
    values,
    setAside: [
      {
        name: "its heads, its other networks and its optimiser's state",
        reason: 'a new run starts them anew',
      },
    ],
  };
}
