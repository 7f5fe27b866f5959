/**
 * The text of a new experiment file: SimCLR with the synthesized-pair method, sized so that a laptop CPU
 * trains it on a small dataset in minutes. Written as commented JSONC, like examples/quickstart, because the
 * file is where people learn what the keys do.
 */

export interface ExperimentTemplateOptions {
  /** The experiment's `name`. */
  name: string;
  /** `data.root` as written: relative to the folder of the config file, or absolute. */
  dataRoot: string;
  /** Default `imagefolder`. */
  layout?: 'imagefolder' | 'cub';
  /** `analysis.probes.count`: at most the test split's size. Default 8. */
  probes?: number;
  /** `train.batchSize`: at most the training split's size. Default 32. */
  batchSize?: number;
  /** Pretrained weights to start from, as the paper does; random weights and a small net without. */
  pretrained?: PretrainedStart;
}

export interface PretrainedStart {
  arch: 'resnet18' | 'resnet50';
  /** `model.init` as written: an https address, or a path relative to the config file. */
  init: string;
}

/** torchvision's ImageNet weights, which the paper and LCR start from. */
export const torchvisionImagenetWeights = {
  resnet18: 'https://download.pytorch.org/models/resnet18-f37072fd.pth',
  resnet50: 'https://download.pytorch.org/models/resnet50-0676ba61.pth',
} as const;

/** The model, method and optimiser of a new experiment: a small net from scratch, or the paper's start. */
function modelAndMethod(pretrained: PretrainedStart | undefined, batchSize: number): string {
  if (!pretrained) {
    return `  "model": {
    // A small four-stage conv net at half width: 128 feature dimensions h.
    "arch": "smallcnn",
    "width": 0.5,
    "projector": { "hiddenDim": 256, "outDim": 64 }
  },
  "ssl": {
    "method": "simclr",
    "simclr": { "temperature": 0.5 }
  },
  "train": { "epochs": 8, "batchSize": ${batchSize} },
  "optim": {
    // Adam converges in the few epochs a CPU affords; lr is scaled by batchSize / 256, so this is ${Number(((0.008 * batchSize) / 256).toPrecision(3))}.
    "name": "adam",
    "lr": 0.008,
    "weightDecay": 0,
    "warmupEpochs": 0,
    "schedule": "cosine"
  },`;
  }
  const depth = pretrained.arch === 'resnet50' ? 'ResNet-50' : 'ResNet-18';
  return `  "model": {
    // torchvision's ${depth} with the weights model.init names, as the paper (and LCR before it) starts from
    // ImageNet's. An address is downloaded once into ~/.cache/synthpair/weights. The stem and padding are
    // torchvision's, the images are normalised with ImageNet's mean and std, and the classifier fc is set aside.
    "arch": "${pretrained.arch}",
    "stem": "imagenet",
    "init": ${JSON.stringify(pretrained.init)},
    "inputNorm": "imagenet",
    "projector": { "hiddenDim": 2048, "outDim": 128 }
  },
  "ssl": {
    // MoCo v2, as the paper trains; the queue holds a multiple of the batch, and fewer keys than images.
    "method": "mocov2",
    "mocov2": { "queueSize": ${16 * batchSize} }
  },
  // The paper's 100 epochs, which a CPU takes long over: a ${depth} at 224 px costs about ${pretrained.arch === 'resnet50' ? 4 : 2} GFLOPs per image
  // forward and twice that backward, for two views and the key encoder, so an epoch of a few thousand
  // images is tens of minutes of a laptop CPU and 100 epochs a day or more. Lower train.epochs to try it.
  "train": { "epochs": 100, "batchSize": ${batchSize} },
  "optim": {
    // MoCo v2's recipe: SGD with momentum, lr scaled by batchSize / 256, cosine decay.
    "name": "sgd",
    "lr": 0.03,
    "weightDecay": 0.0001,
    "warmupEpochs": 0,
    "schedule": "cosine"
  },`;
}

