import {
  type ExportedTensors,
  type ImportedTensor,
  type ImportedTensors,
  throwIfMisfit,
} from './importedTensors';

/** One of SynthPair's encoder parameters, as the imported weights must fill it. */
export interface ParameterSlot {
  /** SynthPair's name: `encoder.layer2.0.conv1.conv.weight`. */
  name: string;
  /** SynthPair's shape: a convolution kernel is [h, w, in, out]. */
  shape: readonly number[];
}

export interface MatchedWeights {
  /** Values for every slot, in SynthPair's layout, by SynthPair's name. */
  values: Map<string, Float32Array>;
  /** Tensors of the file SynthPair has no place for, and why (the classifier, batch norm's step counters). */
  setAside: { name: string; reason: string }[];
}

const batchNormFields: Record<string, string> = {
  weight: 'weight',
  bias: 'bias',
  running_mean: 'runningMean',
  running_var: 'runningVariance',
};

/**
 * SynthPair's name for a tensor of torchvision's ResNet (timm's ResNets use the same names), or why it has none.
 * torchvision: `conv1`/`bn1` (stem), `layerN.B.convK`/`bnK`, `layerN.B.downsample.0`/`.1`, `fc`.
 */
function synthPairName(
  torchName: string,
  prefix: string,
): { name: string } | { setAside: string } | undefined {
  if (/^fc\.(weight|bias)$/.test(torchName)) {
    return {
      setAside: 'the ImageNet classifier, which self-supervised training replaces with its projector',
    };
  }
  if (torchName.endsWith('.num_batches_tracked')) {
    return { setAside: 'a step counter batch norm uses only without a momentum; SynthPair always has one' };
  }
  const conv = (scope: string) => `${prefix}.${scope}.conv.weight`;
  const norm = (scope: string, field: string) => {
    const mapped = batchNormFields[field];
    return mapped ? `${prefix}.${scope}.bn.${mapped}` : undefined;
  };
  let match = /^conv1\.weight$/.exec(torchName);
  if (match) return { name: conv('stem') };
  match = /^bn1\.(\w+)$/.exec(torchName);
  if (match) return optional(norm('stem', match[1]!));
  match = /^(layer\d+\.\d+)\.conv(\d)\.weight$/.exec(torchName);
  if (match) return { name: conv(`${match[1]}.conv${match[2]}`) };
  match = /^(layer\d+\.\d+)\.bn(\d)\.(\w+)$/.exec(torchName);
  if (match) return optional(norm(`${match[1]}.conv${match[2]}`, match[3]!));
  match = /^(layer\d+\.\d+)\.downsample\.0\.weight$/.exec(torchName);
  if (match) return { name: conv(`${match[1]}.shortcut`) };
  match = /^(layer\d+\.\d+)\.downsample\.1\.(\w+)$/.exec(torchName);
  if (match) return optional(norm(`${match[1]}.shortcut`, match[2]!));
  return undefined;
}

/** torchvision's name for one of SynthPair's ResNet parameters: the inverse of {@link synthPairName}. */
function torchvisionName(slotName: string, prefix: string): string {
  const local = slotName.slice(prefix.length + 1);
  const field = (synthPairField: string) =>
    Object.entries(batchNormFields).find(([, mapped]) => mapped === synthPairField)?.[0] ?? synthPairField;
  let match = /^stem\.(conv|bn)\.(\w+)$/.exec(local);
  if (match) return match[1] === 'conv' ? 'conv1.weight' : `bn1.${field(match[2]!)}`;
  match = /^(layer\d+\.\d+)\.conv(\d)\.(conv|bn)\.(\w+)$/.exec(local);
  if (match)
    return match[3] === 'conv'
      ? `${match[1]}.conv${match[2]}.weight`
      : `${match[1]}.bn${match[2]}.${field(match[4]!)}`;
  match = /^(layer\d+\.\d+)\.shortcut\.(conv|bn)\.(\w+)$/.exec(local);
  if (match)
    return match[2] === 'conv'
      ? `${match[1]}.downsample.0.weight`
      : `${match[1]}.downsample.1.${field(match[3]!)}`;
  return local;
}

/** A shape as PyTorch prints it: kernels [out, in, h, w]. */
function torchShape(shape: readonly number[]): string {
  return (shape.length === 4 ? [shape[3], shape[2], shape[0], shape[1]] : shape).join('×');
}

function optional(name: string | undefined): { name: string } | undefined {
  return name === undefined ? undefined : { name };
}

