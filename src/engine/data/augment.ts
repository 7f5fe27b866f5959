import type { DecodedImage } from './decode';
import type { RandomStream } from './random';

/** Every augmentation is an `{enabled, prob, ...}` block, as in the experiment config (`augment.*`). */
export interface AugmentationToggle {
  enabled: boolean;
  /** Chance of applying it to a view, torchvision's RandomApply. */
  prob: number;
}

export interface CropOptions extends AugmentationToggle {
  /** Range of the crop's area as a fraction of the image's. */
  scale: [number, number];
  /** Range of the crop's width / height. */
  ratio: [number, number];
}

export interface ColorJitterOptions extends AugmentationToggle {
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
}

export interface BlurOptions extends AugmentationToggle {
  /** Range of the Gaussian's standard deviation, in output pixels. */
  sigma: [number, number];
}

export interface AugmentOptions {
  crop: CropOptions;
  flip: AugmentationToggle;
  colorJitter: ColorJitterOptions;
  grayscale: AugmentationToggle;
  blur: BlurOptions;
}

/** MoCo v2's "aug+" (Chen et al. 2020, github.com/facebookresearch/moco main_moco.py). */
export function mocoV2AugPlus(): AugmentOptions {
  return {
    crop: { enabled: true, prob: 1, scale: [0.2, 1], ratio: [3 / 4, 4 / 3] },
    colorJitter: { enabled: true, prob: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 },
    grayscale: { enabled: true, prob: 0.2 },
    blur: { enabled: true, prob: 0.5, sigma: [0.1, 2] },
    flip: { enabled: true, prob: 0.5 },
  };
}

export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/**
 * torchvision's RandomResizedCrop.get_params: ten tries at a box of random area and log-uniform aspect
 * ratio that fits, then a centre crop clamped to the ratio range.
 */
export function sampleCropBox(
  random: RandomStream,
  height: number,
  width: number,
  scale: readonly [number, number],
  ratio: readonly [number, number],
): CropBox {
  const area = height * width;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * random.uniform(scale[0], scale[1]);
    const aspect = Math.exp(random.uniform(logRatio[0], logRatio[1]));
    const w = Math.round(Math.sqrt(targetArea * aspect));
    const h = Math.round(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      return { top: random.integer(0, height - h), left: random.integer(0, width - w), height: h, width: w };
    }
  }
  const inputRatio = width / height;
  let w = width;
  let h = height;
  if (inputRatio < Math.min(...ratio)) {
    h = Math.round(w / Math.min(...ratio));
  } else if (inputRatio > Math.max(...ratio)) {
    w = Math.round(h * Math.max(...ratio));
  }
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

export function centreCropBox(imageSize: number, cropSize: number): CropBox {
  const offset = Math.floor((imageSize - cropSize) / 2);
  return { top: offset, left: offset, height: cropSize, width: cropSize };
}

/**
 * Bilinear resampling of `box` to `size × size` with half-pixel centres (PyTorch's align_corners=False),
 * scaled to [0, 1] floats. No antialiasing: crops shrink by less than 2× from the cache size, where
 * aliasing stays small.
 */
export function resizeCrop(image: DecodedImage, box: CropBox, size: number, out: Float32Array): void {
  const columns = samplingTaps(box.width, size);
  const rows = samplingTaps(box.height, size);
  const stride = image.size * 3;
  const pixels = image.pixels;
  for (let y = 0; y < size; y++) {
    const row0 = (box.top + rows.low[y]!) * stride;
    const row1 = (box.top + rows.high[y]!) * stride;
    const wy = rows.weight[y]!;
    for (let x = 0; x < size; x++) {
      const col0 = (box.left + columns.low[x]!) * 3;
      const col1 = (box.left + columns.high[x]!) * 3;
      const wx = columns.weight[x]!;
      const target = (y * size + x) * 3;
      for (let c = 0; c < 3; c++) {
        const top = pixels[row0 + col0 + c]! + (pixels[row0 + col1 + c]! - pixels[row0 + col0 + c]!) * wx;
        const bottom = pixels[row1 + col0 + c]! + (pixels[row1 + col1 + c]! - pixels[row1 + col0 + c]!) * wx;
        out[target + c] = (top + (bottom - top) * wy) / 255;
      }
    }
  }
}

