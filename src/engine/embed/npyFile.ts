/** The element types SynthPair writes to `.npy`, by the typed array that holds them. */
type NpyArray = Float32Array | Int32Array | BigInt64Array;

function descriptorOf(values: NpyArray): string {
  if (values instanceof Float32Array) return '<f4';
  if (values instanceof Int32Array) return '<i4';
  return '<i8';
}

/**
 * `values` (row-major, as C orders them) as a NumPy `.npy` file, format version 1.0: the magic, a header
 * dict padded with spaces so the data starts at a multiple of 64 bytes, then the elements little-endian.
 * `numpy.load` reads it without pickle.
 */
export function encodeNpy(values: NpyArray, shape: readonly number[]): Buffer {
  const count = shape.reduce((product, size) => product * size, 1);
  if (count !== values.length) {
    throw new RangeError(`a ${shape.join('×')} array holds ${count} elements, not ${values.length}`);
  }
  // A 1-tuple needs its trailing comma in Python's syntax.
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${descriptorOf(values)}', 'fortran_order': False, 'shape': ${tuple}, }`;
  const prefixBytes = 10;
  const padded = dict.padEnd(Math.ceil((prefixBytes + dict.length + 1) / 64) * 64 - prefixBytes - 1) + '\n';
  if (padded.length > 0xffff) throw new RangeError(`an .npy 1.0 header cannot hold shape ${tuple}`);
  const header = Buffer.alloc(prefixBytes);
  header.write('\x93NUMPY', 0, 'latin1');
  header.writeUInt8(1, 6);
  header.writeUInt8(0, 7);
  header.writeUInt16LE(padded.length, 8);
  const data = Buffer.alloc(values.byteLength);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let index = 0; index < values.length; index++) {
    if (values instanceof BigInt64Array) view.setBigInt64(index * 8, values[index]!, true);
    else if (values instanceof Float32Array) view.setFloat32(index * 4, values[index]!, true);
    else view.setInt32(index * 4, values[index]!, true);
  }
  return Buffer.concat([header, Buffer.from(padded, 'latin1'), data]);
}
