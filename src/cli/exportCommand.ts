import { stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { selectBackend } from '../engine/backends/selectBackend';
import { ExperimentInputError, loadSavedConfig } from '../engine/training/experiment';
import { chooseRunCheckpoint } from '../engine/training/runCheckpoint';
import { WeightsFileError } from '../engine/weights/importedTensors';
import { torchvisionEncoderOf } from '../engine/weights/initialEncoder';
import { encodeSafetensorsFile } from '../engine/weights/safetensorsFile';
import { encodeTorchFile } from '../engine/weights/torchSave';
import { inputNormOf } from '../shared/config/experiment/choices';
import { RunDirectory, RunDirectoryError } from '../shared/runFolder/runDirectory';
import { commandLog, isMachineReadable } from './output';
import { UsageError } from './runCommand';

export interface ExportCommandOptions {
  checkpoint?: string;
  out?: string;
  pth?: boolean;
  json?: boolean;
  wasmDir: string;
  version: string;
}

/**
 * `synthpair export`: writes a run's encoder (the online network's, without its heads) as a `.safetensors`
 * file, and a `.pth` beside it when asked, in torchvision's ResNet layout and names; returns the exit code.
 */
export async function exportCommand(runDir: string, options: ExportCommandOptions): Promise<number> {
  const asUsage = (error: unknown) =>
    error instanceof RunDirectoryError ||
    error instanceof WeightsFileError ||
    error instanceof ExperimentInputError
      ? new UsageError(error.message)
      : error;
  const run = await RunDirectory.open(runDir).catch((error: unknown) => {
    throw asUsage(error);
  });
  const { model } = await loadSavedConfig(run).catch((error: unknown) => {
    throw asUsage(error);
  });
  const checkpoints = run.file('checkpoints');
  const { name: checkpoint, manifest } = await chooseRunCheckpoint(checkpoints, options.checkpoint).catch(
    (error: unknown) => {
      throw asUsage(error);
    },
  );
  const out = path.resolve(options.out ?? `${path.basename(run.dir)}-${checkpoint}.safetensors`);
  if (path.extname(out) !== '.safetensors') {
    throw new UsageError(`--out: ${out} should end in .safetensors; --pth writes a .pth beside it`);
  }
  const files = options.pth ? [out, `${out.slice(0, -'.safetensors'.length)}.pth`] : [out];
  for (const file of files) {
    if (await stat(file).catch(() => undefined)) {
      throw new UsageError(`${file}: already exists; give another --out, or remove it`);
    }
  }
  const machineReadable = isMachineReadable(options.json);
  const log = commandLog(machineReadable);
  // Only bytes are copied and transposed: the CPU backend, always there, is as fast as any.
  await selectBackend({
    preference: 'cpu',
    wasmDir: options.wasmDir,
    nativeModulePaths: [],
    synthpairVersion: options.version,
  });
  const { arch, width, stem, padding } = model;
  const tensors = await torchvisionEncoderOf(
    path.join(checkpoints, checkpoint),
    { arch, width, stem, padding },
    BigInt(manifest.step),
  ).catch((error: unknown) => {
    throw asUsage(error);
  });
  if (padding !== 'torchvision') {
    log(
      'warn',
      `model.padding is "${padding}": torchvision's ResNet pads its stride-2 layers otherwise, so in PyTorch this encoder computes other features than it did in SynthPair`,
    );
  }
  const inputNorm = inputNormOf(model);
  // safetensors metadata holds strings only.
  const metadata: Record<string, string> = {
    format: 'pt',
    arch,
    width: String(width),
    stem,
    conv1:
      stem === 'cifar'
        ? '3x3, stride 1, and no max pool after it (torchvision: conv1 = Conv2d(3, C, 3, 1, 1, bias=False), maxpool = Identity())'
        : "7x7, stride 2, then max pool, as torchvision's",
    padding,
    inputNorm:
      inputNorm === 'imagenet'
        ? "imagenet: normalise images in [0, 1] with ImageNet's mean and std first"
        : 'none: images in [0, 1]',
    classifier: 'none: load into a model whose fc is nn.Identity(), with strict=True',
    num_batches_tracked: `the run's training steps at the checkpoint, ${manifest.step}`,
    source: path.resolve(run.dir),
    checkpoint,
    epoch: String(manifest.epoch),
    synthpair: options.version,
  };
  await writeFile(out, encodeSafetensorsFile(tensors, metadata), { flag: 'wx' });
  if (files[1] !== undefined) await writeFile(files[1], encodeTorchFile(tensors), { flag: 'wx' });
  if (machineReadable) {
    process.stdout.write(
      `${JSON.stringify({ event: 'result', checkpoint, epoch: manifest.epoch, files, tensors: tensors.size })}\n`,
    );
  } else {
    process.stdout.write(
      `${files.join(' and ')}: ${checkpoint}'s encoder (epoch ${manifest.epoch}), ${tensors.size} tensors in torchvision's ${arch} names\n`,
    );
  }
  return 0;
}
