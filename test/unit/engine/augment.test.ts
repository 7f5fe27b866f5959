import assert from 'node:assert/strict';
import {
  type AugmentOptions,
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  augmentView,
  blurKernelSize,
  centreView,
  gaussianBlur,
  mocoV2AugPlus,
  resizeCrop,
  sampleCropBox,
  toGrayscale,
} from '../../../src/engine/data/augment';
import type { DecodedImage } from '../../../src/engine/data/decode';
import { RandomStream } from '../../../src/engine/data/random';

const size = 16;

/** Every pixel and channel different, so mirroring, cropping and channel mixing all show. */
function patternImage(side = 20): DecodedImage {
  const pixels = new Uint8Array(side * side * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 37 + Math.floor(i / 7) * 11) % 256;
  return { size: side, pixels };
}

function allOff(): AugmentOptions {
  const options = mocoV2AugPlus();
  for (const block of Object.values(options)) block.enabled = false;
  return options;
}

function view(image: DecodedImage, options: AugmentOptions, seed = 1): Float32Array {
  const out = new Float32Array(size * size * 3);
  augmentView(image, options, size, new RandomStream(seed), out);
  return out;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-6): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i]! - expected[i]!) <= tolerance, `at ${i}: ${actual[i]} vs ${expected[i]}`);
  }
}

