import { backendPreference } from '../../protocol/backend';
import { defaultMethod, type MethodName, methodNames, methodSpecs } from '../methods/registry';
import { settingDefinitions } from '../settings';
import { importanceVariants, inputNorms, maskCombines, perturbModes, validationMetrics } from './choices';
import { BYOL, MOCO_V2, SIMCLR, SIMSIAM } from './citations';
import {
  type Applicability,
  flag,
  type GroupKey,
  group,
  integer,
  interval,
  type KeyDefinition,
  number,
  oneOf,
  optionalText,
  probability,
  type Resolved,
  requiredText,
} from './keys';

/**
 * The single typed source of the experiment file (`*.synthpair.json`): the parser, the JSON schema
 * contributed to VS Code and docs/config.md are all derived from these definitions, so a key's type,
 * default, range and documentation cannot drift apart. Descriptions are markdown. `ssl.method` and the
 * `ssl.<method>` blocks come from the method specs (src/shared/config/methods), so this file names no method.
 */

const enabled = (augmentation: string) => flag(true, `Whether ${augmentation} is applied at all.`);

const whenMethodIs = (methods: readonly MethodName[]): Applicability => ({
  key: 'ssl.method',
  values: methods,
});

/** Each method's `ssl.<name>` block, applying only when `ssl.method` selects it. */
const methodBlocks = Object.fromEntries(
  methodNames.map((name) => [name, { ...methodSpecs[name].options, appliesWhen: whenMethodIs([name]) }]),
) as { [Name in MethodName]: (typeof methodSpecs)[Name]['options'] };

const AUG_PLUS = `the "aug+" recipe of ${MOCO_V2}`;

/** The training loop: besides its own block, what a method's checks weigh its options against. */
const trainingLoop = group('The training loop.', {
  epochs: integer(
    1,
    10_000,
    200,
    `Number of passes over the training set (200 in ${MOCO_V2} and ${SIMSIAM}).`,
  ),
  batchSize: integer(
    2,
    4096,
    256,
    `Images per step; each gives two views. The learning rate scales with it (see \`optim.lr\`). 256 in ${MOCO_V2} and ${SIMSIAM}; ${SIMCLR} uses 4096 with LARS.`,
  ),
});

export type TrainingLoop = Resolved<typeof trainingLoop>;

