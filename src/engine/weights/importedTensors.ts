/**
 * Tensors read from another framework's weights file, before they are matched to SynthPair's parameters.
 * Values are float32 whatever the file stored: SynthPair trains in float32, and the integer tensors such files
 * carry (batch norm's `num_batches_tracked`) are small counts.
 */
export interface ImportedTensor {
  /** In the file's own layout: PyTorch's (out, in, h, w) for a convolution kernel. */
  shape: number[];
  /** The element type the file stored, for messages. */
  storedAs: StoredDtype;
  values: Float32Array;
}

export type ImportedTensors = Map<string, ImportedTensor>;

/**
 * Tensors for another framework's weights file, row-major in that framework's layout: float32 as SynthPair
 * keeps them, int64 for the counters PyTorch keeps as integers.
 */
export type ExportedTensors = Map<string, { shape: readonly number[]; values: Float32Array | BigInt64Array }>;

export const storedDtypes = [
  'float32',
  'float64',
  'float16',
  'bfloat16',
  'int64',
  'int32',
  'int16',
  'int8',
  'uint8',
  'bool',
] as const;
export type StoredDtype = (typeof storedDtypes)[number];

export const bytesPerElement: Record<StoredDtype, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

/** A weights file that cannot be read as one, or holds something SynthPair refuses; names the file. */
export class WeightsFileError extends Error {
  override readonly name = 'WeightsFileError';
}

/**
 * Refuses weights that do not fit with every problem found, the first eight in full: one missing block is
 * clear from them, and a wrong width would otherwise list every tensor.
 */
export function throwIfMisfit(what: string, problems: readonly string[]): void {
  if (problems.length === 0) return;
  const shown = problems.slice(0, 8);
  const more = problems.length > shown.length ? `; and ${problems.length - shown.length} more` : '';
  throw new WeightsFileError(`${what}: ${shown.join('; ')}${more}`);
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, size) => product * size, 1);
}

/**
 * `count` elements of `dtype` from little-endian `bytes`, starting `offset` elements in, as float32. The bytes
 * may start anywhere in their buffer: they are read through a DataView, not reinterpreted in place.
 */
export function readElements(
  bytes: Uint8Array,
  dtype: StoredDtype,
  offset: number,
  count: number,
): Float32Array {
  const size = bytesPerElement[dtype];
  const start = offset * size;
  if (start + count * size > bytes.byteLength) {
    throw new RangeError(
      `needs ${start + count * size} bytes of ${dtype}, the data holds ${bytes.byteLength}`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + start, count * size);
  const values = new Float32Array(count);
  for (let index = 0; index < count; index++) {
    const at = index * size;
    switch (dtype) {
      case 'float32':
        values[index] = view.getFloat32(at, true);
        break;
      case 'float64':
        values[index] = view.getFloat64(at, true);
        break;
      case 'float16':
        values[index] = halfToFloat(view.getUint16(at, true));
        break;
      case 'bfloat16':
        // bfloat16 is the high half of a float32.
        values[index] = bfloatToFloat(view.getUint16(at, true));
        break;
      case 'int64':
        values[index] = Number(view.getBigInt64(at, true));
        break;
      case 'int32':
        values[index] = view.getInt32(at, true);
        break;
      case 'int16':
        values[index] = view.getInt16(at, true);
        break;
      case 'int8':
        values[index] = view.getInt8(at);
        break;
      case 'uint8':
      case 'bool':
        values[index] = view.getUint8(at);
        break;
    }
  }
  return values;
}

const scratch = new DataView(new ArrayBuffer(4));

function bfloatToFloat(bits: number): number {
  scratch.setUint32(0, bits << 16);
  return scratch.getFloat32(0);
}

/** IEEE 754 binary16 to a number: subnormals, infinities and NaN included. */
function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}
