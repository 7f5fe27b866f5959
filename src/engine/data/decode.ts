import { loadSharp } from '../sharp';

/**
 * Bumped whenever decoding changes what it produces (kernel, alpha handling, crop), so caches written by
 * an older version are never read as if they were current.
 */
export const DECODER_VERSION = 1;

/** Pixels of one decoded image: `size × size × 3` RGB bytes, row-major, channels last. */
export interface DecodedImage {
  size: number;
  pixels: Uint8Array;
}

/**
 * The side of the square images kept in the cache for a given training size: the standard 256 → 224
 * ratio, so random resized crops have a margin of pixels to draw from and evaluation takes the same
 * centre crop as torchvision's Resize(256) + CenterCrop(224).
 */
export function cacheSizeFor(imageSize: number): number {
  return Math.round((imageSize * 256) / 224);
}

/**
 * Decodes a JPEG or PNG into a square RGB image of `size`: EXIF orientation applied, the shorter side
 * resized to `size` and the centre cropped, greyscale expanded to three channels, CMYK and 16-bit
 * converted to 8-bit sRGB. Alpha is dropped rather than composited, as torchvision's loader does with
 * PIL's `convert('RGB')`, so features match a PyTorch run on the same files.
 *
 * Throws for unreadable data, including truncated files: sharp's default `failOn: 'warning'` turns
 * libjpeg's "premature end of data" into an error instead of a half-grey image.
 */
export async function decodeImage(input: string | Buffer, size: number): Promise<DecodedImage> {
  const { data, info } = await loadSharp()(input, { failOn: 'warning' })
    .autoOrient()
    .removeAlpha()
    .toColourspace('srgb')
    .resize(size, size, { fit: 'cover', position: 'centre' })
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.width !== size || info.height !== size || info.channels !== 3 || data.length !== size * size * 3) {
    throw new Error(
      `decoder produced ${info.width}×${info.height}×${info.channels}, expected ${size}×${size}×3`,
    );
  }
  return { size, pixels: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}