export function experimentTemplate(options: ExperimentTemplateOptions): string {
  const probes = options.probes ?? 8;
  if (!Number.isInteger(probes) || probes < 1 || probes > 256) {
    throw new RangeError(`probes must be an integer from 1 to 256, got ${probes}`);
  }
  const batchSize = options.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 2 || batchSize > 4096) {
    throw new RangeError(`batchSize must be an integer from 2 to 4096, got ${batchSize}`);
  }
  const layout = options.layout ?? 'imagefolder';
  const layoutNote =
    layout === 'cub'
      ? '// Relative to this file: CUB-200-2011 as distributed (images.txt, train_test_split.txt, images/, …).'
      : '// Relative to this file: <root>/train/<class>/<image> and <root>/test/<class>/<image>, PNG or JPEG.';
  const about = options.pretrained
    ? `MoCo v2 with SynthPair's synthesized pairs from pretrained weights, the paper's protocol.
// Every key not written here keeps its default: see docs/config.md, or hover a key in VS Code.`
    : `SimCLR with SynthPair's synthesized pairs, sized to train on a laptop CPU in minutes.
// Every key not written here keeps its default: see docs/config.md, or hover a key in VS Code.
// Scale up (train.epochs, data.imageSize, model.*, decoder.*) once this runs end to end.`;
  return `// ${options.name}: ${about}
{
  "name": ${JSON.stringify(options.name)},
  "seed": 0,
  "data": {
    ${layoutNote}
    "root": ${JSON.stringify(options.dataRoot)},
    "layout": "${layout}",
    ${
      options.pretrained
        ? `// The paper's 224 px, the size ImageNet weights were trained at; images are resized once and cached.
    "imageSize": 224`
        : `// Images are resized to this once and cached; 48 px keeps small details and CPU steps short.
    "imageSize": 48`
    }
  },
${modelAndMethod(options.pretrained, batchSize)}
  "eval": {
    "everyEpochs": 4,
    // A small dataset has few images per class: far fewer neighbours than the ImageNet-sized default of 200.
    "knn": { "k": 10 },
    "linear": { "epochs": 50 }
  },
  // The method. L = L_C + α·L_R + ν·L_Cp: a decoder d learns to redraw images from their features h
  // (L_R), and the encoder learns to give the same features to d(h) and d(h′), where h′ moves only the
  // dimensions found non-discriminative (L_Cp). Set loss.alpha and loss.nu to 0 for the plain SSL baseline.
  "loss": {
    "alpha": 1, // α, weight of the reconstruction loss L_R
    "nu": 1 // ν, weight of the synthesized-pair loss L_Cp
  },
  "synthesis": {
    // Epoch 1 leaves L_Cp out, so the decoder has learnt to redraw images before they are contrasted.
    "startEpoch": 2
  },
  // d: h → image. Narrow, with transposed convolutions: on a CPU they are faster than resize + conv.
  "decoder": { "width": 0.25, "upsample": "transposed" },
  "perturb": {
    // h′ = h + m ⊙ ε with ε ~ N(0, (strength·σ_k)²) on the masked dimensions k.
    "mode": "gaussian",
    "strength": 1
  },
  "analysis": {
    // Find the mask m anew after every epoch: the lowest quarter of the dimensions by variance of h, and
    // by Grad-CAM importance to the SSL loss, combined by union. The heat maps and pair grids of each step
    // are saved in the run folder for the dashboard.
    "everyEpochs": 1,
    "variance": { "quantile": 0.25 },
    "gradcam": { "quantile": 0.25, "images": 64 },
    "combine": "union",
    // Test images the heat maps and pair grids are drawn for: no more than the test split holds.
    "probes": { "count": ${probes} }
  },
  "checkpoint": { "everyEpochs": 1, "keep": 2 }
}
`;
}
