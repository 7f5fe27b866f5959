import { readFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { DatasetError, listDataset } from '../data/datasets';
import { cacheSizeFor, type DecodedImage, decodeImage } from '../data/decode';
import type { SslMethod } from '../methods/method';
import { type LoadedRun, type LoadedRunKind, locateRunSources, type RunSources } from '../savedRun';
import { imageBytes } from '../synthesis/grid';
import { tf } from '../tf';
import { ExperimentInputError } from '../training/experiment';
import { methodFromCheckpoint } from '../training/runCheckpoint';
import { probeViews } from './analysisStep';
import { readAnalysisArray } from './artefacts';
import { type CamVariant, camVariants, gradCamOfMethod } from './gradcam';

/** The heat maps of one image of a run's data set, as the run's latest checkpoint sees it. */
export interface ImageHeatmap {
  imageFile: string;
  split: 'train' | 'test';
  /** The image's position in its split: the key of its augmented view's random stream. */
  position: number;
  /** Which of the analysis's probes the image is, when it is one. */
  probe: number | undefined;
  imageSize: number;
  /** The centre view the maps are of, as evaluation and the analysis see the image: S × S × 3 RGB bytes. */
  pixels: Uint8Array;
  /**
   * Each map of the centre view, S × S in [0, 1]: upsampled from the feature map and divided by its maximum,
   * as the analysis's `heatmap.*` arrays are.
   */
  maps: Record<CamVariant['name'], Float32Array>;
  /** L_C of the batch the maps were differentiated in, and how many images that batch held. */
  loss: number;
  batchImages: number;
}

/**
 * A trained run held ready to draw the Grad-CAM of any image of its data set: the online networks with the
 * latest checkpoint's weights, and the latest analysis's probe views, which every image is differentiated
 * together with.
 *
 * Why a batch of probes: the SSL loss of contrastive methods scores an image's two views against the other
 * images of the batch (SimCLR's NT-Xent has no negatives in a batch of one, so its loss and every gradient
 * would be 0). The analysis's probe heat maps are the Grad-CAM of exactly such a batch, the probes' own, in
 * evaluation mode. An image is therefore put in that batch — in its own slot when it is a probe, so the batch
 * is the analysis's, and appended otherwise — and only its own maps are returned: a probe's map equals the
 * analysis's, and any other image's map is measured against the same negatives. The probe views come from
 * the analysis as bytes, so the other probes differ from the analysis's by that rounding.
 */
export class RunHeatmapper implements LoadedRun {
  private disposed = false;

  private constructor(
    readonly sources: RunSources,
    private readonly method: SslMethod,
    /** The analysis's probe views, [P, S, S, 3] bytes: view 1 the centre view, view 2 the augmented one. */
    private readonly probeCentre: Uint8Array,
    private readonly probeAugmented: Uint8Array,
  ) {}

  /**
   * Loads what {@link locateHeatmapSources} found. Builds tf.Variables named as training names them and keeps
   * them until {@link dispose}, so no other model of the same names may live in the process meanwhile.
   */
  static async fromSources(sources: RunSources): Promise<RunHeatmapper> {
    const { config, runDir, analysis } = sources;
    const [probeCentre, probeAugmented] = (await Promise.all([
      readAnalysisArray(analysis, 'probes.centre'),
      readAnalysisArray(analysis, 'probes.augmented'),
    ])) as [Uint8Array, Uint8Array];
    const method = await methodFromCheckpoint(config, path.join(runDir, 'checkpoints'), sources.checkpoint);
    return new RunHeatmapper(sources, method, probeCentre, probeAugmented);
  }

  get imageSize(): number {
    return this.sources.config.data.imageSize;
  }

  get probes(): number {
    return this.sources.analysis.manifest.probes.testPositions.length;
  }

  /**
   * The maps of `imageFile`, which must be an image of the run's data set: it is decoded, resized and
   * centre-cropped as evaluation does, and its augmented view is the one the analysis would draw for it as a
   * probe. Refuses an image neither split lists, and one that cannot be decoded.
   */
  async heatmapOf(imageFile: string): Promise<ImageHeatmap> {
    if (this.disposed) {
      throw new Error(`the heat-map model of ${this.sources.runDir} has been disposed`);
    }
    const { config } = this.sources;
    const size = this.imageSize;
    const { split, position } = await this.locateImage(imageFile);
    const image = await decode(imageFile, cacheSizeFor(size));

    const viewLength = size * size * 3;
    const centre = new Float32Array(viewLength);
    const augmented = new Float32Array(viewLength);
    probeViews(image, position, config, { centre, augmented });
    const pixels = imageBytes(centre);
    const probe = split === 'test' ? this.probeWithPixels(pixels) : undefined;

    const slot = probe ?? this.probes;
    const batchImages = probe === undefined ? this.probes + 1 : this.probes;
    const batchView = (probeBytes: Uint8Array, view: Float32Array) => {
      const batch = new Float32Array(batchImages * viewLength);
      for (let index = 0; index < probeBytes.length; index++) batch[index] = probeBytes[index]! / 255;
      batch.set(view, slot * viewLength);
      return tf.tensor4d(batch, [batchImages, size, size, 3]);
    };
    const views: [tf.Tensor4D, tf.Tensor4D] = [
      batchView(this.probeCentre, centre),
      batchView(this.probeAugmented, augmented),
    ];
    try {
      // Evaluation mode, as the analysis draws the probes' maps: no batch-norm moments couple the images.
      const cam = await gradCamOfMethod(this.method, views, 'eval');
      const pixelsPerMap = size * size;
      const maps = Object.fromEntries(
        camVariants.map((variant) => [
          variant.name,
          cam.views[0][variant.name].normalised.slice(slot * pixelsPerMap, (slot + 1) * pixelsPerMap),
        ]),
      ) as ImageHeatmap['maps'];
      return {
        imageFile,
        split,
        position,
        probe,
        imageSize: size,
        pixels,
        maps,
        loss: cam.loss,
        batchImages,
      };
    } finally {
      tf.dispose(views);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.method.dispose();
  }

  /** Where the data set lists the image: its split and position there, which key its augmented view. */
  private async locateImage(imageFile: string): Promise<{ split: 'train' | 'test'; position: number }> {
    const { root, layout } = this.sources.config.data;
    const listing = await listDataset(root, layout).catch((error: unknown) => {
      throw error instanceof DatasetError
        ? new ExperimentInputError(
            `the data set of ${this.sources.runDir} cannot be listed: ${error.message}`,
          )
        : error;
    });
    // The file may be named through a link the listing does not follow, or the other way round.
    const names = new Set([path.resolve(imageFile), await realpath(imageFile).catch(() => imageFile)]);
    for (const split of ['test', 'train'] as const) {
      const position = listing[split].findIndex((sample) => names.has(sample.path));
      if (position >= 0) return { split, position };
    }
    throw new ExperimentInputError(
      `${imageFile}: not an image of the data set ${this.sources.runDir} was trained on (neither the train nor the test split of ${root} lists it)`,
    );
  }

  /** The probe whose saved centre view has exactly these bytes: the analysis saved the same view rounded. */
  private probeWithPixels(pixels: Uint8Array): number | undefined {
    for (let probe = 0; probe < this.probes; probe++) {
      const saved = this.probeCentre.subarray(probe * pixels.length, (probe + 1) * pixels.length);
      if (saved.every((value, index) => value === pixels[index])) return probe;
    }
    return undefined;
  }
}

async function decode(imageFile: string, size: number): Promise<DecodedImage> {
  const bytes = await readFile(imageFile);
  // The bytes, as the image cache decodes them, so the pixels are those training and the analysis saw.
  return decodeImage(bytes, size).catch((error: unknown) => {
    const reason = (error instanceof Error ? error.message : String(error)).split('\n')[0];
    throw new ExperimentInputError(`${imageFile}: cannot be decoded (${reason})`);
  });
}

/**
 * Finds the checkpoint and analysis the heat maps of a run are drawn with. A run another process trains is
 * read too: its latest checkpoint and analysis are complete, and the maps say which epoch they show.
 */
export function locateHeatmapSources(runDir: string): Promise<RunSources> {
  return locateRunSources(runDir, { purpose: 'draw heat maps of', whileTraining: 'read' });
}

/** How the worker's {@link LoadedRunCache} finds and opens a heat-map model. */
export const heatmapperKind: LoadedRunKind<RunHeatmapper> = {
  name: 'heatmapper',
  locate: locateHeatmapSources,
  open: (sources) => RunHeatmapper.fromSources(sources),
  keepsVariables: true,
};
