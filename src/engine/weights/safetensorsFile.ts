import * as z from 'zod/mini';
import { validateMessage } from '../../shared/protocol/validate';
import {
  bytesPerElement,
  type ExportedTensors,
  elementCount,
  type ImportedTensors,
  readElements,
  type StoredDtype,
  WeightsFileError,
} from './importedTensors';

/** safetensors' dtype names, of those SynthPair reads. */
const dtypes: Record<string, StoredDtype> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};

const entrySchema = z.object({
  dtype: z.string(),
  shape: z.array(z.int().check(z.nonnegative())),
  data_offsets: z.tuple([z.int().check(z.nonnegative()), z.int().check(z.nonnegative())]),
});

/** The format's own limit on its header, which also keeps a corrupt length from allocating gigabytes. */
const maxHeaderBytes = 100_000_000;

/**
 * Reads a `.safetensors` file (as timm and Hugging Face publish weights): an 8-byte little-endian header length,
 * a JSON header naming each tensor's dtype, shape and byte range, then the bytes. Nothing in it can run.
 */
export function readSafetensorsFile(file: string, bytes: Uint8Array): ImportedTensors {
  if (bytes.byteLength < 8) throw new WeightsFileError(`${file}: too short to be a safetensors file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerBytes = Number(view.getBigUint64(0, true));
  if (headerBytes > maxHeaderBytes || 8 + headerBytes > bytes.byteLength) {
    throw new WeightsFileError(
      `${file}: not a safetensors file (its header would be ${headerBytes} bytes long, the file is ${bytes.byteLength})`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerBytes)));
  } catch (error) {
    throw new WeightsFileError(`${file}: its header is not JSON (${(error as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new WeightsFileError(`${file}: its header is not a JSON object`);
  }
  const data = bytes.subarray(8 + headerBytes);
  const tensors: ImportedTensors = new Map();
  for (const [name, value] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const entry = validateMessage(entrySchema, value);
    if (!entry.ok)
      throw new WeightsFileError(`${file}: the header's entry ${name} is malformed (${entry.reason})`);
    const {
      dtype: stored,
      shape,
      data_offsets: [start, end],
    } = entry.value;
    const dtype = dtypes[stored];
    if (!dtype)
      throw new WeightsFileError(`${file}: ${name} is stored as ${stored}, which SynthPair does not read`);
    const count = elementCount(shape);
    const expected = count * bytesPerElement[dtype];
    if (end < start || end > data.byteLength || end - start !== expected) {
      throw new WeightsFileError(
        `${file}: ${name} (${shape.join('×')}, ${stored}) claims bytes ${start}–${end} of ${data.byteLength}; it needs ${expected}`,
      );
    }
    tensors.set(name, {
      shape,
      storedAs: dtype,
      values: readElements(data.subarray(start, end), dtype, 0, count),
    });
  }
  return tensors;
}

/** Little-endian bytes of a tensor's elements. */
export function elementBytes(values: Float32Array | BigInt64Array): Buffer {
  const bytes = Buffer.alloc(values.byteLength);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let index = 0; index < values.length; index++) {
    if (values instanceof BigInt64Array) view.setBigInt64(index * 8, values[index]!, true);
    else view.setFloat32(index * 4, values[index]!, true);
  }
  return bytes;
}

/**
 * `tensors` as a `.safetensors` file, in their order: the header's JSON padded with spaces to a multiple of
 * 8 bytes, as the format's own writer aligns the data, and `metadata` as its `__metadata__`.
 */
export function encodeSafetensorsFile(tensors: ExportedTensors, metadata: Record<string, string>): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  const blobs: Buffer[] = [];
  let offset = 0;
  for (const [name, { shape, values }] of tensors) {
    const blob = elementBytes(values);
    header[name] = {
      dtype: values instanceof BigInt64Array ? 'I64' : 'F32',
      shape,
      data_offsets: [offset, offset + blob.byteLength],
    };
    blobs.push(blob);
    offset += blob.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const text = Buffer.concat([json, Buffer.alloc(-json.byteLength & 7, ' ')]);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(text.byteLength));
  return Buffer.concat([length, text, ...blobs]);
}
