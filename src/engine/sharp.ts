import type SharpModule from 'sharp';

let sharpModule: typeof SharpModule | undefined;

/**
 * The engine's one entry to sharp. It carries a native libvips per platform and is loaded when the first
 * image is read or written, so that a worker without it still starts, answers everything that touches no
 * image file, and says what is missing.
 */
export function loadSharp(): typeof SharpModule {
  if (!sharpModule) {
    try {
      sharpModule = require('sharp') as typeof SharpModule;
    } catch (error) {
      throw new Error(
        `reading and writing images needs the sharp package, which could not be loaded: ${(error as Error).message}`,
      );
    }
  }
  return sharpModule;
}
