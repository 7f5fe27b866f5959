import { promises as fs } from 'node:fs';
import path from 'node:path';
import { encode } from 'fast-png';
import { uniformFloat64 } from 'pure-rand/distribution/uniformFloat64';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';

/**
 * A small generated ImageFolder dataset of drawn "specimens" for trying SynthPair without downloading
 * anything. It is fine-grained on purpose: the species of a genus share body, colours and pose, and differ
 * only in a detail (a band count, where a spot sits, a ring instead of a disc, the hue of the eye spots), so
 * colour statistics alone do not tell them apart while a feature that looks at the pattern does.
 *
 * Runs in the extension host, so it uses pure-JS packages only: no sharp, no TF.js.
 */

/** Bump whenever a drawing change alters the pixels a seed gives; the dataset's README records it. */
export const EXAMPLE_DATASET_VERSION = 1;

const EXAMPLE_IMAGE_SIZE = 64;

export interface ExampleDatasetOptions {
  /** Same seed, same bytes. Default 0. */
  seed?: number;
  /** Default 20. */
  trainPerClass?: number;
  /** Default 8. */
  testPerClass?: number;
}

export interface ExampleDatasetSummary {
  root: string;
  classes: string[];
  trainImages: number;
  testImages: number;
  imageSize: number;
  seed: number;
  generatorVersion: number;
}

type Hsv = readonly [hue: number, saturation: number, value: number];

// Constant colours, so that painting a sample allocates nothing: it runs 16 384 times per image.
const palette = {
  beetle: [0.07, 0.88, 0.92],
  band: [0.05, 0.7, 0.2],
  paleSpot: [0.14, 0.35, 1],
  head: [0.05, 0.5, 0.15],
  wing: [0.49, 0.6, 0.8],
  wingEdge: [0.5, 0.55, 0.45],
  thorax: [0.08, 0.4, 0.25],
  eyeSpot: [0.55, 0.5, 0.12],
  rustSpot: [0.03, 0.85, 0.5],
} satisfies Record<string, Hsv>;

/** Banded beetles: an orange body crossed by dark bands, sometimes with a pale spot. */
interface Striola {
  genus: 'striola';
  name: string;
  bands: number;
  spot?: 'fore' | 'hind';
  detail: string;
}

/** Teal moths with an eye spot on each wing. */
interface Ocellia {
  genus: 'ocellia';
  name: string;
  /** Height of the eye spots, in the specimen's frame (−1 top, 1 bottom). */
  spotY: number;
  ring: boolean;
  spotColour: Hsv;
  detail: string;
}

type Species = Striola | Ocellia;

// Left–right symmetric designs only: the horizontal flip augmentation must not turn one species into another.
const species: readonly Species[] = [
  {
    genus: 'ocellia',
    name: 'ocellia-alta',
    spotY: -0.22,
    ring: false,
    spotColour: palette.eyeSpot,
    detail: 'dark eye spots high on the wings',
  },
  {
    genus: 'ocellia',
    name: 'ocellia-anularis',
    spotY: 0.12,
    ring: true,
    spotColour: palette.eyeSpot,
    detail: 'ringed eye spots with a pale centre, mid-wing',
  },
  {
    genus: 'ocellia',
    name: 'ocellia-bioculata',
    spotY: 0.12,
    ring: false,
    spotColour: palette.eyeSpot,
    detail: 'solid dark eye spots mid-wing',
  },
  {
    genus: 'ocellia',
    name: 'ocellia-rufa',
    spotY: 0.12,
    ring: false,
    spotColour: palette.rustSpot,
    detail: 'rust-red eye spots mid-wing',
  },
  {
    genus: 'striola',
    name: 'striola-caudata',
    bands: 3,
    spot: 'hind',
    detail: 'three bands, pale spot at the tail',
  },
  {
    genus: 'striola',
    name: 'striola-punctata',
    bands: 3,
    spot: 'fore',
    detail: 'three bands, pale spot at the front',
  },
  { genus: 'striola', name: 'striola-quadrifasciata', bands: 4, detail: 'four dark bands' },
  { genus: 'striola', name: 'striola-trifasciata', bands: 3, detail: 'three dark bands' },
];

