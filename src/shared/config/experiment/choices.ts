/**
 * The value lists of the experiment file that code outside the config branches on or offers: the config's
 * enums, the protocol's zod enums, the engine's dispatch tables and the webviews' controls are all built from
 * these, so adding a value is one edit here plus the places the compiler then points at.
 */

/** `perturb.mode`: how h′ = h + m ⊙ ε draws ε. */
export const perturbModes = ['gaussian', 'shuffle', 'interpolate'] as const;
export type PerturbMode = (typeof perturbModes)[number];

/** `analysis.combine`: which criteria make a dimension non-discriminative (the last two are the paper's ablations). */
export const maskCombines = ['union', 'intersection', 'variance', 'gradcam'] as const;
export type MaskCombine = (typeof maskCombines)[number];

/** `analysis.gradcam.variant`: how per-image channel gradients become one importance per dimension. */
export const importanceVariants = ['absolute', 'signed', 'positive'] as const;
export type ImportanceVariant = (typeof importanceVariants)[number];

/** `eval.validation.metric`: the validation retrieval figure the best checkpoint maximises. */
export const validationMetrics = ['mAP', 'rank1'] as const;
export type ValidationMetric = (typeof validationMetrics)[number];

/**
 * The heat maps an analysis step draws per probe: Grad-CAM, and the gradient × activation map LCR uses. Not a
 * config key: both are always drawn, and the dashboard offers the choice.
 */
export const heatmapVariants = ['gradCam', 'gradientTimesActivation'] as const;
export type HeatmapVariant = (typeof heatmapVariants)[number];

/** The suffix that makes a file an experiment: the schema, the CodeLens, the Runs view and the CLI all key on it. */
export const experimentFileSuffix = '.synthpair.json';
/** Experiment files anywhere in a workspace, as a glob. */
export const experimentFileGlob = `**/*${experimentFileSuffix}`;

export function isExperimentFileName(file: string): boolean {
  return file.endsWith(experimentFileSuffix);
}

/** How the encoder normalises its input (`model.inputNorm`); `auto` follows `model.init`. */
export const inputNorms = ['auto', 'imagenet', 'none'] as const;
export type InputNorm = Exclude<(typeof inputNorms)[number], 'auto'>;

/** Files of weights trained elsewhere, which `model.inputNorm: auto` takes as ImageNet-trained. */
export const weightsFilePattern = /\.(pth|pt|safetensors)(\?[^/]*)?$/i;

/**
 * The normalisation an encoder of `model` applies. `auto` is decided when a run starts, where `model.init`
 * naming another run is looked up; what remains is decided from the config alone.
 */
export function inputNormOf(model: { inputNorm: (typeof inputNorms)[number]; init: string }): InputNorm {
  if (model.inputNorm !== 'auto') return model.inputNorm;
  if (model.init === '') return 'none';
  if (weightsFilePattern.test(model.init)) return 'imagenet';
  throw new Error(`model.inputNorm "auto" with model.init ${model.init}: decided when the run starts`);
}