function samplingTaps(inputLength: number, outputLength: number) {
  const low = new Int32Array(outputLength);
  const high = new Int32Array(outputLength);
  const weight = new Float32Array(outputLength);
  const step = inputLength / outputLength;
  for (let i = 0; i < outputLength; i++) {
    const source = Math.max(0, (i + 0.5) * step - 0.5);
    low[i] = Math.min(Math.floor(source), inputLength - 1);
    high[i] = Math.min(low[i]! + 1, inputLength - 1);
    weight[i] = source - low[i]!;
  }
  return { low, high, weight };
}

export function flipHorizontal(view: Float32Array, size: number): void {
  for (let y = 0; y < size; y++) {
    for (let left = y * size * 3, right = left + (size - 1) * 3; left < right; left += 3, right -= 3) {
      for (let c = 0; c < 3; c++) {
        const swap = view[left + c]!;
        view[left + c] = view[right + c]!;
        view[right + c] = swap;
      }
    }
  }
}

/** ITU-R 601-2 luma, with torchvision's rounded coefficients. */
function luma(r: number, g: number, b: number): number {
  return 0.2989 * r + 0.587 * g + 0.114 * b;
}

export function toGrayscale(view: Float32Array): void {
  for (let i = 0; i < view.length; i += 3) {
    const gray = luma(view[i]!, view[i + 1]!, view[i + 2]!);
    view[i] = gray;
    view[i + 1] = gray;
    view[i + 2] = gray;
  }
}

const clamp01 = (value: number): number => Math.min(1, Math.max(0, value));

export function adjustBrightness(view: Float32Array, factor: number): void {
  for (let i = 0; i < view.length; i++) view[i] = clamp01(view[i]! * factor);
}

/** Blends towards the image's mean luma, as torchvision's adjust_contrast. */
export function adjustContrast(view: Float32Array, factor: number): void {
  let sum = 0;
  for (let i = 0; i < view.length; i += 3) sum += luma(view[i]!, view[i + 1]!, view[i + 2]!);
  const meanOffset = (1 - factor) * (sum / (view.length / 3));
  for (let i = 0; i < view.length; i++) view[i] = clamp01(factor * view[i]! + meanOffset);
}

/** Blends each pixel with its own luma, as torchvision's adjust_saturation. */
export function adjustSaturation(view: Float32Array, factor: number): void {
  for (let i = 0; i < view.length; i += 3) {
    const grayOffset = (1 - factor) * luma(view[i]!, view[i + 1]!, view[i + 2]!);
    for (let c = 0; c < 3; c++) view[i + c] = clamp01(factor * view[i + c]! + grayOffset);
  }
}

/** Rotates hue by `shift` turns (in [-0.5, 0.5]) through HSV, following torchvision's tensor adjust_hue. */
export function adjustHue(view: Float32Array, shift: number): void {
  for (let i = 0; i < view.length; i += 3) {
    const r = view[i]!;
    const g = view[i + 1]!;
    const b = view[i + 2]!;
    const value = Math.max(r, g, b);
    const chroma = value - Math.min(r, g, b);
    if (chroma === 0) continue;
    const saturation = chroma / value;
    let hue: number;
    if (value === r) hue = (g - b) / chroma;
    else if (value === g) hue = 2 + (b - r) / chroma;
    else hue = 4 + (r - g) / chroma;
    hue = hue / 6 + shift;
    hue -= Math.floor(hue);

    const sector = Math.floor(hue * 6);
    const fraction = hue * 6 - sector;
    const p = clamp01(value * (1 - saturation));
    const q = clamp01(value * (1 - saturation * fraction));
    const t = clamp01(value * (1 - saturation * (1 - fraction)));
    let red = value;
    let green = p;
    let blue = q;
    switch (sector % 6) {
      case 0:
        [red, green, blue] = [value, t, p];
        break;
      case 1:
        [red, green, blue] = [q, value, p];
        break;
      case 2:
        [red, green, blue] = [p, value, t];
        break;
      case 3:
        [red, green, blue] = [p, q, value];
        break;
      case 4:
        [red, green, blue] = [t, p, value];
        break;
      default:
        [red, green, blue] = [value, p, q];
    }
    view[i] = red;
    view[i + 1] = green;
    view[i + 2] = blue;
  }
}

/** SimCLR's kernel: about a tenth of the image side, odd so it has a centre. */
export function blurKernelSize(size: number): number {
  return Math.max(3, Math.floor(size * 0.1) | 1);
}