/** Per-image variation, drawn once per image so every sample of a pixel agrees on it. */
interface Look {
  cos: number;
  sin: number;
  scale: number;
  dx: number;
  dy: number;
  hueShift: number;
  saturation: number;
  brightness: number;
  bandWidth: number;
  background: Hsv;
  /** A coarse grid of brightness offsets, bilinearly interpolated into a mottled ground. */
  mottle: Float64Array;
  light: readonly [number, number];
}

const mottleCells = 6;

function drawLook(random: () => number): Look {
  const angle = (random() - 0.5) * 0.7;
  const mottle = new Float64Array((mottleCells + 1) ** 2);
  for (let i = 0; i < mottle.length; i++) mottle[i] = (random() - 0.5) * 0.25;
  return {
    cos: Math.cos(angle),
    sin: Math.sin(angle),
    scale: 0.82 + random() * 0.26,
    dx: (random() - 0.5) * 0.22,
    dy: (random() - 0.5) * 0.22,
    hueShift: (random() - 0.5) * 0.05,
    saturation: 0.85 + random() * 0.25,
    brightness: 0.85 + random() * 0.25,
    bandWidth: 0.9 + random() * 0.2,
    // Leaf litter to moss: earthy, never the specimens' own orange or teal.
    background: [0.09 + random() * 0.16, 0.25 + random() * 0.3, 0.3 + random() * 0.3],
    mottle,
    light: [(random() - 0.5) * 0.3, (random() - 0.5) * 0.3],
  };
}

/** The specimen's colour at (u, v) in its own frame (head up, about unit half-length), or undefined off it. */
function specimenColour(kind: Species, u: number, v: number, look: Look): Hsv | undefined {
  return kind.genus === 'striola' ? striolaColour(kind, u, v, look) : ocelliaColour(kind, u, v);
}

/** Where each leg leaves the body and where it ends, along the body's axis. */
const legs = [
  [-0.3, -0.5],
  [0.1, 0.1],
  [0.45, 0.7],
] as const;

function striolaColour(kind: Striola, u: number, v: number, look: Look): Hsv | undefined {
  if ((u / 0.4) ** 2 + ((v - 0.12) / 0.66) ** 2 <= 1) {
    if (kind.spot) {
      const spotV = kind.spot === 'fore' ? -0.3 : 0.56;
      if (u * u + (v - spotV) ** 2 < 0.12 ** 2) return palette.paleSpot;
    }
    // The bands cover the same share of the body whatever their number, so that the four-band species
    // has the three-band one's mean colour and differs only in the pattern.
    const top = -0.36;
    const period = 0.98 / kind.bands;
    const phase = (v - top) / period;
    const inBand =
      phase >= 0 && phase < kind.bands && Math.abs(phase - Math.floor(phase) - 0.5) < 0.27 * look.bandWidth;
    return inBand ? palette.band : palette.beetle;
  }
  if (u * u + (v + 0.64) ** 2 < 0.17 ** 2) return palette.head;
  const au = Math.abs(u);
  if (au > 0.68) return undefined;
  for (const leg of legs) {
    if (segmentDistance(au, v, 0.3, leg[0], 0.62, leg[1]) < 0.03) return palette.head;
  }
  return undefined;
}

function ocelliaColour(kind: Ocellia, u: number, v: number): Hsv | undefined {
  if ((u / 0.1) ** 2 + (v / 0.62) ** 2 <= 1) return palette.thorax;
  const au = Math.abs(u);
  const wing = ((au - 0.42) / 0.4) ** 2 + ((v + 0.02) / 0.56) ** 2;
  if (wing > 1) return undefined;
  const spot = (au - 0.42) ** 2 + (v - kind.spotY) ** 2;
  if (spot < 0.14 ** 2 && !(kind.ring && spot < 0.075 ** 2)) return kind.spotColour;
  return wing > 0.78 ? palette.wingEdge : palette.wing;
}

function segmentDistance(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const ex = bx - ax;
  const ey = by - ay;
  const t = Math.min(1, Math.max(0, ((px - ax) * ex + (py - ay) * ey) / (ex * ex + ey * ey)));
  const dx = px - ax - t * ex;
  const dy = py - ay - t * ey;
  return Math.sqrt(dx * dx + dy * dy);
}