describe('augmentations', () => {
  const image = patternImage();

  it('with everything off, gives the centre crop', () => {
    const centre = new Float32Array(size * size * 3);
    centreView(image, size, centre);
    assert.deepEqual(view(image, allOff()), centre);
    // The centre 16 of 20 starts at (2, 2) and is not resampled.
    assert.equal(centre[0], Math.fround(image.pixels[(2 * 20 + 2) * 3]! / 255));
  });

  it('flip mirrors each row exactly', () => {
    const options = allOff();
    options.flip = { enabled: true, prob: 1 };
    const flipped = view(image, options);
    const plain = view(image, allOff());
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < 3; c++) {
          assert.equal(flipped[(y * size + x) * 3 + c], plain[(y * size + (size - 1 - x)) * 3 + c]);
        }
      }
    }
  });

  it('grayscale makes the three channels equal, with ITU-R 601-2 weights', () => {
    const options = allOff();
    options.grayscale = { enabled: true, prob: 1 };
    const gray = view(image, options);
    const plain = view(image, allOff());
    for (let i = 0; i < gray.length; i += 3) {
      assert.equal(gray[i], gray[i + 1]);
      assert.equal(gray[i], gray[i + 2]);
      assert.ok(
        Math.abs(gray[i]! - (0.2989 * plain[i]! + 0.587 * plain[i + 1]! + 0.114 * plain[i + 2]!)) < 1e-6,
      );
    }
  });

  it('a crop with scale [1, 1] and ratio [1, 1] is a resize of the whole image', () => {
    const options = allOff();
    options.crop = { enabled: true, prob: 1, scale: [1, 1], ratio: [1, 1] };
    const resized = new Float32Array(size * size * 3);
    resizeCrop(image, { top: 0, left: 0, height: 20, width: 20 }, size, resized);
    assert.deepEqual(view(image, options, 3), resized);
  });

  it('resizes bilinearly with half-pixel centres, as PyTorch with align_corners=False', () => {
    // Columns 0 and 255 upsampled to 4: samples at -0.25 (clamped), 0.25, 0.75 and 1.25 (clamped).
    const twoColumns: DecodedImage = {
      size: 2,
      pixels: Uint8Array.from([0, 0, 0, 255, 255, 255, 0, 0, 0, 255, 255, 255]),
    };
    const out = new Float32Array(4 * 4 * 3);
    resizeCrop(twoColumns, { top: 0, left: 0, height: 2, width: 2 }, 4, out);
    const firstRow = [0, 3, 6, 9].map((i) => out[i]!);
    assertClose(firstRow, [0, 0.25, 0.75, 1]);
  });

  it('samples crop boxes inside the image and falls back to a centre crop after ten misses', () => {
    const random = new RandomStream(5);
    for (let i = 0; i < 200; i++) {
      const box = sampleCropBox(random, 30, 40, [0.2, 1], [3 / 4, 4 / 3]);
      assert.ok(box.top >= 0 && box.left >= 0 && box.top + box.height <= 30 && box.left + box.width <= 40);
      const area = (box.height * box.width) / (30 * 40);
      assert.ok(area > 0.15 && area <= 1, `area ${area}`);
    }
    // No box of twice the image's area fits: the fallback keeps the full width and clamps to the ratio.
    assert.deepEqual(sampleCropBox(random, 30, 30, [2, 3], [2, 3]), {
      top: 7,
      left: 0,
      height: 15,
      width: 30,
    });
    assert.deepEqual(sampleCropBox(random, 30, 30, [2, 3], [3 / 4, 4 / 3]), {
      top: 0,
      left: 0,
      height: 30,
      width: 30,
    });
  });

  it('brightness scales and clips', () => {
    const pixels = Float32Array.from([0.2, 0.4, 0.8]);
    adjustBrightness(pixels, 0.5);
    assertClose(pixels, [0.1, 0.2, 0.4]);
    adjustBrightness(pixels, 3);
    assertClose(pixels, [0.3, 0.6, 1]);
    adjustBrightness(pixels, 0);
    assertClose(pixels, [0, 0, 0]);
  });

  it('contrast 0 gives the mean luma, saturation 0 gives grayscale, hue turns red into green', () => {
    const two = Float32Array.from([1, 0, 0, 0, 0, 1]);
    adjustContrast(two, 0);
    const meanLuma = (0.2989 + 0.114) / 2;
    assertClose(two, new Array(6).fill(meanLuma));

    const colours = Float32Array.from([0.9, 0.3, 0.1, 0.2, 0.5, 0.7]);
    const gray = colours.slice();
    toGrayscale(gray);
    adjustSaturation(colours, 0);
    assertClose(colours, gray);

    const red = Float32Array.from([1, 0, 0, 0.5, 0.25, 0.25]);
    adjustHue(red, 1 / 3);
    assertClose(red, [0, 1, 0, 0.25, 0.5, 0.25]);
    adjustHue(red, -1 / 3);
    assertClose(red, [1, 0, 0, 0.5, 0.25, 0.25]);
  });

  it('blur keeps a flat image flat and spreads a point symmetrically without losing light', () => {
    assert.equal(blurKernelSize(64), 7);
    assert.equal(blurKernelSize(224), 23);
    const flat = new Float32Array(size * size * 3).fill(0.37);
    gaussianBlur(flat, size, 1.7);
    assertClose(flat, new Float32Array(size * size * 3).fill(0.37));

    const point = new Float32Array(size * size * 3);
    point[(8 * size + 8) * 3] = 1;
    gaussianBlur(point, size, 1, 5);
    let total = 0;
    for (let i = 0; i < point.length; i += 3) total += point[i]!;
    assert.ok(Math.abs(total - 1) < 1e-6);
    assert.ok(Math.abs(point[(8 * size + 6) * 3]! - point[(8 * size + 10) * 3]!) < 1e-7);
    assert.ok(Math.abs(point[(6 * size + 8) * 3]! - point[(8 * size + 6) * 3]!) < 1e-7);
    assert.equal(point[(8 * size + 11) * 3], 0, 'nothing beyond the kernel radius');
  });

  it('the full MoCo v2 pipeline stays in [0, 1], repeats for a seed and varies across seeds', () => {
    const options = mocoV2AugPlus();
    const views = Array.from({ length: 50 }, (_, seed) => view(image, options, seed));
    for (const output of views) assert.ok(output.every((v) => v >= 0 && v <= 1));
    assert.deepEqual(view(image, options, 4), views[4]);
    assert.notDeepEqual(views[4], views[5]);
  });

  it('a disabled augmentation leaves the randomness of the others unchanged', () => {
    const withoutBlur = mocoV2AugPlus();
    withoutBlur.blur.enabled = false;
    withoutBlur.grayscale.enabled = false;
    withoutBlur.colorJitter.enabled = false;
    const onlyGeometry = allOff();
    onlyGeometry.crop = withoutBlur.crop;
    onlyGeometry.flip = withoutBlur.flip;
    for (let seed = 0; seed < 10; seed++)
      assert.deepEqual(view(image, withoutBlur, seed), view(image, onlyGeometry, seed));
  });
});