/** PyTorch's convolution kernel [out, in, h, w] as TF.js's [h, w, in, out]. */
function kernelToHwio(tensor: ImportedTensor): { shape: number[]; values: Float32Array } {
  const [out, inChannels, height, width] = tensor.shape as [number, number, number, number];
  const values = new Float32Array(tensor.values.length);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inChannels; i++) {
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          values[((y * width + x) * inChannels + i) * out + o] =
            tensor.values[((o * inChannels + i) * height + y) * width + x]!;
        }
      }
    }
  }
  return { shape: [height, width, inChannels, out], values };
}

/** TF.js's [h, w, in, out] kernel as PyTorch's [out, in, h, w]: the inverse of {@link kernelToHwio}. */
function kernelToOihw(
  shape: readonly number[],
  values: Float32Array,
): { shape: number[]; values: Float32Array } {
  const [height, width, inChannels, out] = shape as [number, number, number, number];
  const transposed = new Float32Array(values.length);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inChannels; i++) {
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          transposed[((o * inChannels + i) * height + y) * width + x] =
            values[((y * width + x) * inChannels + i) * out + o]!;
        }
      }
    }
  }
  return { shape: [out, inChannels, height, width], values: transposed };
}

/**
 * A SynthPair ResNet's parameters as torchvision's ResNet names and lays them out, the inverse of
 * {@link matchTorchvisionResNet}: kernels as [out, in, h, w], and after each batch norm's running variance its
 * `num_batches_tracked` (int64, which SynthPair does not keep) set to `batchesTracked`, so that PyTorch's
 * `load_state_dict(strict=True)` finds every tensor of torchvision's ResNet but the classifier `fc`.
 */
export function torchvisionStateDict(
  slots: readonly ParameterSlot[],
  values: ReadonlyMap<string, Float32Array>,
  batchesTracked: bigint,
  prefix = 'encoder',
): ExportedTensors {
  const tensors: ExportedTensors = new Map();
  for (const slot of slots) {
    const slotValues = values.get(slot.name);
    if (!slotValues) throw new Error(`no values for ${slot.name}`);
    const torchName = torchvisionName(slot.name, prefix);
    tensors.set(
      torchName,
      slot.shape.length === 4
        ? kernelToOihw(slot.shape, slotValues)
        : { shape: slot.shape, values: slotValues },
    );
    if (torchName.endsWith('.running_var')) {
      tensors.set(torchName.replace(/running_var$/, 'num_batches_tracked'), {
        shape: [],
        values: BigInt64Array.of(batchesTracked),
      });
    }
  }
  return tensors;
}

/**
 * Fills every slot of a SynthPair ResNet from torchvision-layout weights, strictly: a slot the file lacks, a
 * tensor of the file that has no slot, and a shape that differs are each an error naming the tensor and both
 * shapes (in PyTorch's layout, as the user's tools print them). The classifier and batch norm's step counters
 * are set aside, with the reason.
 */
export function matchTorchvisionResNet(
  file: string,
  imported: ImportedTensors,
  slots: readonly ParameterSlot[],
  prefix = 'encoder',
): MatchedWeights {
  const bySlot = new Map(slots.map((slot) => [slot.name, slot]));
  const values = new Map<string, Float32Array>();
  const setAside: MatchedWeights['setAside'] = [];
  const problems: string[] = [];
  const misfits = new Set<string>();
  for (const [torchName, tensor] of imported) {
    const mapped = synthPairName(torchName, prefix);
    if (mapped === undefined) {
      problems.push(`${torchName} (${tensor.shape.join('×')}) is not a tensor of a torchvision ResNet`);
      continue;
    }
    if ('setAside' in mapped) {
      setAside.push({ name: torchName, reason: mapped.setAside });
      continue;
    }
    const slot = bySlot.get(mapped.name);
    if (!slot) {
      problems.push(
        `${torchName} (${tensor.shape.join('×')}) has no place in this model: it has no ${mapped.name}`,
      );
      continue;
    }
    const converted = tensor.shape.length === 4 ? kernelToHwio(tensor) : tensor;
    if (converted.shape.join('×') !== slot.shape.join('×')) {
      problems.push(
        `${torchName} is ${tensor.shape.join('×')} in the file but ${torchShape(slot.shape)} in this model`,
      );
      misfits.add(slot.name);
      continue;
    }
    values.set(mapped.name, converted.values);
  }
  for (const slot of slots) {
    if (!values.has(slot.name) && !misfits.has(slot.name)) {
      problems.push(
        `the file lacks ${torchvisionName(slot.name, prefix)} (${torchShape(slot.shape)}) that this model has`,
      );
    }
  }
  throwIfMisfit(`${file}: does not fit the model`, problems);
  return { values, setAside };
}