export const experimentDefinition = group(
  'A SynthPair experiment: data, model, SSL method, training and evaluation.',
  {
    name: requiredText(
      'Name of the experiment; run directories are named `<name>-<time>` under `.synthpair/runs/`. Required.',
    ),
    seed: integer(
      0,
      2 ** 31 - 1,
      0,
      'Seed of every random choice (initialisation, data order, augmentations). The same seed and config give the same run, also across a resume.',
    ),
    backend: oneOf(
      backendPreference.options,
      'auto',
      settingDefinitions.backend.enumDescriptions,
      'TF.js backend the run uses. `auto` takes the fastest that works and reports why each faster one was skipped; it overrides the `synthpair.backend` setting for this experiment.',
    ),
    data: group('The image data set.', {
      root: requiredText(
        'Folder of the data set, relative to the folder of this config file (or absolute). Required.',
      ),
      layout: oneOf(
        ['imagefolder', 'cub'],
        'imagefolder',
        [
          '`<root>/train/<class>/<image>` and `<root>/test/<class>/<image>`.',
          'The native CUB-200-2011 layout: `images.txt`, `image_class_labels.txt`, `train_test_split.txt` and `images/`.',
        ],
        'How the images and their classes are laid out under `data.root`.',
      ),
      imageSize: integer(
        32,
        224,
        64,
        'Side in pixels of the square images the encoder sees; images are resized to it once and cached. The papers train at 224; 64 keeps CPU training practical.',
      ),
      validation: group(
        'Training images held out of training, on which the run chooses its best checkpoint (`eval.validation`), so that the test split is never used to choose. The kNN and linear-probe evaluations train on the rest of the training split too.',
        {
          fraction: number(
            0,
            0.5,
            0.1,
            'Share of each class held out: `round(fraction × its images)`, but at least 2 (a retrieval query needs another image of its class) and never so many that fewer than 2 remain to train on; a class of fewer than 4 images holds out none. 0 holds out nothing, and the run then keeps only its last checkpoint as its result.',
          ),
          seed: integer(
            0,
            2 ** 31 - 1,
            0,
            'Which images are held out. It is not `seed`, so every seed and every condition of a study chooses its checkpoint on the same images and trains on the same ones.',
          ),
        },
      ),
    }),
    model: group('The encoder and the heads on top of it.', {
      arch: oneOf(
        ['resnet18', 'resnet50', 'smallcnn'],
        'resnet18',
        [
          'ResNet-18 (basic blocks, 512 feature dimensions at width 1).',
          'ResNet-50 (bottleneck blocks, 2048 feature dimensions at width 1).',
          'A small four-stage conv net for quick runs and tests.',
        ],
        'Encoder architecture. Its last conv feature map is what Grad-CAM reads; the pooled feature `h` is what evaluation uses.',
      ),
      stem: oneOf(
        ['cifar', 'imagenet'],
        'cifar',
        [
          'A 3×3 stride-1 convolution without pooling, as SSL work uses for small images: the last feature map stays large enough for Grad-CAM (8×8 at 64 px for ResNet).',
          "torchvision's 7×7 stride-2 convolution and 3×3 max-pool: 16× less compute, but a 2×2 last feature map at 64 px.",
        ],
        'How a ResNet first reduces the image (the small conv net ignores it).',
      ),
      padding: oneOf(
        ['torchvision', 'same'],
        'torchvision',
        [
          "(k − 1) / 2 pixels on every side of each convolution and 1 around the max-pool, as torchvision's layers pad: weights trained in PyTorch compute the same features here, and an exported encoder the same features there.",
          "TF's `same`, which on an even input pads a stride-2 layer one pixel more after than before. Runs made before this key existed were trained so, and keep it when resumed.",
        ],
        'How a ResNet pads (the small conv net ignores it). Output sizes are the same either way; the stride-2 layers see a different one-pixel alignment.',
      ),
      init: optionalText(
        "Weights the encoder starts from instead of random ones: a PyTorch file (`.pth`/`.pt` as `torch.save` writes it: a state dict, or a checkpoint holding one under `state_dict` or `model`) or a `.safetensors` file, in torchvision's (or timm's) ResNet layout, as a path or an https address (downloaded once into `~/.cache/synthpair/weights`, checked against the sha256 prefix a torchvision file name carries); or an earlier SynthPair run folder (its latest checkpoint) or one of its `checkpoints/epoch-NNNN` folders, to continue from its encoder. Relative to this file. The file must fit `model.arch`, `model.width` and `model.stem` exactly; its classifier (`fc`) is set aside. A `.pth` is read without running any of it. Left out: random weights from `seed`.",
      ),
      inputNorm: oneOf(
        inputNorms,
        'auto',
        [
          "ImageNet's when `model.init` names a weights file, the one of the run it names, none without `model.init`. A run records what this chose.",
          "Subtract ImageNet's channel means (0.485, 0.456, 0.406) and divide by its standard deviations (0.229, 0.224, 0.225), as torchvision's and timm's ImageNet weights expect.",
          'The pixels as they are, in [0, 1].',
        ],
        'How the encoder normalises the images it is given, as its first step: weights trained elsewhere expect the normalisation they were trained with. Images, reconstructions and heat maps are in [0, 1] everywhere else.',
      ),
      batchNorm: oneOf(
        ['batch', 'frozen'],
        'batch',
        [
          "Each training step normalises with its batch's statistics and moves the running ones, as the SSL papers train.",
          'The running statistics are used and kept, in training too, as when fine-tuning weights from `model.init` with batches too small to estimate them. Their scale and shift still train.',
        ],
        "How the encoder's batch norms normalise while it trains; evaluation always uses the running statistics. The heads on top of it always use the batch's.",
      ),
      width: number(
        0.125,
        4,
        1,
        'Width multiplier of every conv stage (0.5 halves the channels, and the feature dimension).',
      ),
      projector: group('The MLP `g` mapping the pooled feature `h` to the embedding `z` the SSL loss sees.', {
        hiddenDim: integer(
          16,
          8192,
          512,
          `Hidden width of the projector. Papers: ${SIMCLR} uses the encoder's feature width (2048 for ResNet-50), ${MOCO_V2} 2048, ${SIMSIAM} 2048, ${BYOL} 4096. The default 512 is ResNet-18's feature width.`,
        ),
        outDim: integer(
          16,
          8192,
          128,
          `Output dimension of the projector. Papers: ${SIMCLR} and ${MOCO_V2} 128, ${SIMSIAM} 2048, ${BYOL} 256.`,
        ),
      }),
      predictor: group(
        'The predictor MLP of the asymmetric methods (SimSiam, BYOL), applied on top of the online projector.',
        {
          hiddenDim: integer(
            16,
            8192,
            512,
            `Hidden width of the predictor. Papers: ${SIMSIAM} 512 (a bottleneck), ${BYOL} 4096.`,
          ),
        },
        whenMethodIs(methodNames.filter((name) => methodSpecs[name].usesPredictor)),
      ),
    }),
    augment: group(
      `Augmentations producing the two views of each image, with the defaults of ${AUG_PLUS}. Each block is applied with probability \`prob\` when \`enabled\`.`,
      {
        crop: group('Random resized crop to `data.imageSize`.', {
          enabled: enabled('the random resized crop'),
          prob: probability(1, 'Probability of cropping a view; otherwise the whole image is resized.'),
          scale: interval(
            0.01,
            1,
            [0.2, 1],
            `Range of the crop's area as a fraction of the image. ${MOCO_V2}: [0.2, 1]; ${SIMCLR}: [0.08, 1].`,
          ),
          ratio: interval(
            0.1,
            10,
            [3 / 4, 4 / 3],
            "Range of the crop's aspect ratio (width / height), sampled log-uniformly; [3/4, 4/3] as in both papers.",
          ),
        }),
        flip: group('Random horizontal flip.', {
          enabled: enabled('the horizontal flip'),
          prob: probability(0.5, 'Probability of flipping a view (0.5 in both papers).'),
        }),
        colorJitter: group('Random colour jitter, its four adjustments applied in random order.', {
          enabled: enabled('colour jitter'),
          prob: probability(0.8, `Probability of jittering a view (0.8 in ${AUG_PLUS}).`),
          brightness: number(
            0,
            1,
            0.4,
            `Brightness factor drawn from [1 − b, 1 + b]. ${MOCO_V2}: 0.4; ${SIMCLR}: 0.8 (strength 1).`,
          ),
          contrast: number(
            0,
            1,
            0.4,
            `Contrast factor drawn from [1 − c, 1 + c]. ${MOCO_V2}: 0.4; ${SIMCLR}: 0.8.`,
          ),
          saturation: number(
            0,
            1,
            0.4,
            `Saturation factor drawn from [1 − s, 1 + s]. ${MOCO_V2}: 0.4; ${SIMCLR}: 0.8.`,
          ),
          hue: number(
            0,
            0.5,
            0.1,
            `Hue shift drawn from [−h, h] of a full turn. ${MOCO_V2}: 0.1; ${SIMCLR}: 0.2.`,
          ),
        }),
        grayscale: group('Random conversion to greyscale (kept as three channels).', {
          enabled: enabled('random greyscale'),
          prob: probability(0.2, `Probability of greyscaling a view (0.2 in ${AUG_PLUS}).`),
        }),
        blur: group('Random Gaussian blur with a kernel of about 10% of the image side, as in SimCLR.', {
          enabled: enabled('Gaussian blur'),
          prob: probability(0.5, `Probability of blurring a view (0.5 in ${AUG_PLUS}).`),
          sigma: interval(
            0.01,
            10,
            [0.1, 2],
            `Range of the blur's standard deviation in pixels at 224 × 224, scaled with \`data.imageSize\`; [0.1, 2.0] as in ${SIMCLR}.`,
          ),
        }),
      },
    ),
    ssl: group('The self-supervised method and its parameters.', {
      method: oneOf(
        methodNames,
        defaultMethod,
        methodNames.map((name) => methodSpecs[name].description),
        'Self-supervised loss the encoder is trained with. The per-method blocks below only apply to their method.',
      ),
      ...methodBlocks,
    }),
    train: trainingLoop,
    optim: group('The optimizer and the learning-rate schedule.', {
      name: oneOf(
        ['sgd', 'lars', 'adam'],
        'sgd',
        [
          'SGD with momentum; no weight decay on batch-norm parameters and biases.',
          'LARS (You et al., 2017), as SimCLR and BYOL use for large batches; batch-norm parameters and biases are excluded from adaptation and weight decay.',
          'Adam (Kingma & Ba, 2015); `optim.momentum` is its β₁.',
        ],
        `Optimizer of the encoder and heads. ${MOCO_V2} and ${SIMSIAM} use SGD; ${SIMCLR} and ${BYOL} use LARS.`,
      ),
      lr: number(
        0,
        10,
        0.05,
        `Base learning rate for a batch of 256: the rate used is \`lr × train.batchSize / 256\` (the linear scaling rule of Goyal et al., 2017, used by all four papers). ${SIMSIAM}: 0.05; ${MOCO_V2}: 0.03; ${SIMCLR}: 0.3 with LARS; ${BYOL}: 0.2 with LARS.`,
        { minExclusive: true },
      ),
      momentum: number(0, 0.999, 0.9, 'Momentum of SGD and LARS, β₁ of Adam (0.9 in all four papers).'),
      weightDecay: number(
        0,
        0.1,
        1e-4,
        `Weight decay (L2), not applied to batch-norm parameters and biases. ${MOCO_V2} and ${SIMSIAM}: 1e-4; ${SIMCLR}: 1e-6; ${BYOL}: 1.5e-6.`,
      ),
      warmupEpochs: integer(
        0,
        1000,
        10,
        `Epochs of linear warm-up from 0 to the scaled learning rate before the schedule starts (10 in ${SIMCLR} and ${BYOL}; ${MOCO_V2} and ${SIMSIAM} use none).`,
      ),
      schedule: oneOf(
        ['cosine', 'constant'],
        'cosine',
        [
          'Cosine decay to 0 without restarts (Loshchilov & Hutter, 2017), as in all four papers.',
          'The learning rate stays at its scaled value after warm-up.',
        ],
        'Learning-rate schedule after warm-up.',
      ),
      lars: group(
        'Parameters of LARS.',
        {
          trustCoefficient: number(
            0,
            1,
            0.001,
            `Trust coefficient η scaling each layer's update to its weight norm (0.001 in ${SIMCLR} and ${BYOL}).`,
            { minExclusive: true },
          ),
        },
        { key: 'optim.name', values: ['lars'] },
      ),
    }),
    eval: group(
      'Evaluation on frozen pooled features `h` of the training and test splits, at the end of training and every `eval.everyEpochs`.',
      {
        everyEpochs: integer(
          0,
          10_000,
          10,
          'Evaluate every this many epochs, and always after the last one; 0 evaluates only at the end.',
        ),
        knn: group('Weighted k-nearest-neighbour classification with cosine similarity.', {
          enabled: flag(true, 'Whether kNN top-1 accuracy is computed.'),
          k: integer(
            1,
            1000,
            200,
            'Number of neighbours voting (200 in Wu et al., *Unsupervised Feature Learning via Non-Parametric Instance Discrimination*, CVPR 2018, the monitor MoCo uses).',
          ),
          temperature: number(
            0.001,
            10,
            0.07,
            'Neighbours vote with weight `exp(similarity / t)` (t = 0.07 as in Wu et al., CVPR 2018).',
          ),
        }),
        linear: group(
          'Linear probe: a linear classifier trained on the frozen training features (SGD, momentum 0.9, no weight decay), evaluated on the test features.',
          {
            enabled: flag(true, 'Whether the linear probe is trained and its top-1 accuracy reported.'),
            epochs: integer(
              1,
              1000,
              100,
              'Epochs of linear-classifier training (100 in MoCo, He et al., CVPR 2020).',
            ),
            lr: number(
              0,
              1,
              0.01,
              'Adam step size of the linear classifier. The probe standardizes the frozen features first, so it does not need the learning rate of 30 that MoCo (He et al., CVPR 2020) uses with SGD on raw features.',
              {
                minExclusive: true,
              },
            ),
          },
        ),
        retrieval: group(
          'Retrieval: each test image queries the rest of the test set by cosine similarity; reports rank-1, rank-5 and mAP.',
          { enabled: flag(true, 'Whether rank-1, rank-5 and mAP are computed.') },
        ),
        validation: group(
          'Retrieval within the validation images held out by `data.validation` (each queries the others), which chooses the best checkpoint. The best one is kept beside the last, and both are evaluated on the test split when the run ends.',
          {
            everyEpochs: integer(
              0,
              10_000,
              1,
              'Measure every this many epochs, and always after the last one; 0 only after the last one. Only the epochs measured can be chosen.',
            ),
            metric: oneOf(
              validationMetrics,
              'mAP',
              [
                'Mean average precision over the validation queries: every image of the class counts, so it moves less from one epoch to the next than rank-1.',
                'Share of validation queries whose nearest neighbour has their class, the retrieval figure LCR chose its checkpoints by.',
              ],
              'The validation figure the best checkpoint maximises; the first epoch that reaches the maximum wins a tie.',
            ),
          },
        ),
      },
    ),
    analysis: group(
      'Which feature dimensions the method treats as non-discriminative, and the heat maps and grids drawn for people. An analysis step measures the per-dimension variance of h and the Grad-CAM importance from the SSL loss, combines them into the mask the perturbation uses, and saves both with the probe images’ heat maps and reconstructions under `analysis/` in the run directory.',
      {
        everyEpochs: integer(
          0,
          10_000,
          1,
          'Analyse after every this many epochs, and always after the last one. The mask is also computed before the first epoch that needs it (`synthesis.startEpoch`). 0 analyses only after the last epoch, or when the mask is needed.',
        ),
        variance: group(
          'The variance criterion: a dimension along which the data barely varies cannot separate it.',
          {
            quantile: probability(
              0.25,
              'Dimensions among the lowest `⌊q·C⌋` by variance of h over the training set (centre views, evaluation mode) are candidates.',
            ),
          },
        ),
        gradcam: group(
          'The Grad-CAM criterion: α_k, the spatial mean of ∂L_C/∂A_k averaged over training images, is the importance of dimension k to the SSL loss, since h_k is the pooled A_k.',
          {
            quantile: probability(0.25, 'Dimensions among the lowest `⌊q·C⌋` by importance are candidates.'),
            variant: oneOf(
              importanceVariants,
              'absolute',
              [
                'Mean of |∂L_C/∂A_k|: a dimension matters however the loss moves with it.',
                'Mean of ∂L_C/∂A_k, as Grad-CAM weights a class score.',
                'Mean of max(∂L_C/∂A_k, 0).',
              ],
              'How the gradients are reduced to one importance per dimension.',
            ),
            images: integer(
              1,
              1_000_000,
              256,
              'Training images (in whole batches of `train.batchSize`, two augmented views each, the training loss in training mode) whose gradients are averaged per analysis step.',
            ),
          },
        ),
        combine: oneOf(
          maskCombines,
          'union',
          [
            'Non-discriminative by either criterion.',
            'Non-discriminative by both criteria.',
            'The variance criterion alone (an ablation of the paper).',
            'The Grad-CAM criterion alone (an ablation of the paper).',
          ],
          'How the two criteria make the mask m ∈ {0,1}^C.',
        ),
        probes: group(
          'The test images heat maps and pair grids are drawn for: spread over the classes, the same for every run and seed on a data set.',
          {
            count: integer(1, 256, 16, 'Number of probe images; at most the size of the test split.'),
            samples: integer(
              1,
              16,
              4,
              'Perturbed copies d(h′) drawn per probe for the pair grids, independent of the copies training uses (`perturb.samples`).',
            ),
          },
        ),
      },
    ),
    decoder: group(
      'The decoder d: h → image (dense → low-resolution map → ×2 upsampling stages → RGB), trained with the reconstruction loss L_R against the un-augmented image.',
      {
        width: number(
          0.03125,
          4,
          0.5,
          'Multiplies every stage’s channel count (256 at the low-resolution map, halving per stage, at width 1).',
        ),
        upsample: oneOf(
          ['resize', 'transposed'],
          'resize',
          [
            'Nearest-neighbour ×2 then a 3×3 convolution: no checkerboard artefacts (Odena et al., Distill 2016).',
            'A 4×4 stride-2 transposed convolution, as the DCGAN generator; faster here.',
          ],
          'How each decoder stage doubles the resolution.',
        ),
      },
    ),
    perturb: group('How h′ = h + m ⊙ ε moves the non-discriminative dimensions.', {
      mode: oneOf(
        perturbModes,
        'gaussian',
        [
          'ε ~ N(0, (s·σ_k)²), σ_k the dimension’s standard deviation over the training set.',
          'The dimension’s value from another image of the batch.',
          'Towards another image of the batch by the factor s.',
        ],
        'The kind of perturbation.',
      ),
      strength: number(
        0,
        100,
        1,
        'The strength s: the noise scale in units of σ_k, or the step towards the partner image.',
      ),
      fraction: number(
        0,
        1,
        1,
        'Share of the masked dimensions perturbed in each copy, chosen afresh per image and step (at least one when the mask is not empty).',
        { minExclusive: true },
      ),
      samples: integer(
        1,
        16,
        1,
        'Perturbed copies h′ per image in training: each adds a pair per image to L_Cp, and a decoder and encoder pass over the batch. The pair grids draw `analysis.probes.samples` copies.',
      ),
    }),
    synthesis: group('The synthesized pairs (d(h), d(h′)) and the contrastive loss L_Cp between them.', {
      startEpoch: integer(
        1,
        10_000,
        2,
        'First epoch (counted from 1) that adds ν·L_Cp, so the decoder has learnt to reconstruct before its images are trusted.',
      ),
      detachDecoder: flag(
        true,
        'Stop the gradient of L_Cp at the decoder’s output, so L_Cp trains only the encoder and projector that look at the synthesized images.',
      ),
      temperature: number(
        0.01,
        10,
        0.2,
        'Temperature of the NT-Xent loss between the projections g(f(d(h))) and g(f(d(h′))), the other pairs of the batch being the negatives.',
      ),
    }),
    loss: group('The weights of the total loss L = L_C + α·L_R + ν·L_Cp.', {
      alpha: number(
        0,
        1000,
        1,
        'α, the weight of the reconstruction loss L_R. With α = 0 and ν = 0 no decoder is built and the run is the plain SSL baseline (analysis only observes).',
      ),
      nu: number(0, 1000, 1, 'ν, the weight of the synthesized-pair loss L_Cp.'),
    }),
    checkpoint: group(
      'Checkpoints of weights, optimizer state and the epoch and step, from which a run resumes to the numbers of an uninterrupted one (the random streams are recomputed from the seed, epoch, step and image). A run asked to stop also checkpoints the step it stopped after, and resumes from there.',
      {
        everyEpochs: integer(
          1,
          10_000,
          10,
          'Write a checkpoint every this many epochs, and always after the last one.',
        ),
        keep: integer(
          0,
          1000,
          3,
          'Number of most recent checkpoints kept; older ones are deleted. 0 keeps them all.',
        ),
      },
    ),
  },
);

/** An experiment with every key present: values from the file and `--set` overrides, defaults for the rest. */
export type ResolvedConfig = Resolved<typeof experimentDefinition>;

/** Every key, groups included, by its dotted path, in the order of the definitions. */
export function keyPaths(): Map<string, KeyDefinition> {
  const paths = new Map<string, KeyDefinition>();
  const visit = (definition: GroupKey, prefix: string) => {
    for (const [name, child] of Object.entries(definition.keys)) {
      const path = prefix ? `${prefix}.${name}` : name;
      paths.set(path, child);
      if (child.kind === 'group') visit(child, path);
    }
  };
  visit(experimentDefinition, '');
  return paths;
}