/** Separable Gaussian with reflected borders (torchvision's gaussian_blur), so flat regions stay flat. */
export function gaussianBlur(
  view: Float32Array,
  size: number,
  sigma: number,
  kernelSize = blurKernelSize(size),
): void {
  const radius = (kernelSize - 1) / 2;
  const kernel = new Float64Array(kernelSize);
  let total = 0;
  for (let k = 0; k < kernelSize; k++) {
    kernel[k] = Math.exp(-((k - radius) ** 2) / (2 * sigma * sigma));
    total += kernel[k]!;
  }
  for (let k = 0; k < kernelSize; k++) kernel[k]! /= total;

  const scratch = new Float32Array(view.length);
  convolveLines(view, scratch, size, kernel, 3, size * 3);
  convolveLines(scratch, view, size, kernel, size * 3, 3);
}

/**
 * One pass along the axis whose neighbours are `pixelStride` apart; `lineStride` walks the other axis.
 * Each line is first copied with its reflected margins, so the inner loop needs no bounds handling.
 */
function convolveLines(
  source: Float32Array,
  target: Float32Array,
  size: number,
  kernel: Float64Array,
  pixelStride: number,
  lineStride: number,
): void {
  const radius = (kernel.length - 1) / 2;
  const padded = new Float64Array((size + 2 * radius) * 3);
  for (let line = 0; line < size; line++) {
    const lineStart = line * lineStride;
    for (let i = 0; i < size + 2 * radius; i++) {
      const from = lineStart + reflect(i - radius, size) * pixelStride;
      padded[i * 3] = source[from]!;
      padded[i * 3 + 1] = source[from + 1]!;
      padded[i * 3 + 2] = source[from + 2]!;
    }
    for (let i = 0; i < size; i++) {
      let red = 0;
      let green = 0;
      let blue = 0;
      for (let k = 0; k < kernel.length; k++) {
        const weight = kernel[k]!;
        const at = (i + k) * 3;
        red += weight * padded[at]!;
        green += weight * padded[at + 1]!;
        blue += weight * padded[at + 2]!;
      }
      const to = lineStart + i * pixelStride;
      target[to] = red;
      target[to + 1] = green;
      target[to + 2] = blue;
    }
  }
}

function reflect(index: number, length: number): number {
  if (length === 1) return 0;
  const period = 2 * (length - 1);
  const folded = ((index % period) + period) % period;
  return folded < length ? folded : period - folded;
}

/** The evaluation view: the centre `size × size` of the cached image, as Resize + CenterCrop. */
export function centreView(image: DecodedImage, size: number, out: Float32Array): void {
  resizeCrop(image, centreCropBox(image.size, Math.min(size, image.size)), size, out);
}

/**
 * One augmented view into `out` (`size × size × 3`, floats in [0, 1]) in MoCo v2's order: crop, colour
 * jitter, grayscale, blur, flip. Each step's coin is drawn even when the step is disabled, so switching one
 * augmentation off leaves the others' randomness as it was.
 */
export function augmentView(
  image: DecodedImage,
  options: AugmentOptions,
  size: number,
  random: RandomStream,
  out: Float32Array,
): void {
  const { crop, colorJitter, grayscale, blur, flip } = options;
  if (random.chance(crop.prob) && crop.enabled) {
    resizeCrop(image, sampleCropBox(random, image.size, image.size, crop.scale, crop.ratio), size, out);
  } else {
    centreView(image, size, out);
  }
  if (random.chance(colorJitter.prob) && colorJitter.enabled) applyColorJitter(out, colorJitter, random);
  if (random.chance(grayscale.prob) && grayscale.enabled) toGrayscale(out);
  if (random.chance(blur.prob) && blur.enabled)
    gaussianBlur(out, size, random.uniform(blur.sigma[0], blur.sigma[1]));
  if (random.chance(flip.prob) && flip.enabled) flipHorizontal(out, size);
}

/** torchvision's ColorJitter: the four adjustments in a random order, each factor drawn once per view. */
function applyColorJitter(view: Float32Array, options: ColorJitterOptions, random: RandomStream): void {
  const order = random.shuffleInPlace([0, 1, 2, 3]);
  const factor = (strength: number) => random.uniform(Math.max(0, 1 - strength), 1 + strength);
  const brightness = factor(options.brightness);
  const contrast = factor(options.contrast);
  const saturation = factor(options.saturation);
  const hue = random.uniform(-options.hue, options.hue);
  for (const step of order) {
    if (step === 0 && options.brightness > 0) adjustBrightness(view, brightness);
    if (step === 1 && options.contrast > 0) adjustContrast(view, contrast);
    if (step === 2 && options.saturation > 0) adjustSaturation(view, saturation);
    if (step === 3 && options.hue > 0) adjustHue(view, hue);
  }
}