/** Adds the RGB of a colour to `sum`, in place. */
function addRgb(hue: number, saturation: number, value: number, sum: Float64Array): void {
  const h = (((hue % 1) + 1) % 1) * 6;
  const s = Math.min(1, Math.max(0, saturation));
  const v = Math.min(1, Math.max(0, value));
  for (let c = 0; c < 3; c++) {
    const k = (5 - 2 * c + h) % 6;
    sum[c] += v - v * s * Math.max(0, Math.min(k, 4 - k, 1));
  }
}

function mottleAt(look: Look, x: number, y: number): number {
  const gx = x * mottleCells;
  const gy = y * mottleCells;
  const i = Math.min(mottleCells - 1, Math.floor(gx));
  const j = Math.min(mottleCells - 1, Math.floor(gy));
  const fx = gx - i;
  const fy = gy - j;
  const row = mottleCells + 1;
  const m = look.mottle;
  const top = m[j * row + i]! * (1 - fx) + m[j * row + i + 1]! * fx;
  const bottom = m[(j + 1) * row + i]! * (1 - fx) + m[(j + 1) * row + i + 1]! * fx;
  return top * (1 - fy) + bottom * fy;
}

// 2×2 samples per pixel smooth the outlines, so that edges are not aliased differently per pose.
const subsamples = [0.25, 0.75];

function renderImage(kind: Species, random: () => number, size: number): Uint8Array {
  const look = drawLook(random);
  const pixels = new Uint8Array(size * size * 3);
  const sum = new Float64Array(3);
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      sum.fill(0);
      for (const sy of subsamples) {
        for (const sx of subsamples) {
          const x = (px + sx) / size;
          const y = (py + sy) / size;
          const light = 1 + look.light[0] * (x - 0.5) + look.light[1] * (y - 0.5);
          // Image coordinates in [−1, 1] → the specimen's frame: undo the offset, the turn and the scale.
          const cx = x * 2 - 1 - look.dx;
          const cy = y * 2 - 1 - look.dy;
          const u = (look.cos * cx + look.sin * cy) / look.scale;
          const v = (-look.sin * cx + look.cos * cy) / look.scale;
          const own = specimenColour(kind, u, v, look);
          if (own) {
            // Darker towards the outline, for a rounded body.
            const rounding = 1 - 0.22 * (u * u + v * v);
            const value = own[2] * look.brightness * rounding * light;
            addRgb(own[0] + look.hueShift, own[1] * look.saturation, value, sum);
          } else {
            const ground = look.background;
            addRgb(ground[0], ground[1], (ground[2] + mottleAt(look, x, y)) * light, sum);
          }
        }
      }
      const offset = (py * size + px) * 3;
      for (let c = 0; c < 3; c++) {
        // Sensor noise: triangular, at most ±8 grey levels.
        const noise = (random() + random() - 1) * 8;
        pixels[offset + c] = Math.round(Math.min(255, Math.max(0, (sum[c] / 4) * 255 + noise)));
      }
    }
  }
  return pixels;
}

/** One stream per image, keyed by its place, so changing one split's count leaves every other image as it was. */
function imageRandom(seed: number, classIndex: number, split: number, index: number): () => number {
  let hash = 0x9e3779b9;
  for (const part of [seed, classIndex, split, index]) {
    hash = Math.imul(hash ^ (part >>> 0), 0x85ebca6b);
    hash ^= hash >>> 13;
    hash = Math.imul(hash, 0xc2b2ae35);
    hash ^= hash >>> 16;
  }
  const generator = xoroshiro128plus(hash | 0);
  return () => uniformFloat64(generator);
}

function checkCount(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 1000) {
    throw new RangeError(`${name} must be an integer from 1 to 1000, got ${value}`);
  }
  return value;
}

/**
 * Writes `<root>/train/<class>/*.png`, `<root>/test/<class>/*.png`, a README.md and a LICENSE (CC0-1.0).
 * The folder appears whole or not at all: it is built in a hidden sibling and renamed into place, because a
 * half-written `train/` + `test/` would later be taken for the workspace's data. `root` must not exist.
 */
export async function writeExampleDataset(
  root: string,
  options: ExampleDatasetOptions = {},
): Promise<ExampleDatasetSummary> {
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed) || seed < 0 || seed > 2 ** 31 - 1) {
    throw new RangeError(`seed must be an integer from 0 to 2147483647, got ${seed}`);
  }
  const counts = {
    train: checkCount('trainPerClass', options.trainPerClass ?? 20),
    test: checkCount('testPerClass', options.testPerClass ?? 8),
  };
  const target = path.resolve(root);
  if (await pathExists(target))
    throw new Error(`${target} already exists; the example dataset needs a new folder`);
  await fs.mkdir(path.dirname(target), { recursive: true });
  const staging = await fs.mkdtemp(path.join(path.dirname(target), `.${path.basename(target)}-`));
  try {
    for (const [splitIndex, split] of (['train', 'test'] as const).entries()) {
      for (const [classIndex, kind] of species.entries()) {
        const folder = path.join(staging, split, kind.name);
        await fs.mkdir(folder, { recursive: true });
        const writes: Promise<void>[] = [];
        for (let index = 0; index < counts[split]; index++) {
          const random = imageRandom(seed, classIndex, splitIndex, index);
          const data = renderImage(kind, random, EXAMPLE_IMAGE_SIZE);
          const png = encode({
            width: EXAMPLE_IMAGE_SIZE,
            height: EXAMPLE_IMAGE_SIZE,
            data,
            channels: 3,
            depth: 8,
          });
          const file = path.join(folder, `${kind.name}-${String(index + 1).padStart(3, '0')}.png`);
          writes.push(fs.writeFile(file, png));
        }
        await Promise.all(writes);
      }
    }
    await fs.writeFile(path.join(staging, 'README.md'), readme(seed, counts));
    await fs.writeFile(path.join(staging, 'LICENSE'), licence);
    await fs.rename(staging, target);
  } catch (error) {
    await fs.rm(staging, { recursive: true, force: true });
    throw error;
  }
  return {
    root: target,
    classes: species.map((kind) => kind.name),
    trainImages: counts.train * species.length,
    testImages: counts.test * species.length,
    imageSize: EXAMPLE_IMAGE_SIZE,
    seed,
    generatorVersion: EXAMPLE_DATASET_VERSION,
  };
}

/** Whether anything (file, folder, link) is at `file`. */
export async function pathExists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch {
    return false;
  }
}

function readme(seed: number, counts: { train: number; test: number }): string {
  const rows = species.map((kind) => `| \`${kind.name}\` | ${kind.genus} | ${kind.detail} |`);
  return `# SynthPair example specimens

Generated by SynthPair: example dataset generator version ${EXAMPLE_DATASET_VERSION}, seed ${seed}.
No image comes from a photograph or another dataset; the same version and seed give the same files,
byte for byte.

${species.length} classes of drawn specimens, ${counts.train} training and ${counts.test} test images each.
Images are ${EXAMPLE_IMAGE_SIZE}×${EXAMPLE_IMAGE_SIZE} RGB PNG files in the ImageFolder layout SynthPair reads
(\`train/<class>/*.png\`, \`test/<class>/*.png\`). Every image has its own pose (turn, scale, offset),
colour jitter, mottled background, lighting and pixel noise.

The classes are fine-grained on purpose: the species of a genus share body, colours and pose range and
differ in one detail, so the mean colour of an image does not tell them apart. The designs are symmetric
left to right, so a horizontal flip keeps the class.

| class | genus | distinguishing detail |
| --- | --- | --- |
${rows.join('\n')}

## Licence

CC0-1.0: dedicated to the public domain under the Creative Commons CC0 1.0 Universal Public Domain
Dedication. See [LICENSE](LICENSE).
`;
}

const licence = `CC0 1.0 Universal (CC0-1.0) Public Domain Dedication

The images in this folder were generated by SynthPair. To the extent possible under law, the
authors of SynthPair have waived all copyright and related or neighboring rights to these generated
images and this description, dedicating them to the public domain worldwide. They are distributed
without any warranty.

You can copy, modify, distribute and use the images, even for commercial purposes, all without
asking permission.

Full legal code: https://creativecommons.org/publicdomain/zero/1.0/legalcode
Summary:         https://creativecommons.org/publicdomain/zero/1.0/
`;
