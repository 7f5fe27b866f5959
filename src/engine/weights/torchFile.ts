import { Parser } from 'pickleparser';
import yauzl from 'yauzl';
import {
  elementCount,
  type ImportedTensor,
  type ImportedTensors,
  readElements,
  type StoredDtype,
  WeightsFileError,
} from './importedTensors';

type ParserOptions = NonNullable<ConstructorParameters<typeof Parser>[0]>;
type NameResolver = NonNullable<ParserOptions['nameResolver']>;
type PersistentResolver = NonNullable<ParserOptions['persistentResolver']>;

/** The storage classes `torch.save` names, by the element type they hold. */
const storageTypes: Record<string, StoredDtype> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

/**
 * The storage classes as the pickle's globals resolve, each a function of its own: a persistent id carries the
 * class itself, not an instance, so the class is how the id says its element type.
 */
const storageClasses = new Map<unknown, StoredDtype>(
  Object.values(storageTypes).map((dtype) => [function storageClass() {}, dtype]),
);

/** One storage of the archive: `data/<key>`, read when a tensor is rebuilt from it. */
class StorageRef {
  constructor(
    readonly dtype: StoredDtype,
    readonly key: string,
    readonly bytes: Uint8Array,
  ) {}
}

/** A tensor as `torch._utils._rebuild_tensor_v2` describes it: a strided view of a storage. */
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

/**
 * `collections.OrderedDict`, which state dicts are. `torch.save` sets its `_metadata` (per-module versions)
 * through pickle's BUILD, which calls this `__setstate__` rather than copying keys onto the object.
 */
class OrderedDict extends Map<unknown, unknown> {
  __setstate__(_state: unknown): void {}
}

/**
 * Reads a PyTorch file written by `torch.save` (the zip format, PyTorch 1.6 and later) without running any of
 * it. The pickle inside may name only what a state dict needs (tensors, their storages, OrderedDict, Python's
 * containers); any other global, such as `os.system` in a crafted file, is refused before anything is built.
 * Returns every tensor under its key, from a bare state dict or from a checkpoint that holds one under
 * `state_dict` or `model`, with a `module.` prefix (from DataParallel) taken off.
 */
export async function readTorchFile(file: string, bytes: Uint8Array): Promise<ImportedTensors> {
  const entries = await zipEntries(file, bytes);
  const picklePath = [...entries.keys()].find((name) => /^[^/]+\/data\.pkl$/.test(name));
  if (!picklePath) {
    throw new WeightsFileError(
      `${file}: a zip archive, but not one torch.save wrote (it has no <name>/data.pkl)`,
    );
  }
  const archive = picklePath.slice(0, -'data.pkl'.length);
  const byteOrder = entries.get(`${archive}byteorder`);
  if (byteOrder && new TextDecoder().decode(byteOrder) !== 'little') {
    throw new WeightsFileError(`${file}: written on a big-endian machine, which SynthPair does not read`);
  }
  const resolveStorage: PersistentResolver = {
    resolve: (pid: unknown) => {
      // ('storage', storage type, key, location, element count)
      const [kind, storageClass, key] = Array.isArray(pid) ? pid : [];
      const dtype = storageClasses.get(storageClass);
      if (kind !== 'storage' || dtype === undefined || typeof key !== 'string') {
        throw new WeightsFileError(
          `${file}: refers to a stored object SynthPair does not read (${String(kind)})`,
        );
      }
      const data = entries.get(`${archive}data/${key}`);
      if (!data) throw new WeightsFileError(`${file}: the archive lacks the storage data/${key}`);
      return new StorageRef(dtype, key, data);
    },
  };
  let root: unknown;
  try {
    root = new Parser({
      nameResolver: allowedGlobals(file),
      persistentResolver: resolveStorage,
      // Maps, not objects: a pickled key such as __proto__ stays a key.
      unpicklingTypeOfDictionary: 'Map',
      unpicklingTypeOfSet: 'Set',
    }).parse(entries.get(picklePath)!);
  } catch (error) {
    if (error instanceof WeightsFileError) throw error;
    throw new WeightsFileError(`${file}: its pickle could not be read (${(error as Error).message})`);
  }
  return materialise(file, stateDictOf(file, root));
}

function allowedGlobals(file: string): NameResolver {
  const allowed = new Map<string, (...args: never[]) => unknown>([
    ['collections.OrderedDict', () => new OrderedDict()],
    [
      'torch._utils._rebuild_tensor_v2',
      (storage: StorageRef, offset: number, shape: number[], stride: number[]) =>
        new TensorRef(storage, offset, shape, stride),
    ],
    // An nn.Parameter saved as such: its data is the tensor.
    ['torch._utils._rebuild_parameter', (data: TensorRef) => data],
  ]);
  const classOf = new Map([...storageClasses].map(([storageClass, dtype]) => [dtype, storageClass]));
  for (const [name, dtype] of Object.entries(storageTypes)) {
    allowed.set(`torch.${name}`, classOf.get(dtype) as () => unknown);
  }
  return {
    resolve: (module: string, name: string) => {
      const found = allowed.get(`${module}.${name}`);
      if (found) return found;
      throw new WeightsFileError(
        `${file}: refused to load: its pickle calls ${module}.${name}, which a file of weights has no use for ` +
          '(a .pth is a Python pickle and may run code; SynthPair accepts only tensors and their containers)',
      );
    },
  } as NameResolver;
}

/** The state dict in what the pickle held: itself, or a checkpoint's `state_dict` or `model`. */
function stateDictOf(file: string, root: unknown): Map<string, TensorRef> {
  const isStateDict = (value: unknown): value is Map<unknown, unknown> =>
    value instanceof Map && value.size > 0 && [...value.values()].some((item) => item instanceof TensorRef);
  let dict: Map<unknown, unknown> | undefined;
  if (isStateDict(root)) {
    dict = root;
  } else if (root instanceof Map) {
    for (const key of ['state_dict', 'model']) {
      if (isStateDict(root.get(key))) {
        dict = root.get(key) as Map<unknown, unknown>;
        break;
      }
    }
  }
  if (!dict) {
    const keys = root instanceof Map ? [...root.keys()].map(String).join(', ') : typeof root;
    throw new WeightsFileError(
      `${file}: holds no state dict, neither at its top nor under state_dict or model (it holds: ${keys})`,
    );
  }
  const tensors = new Map<string, TensorRef>();
  for (const [key, value] of dict) {
    const name = String(key).replace(/^module\./, '');
    if (value instanceof TensorRef) {
      tensors.set(name, value);
    } else {
      throw new WeightsFileError(`${file}: its state dict entry ${String(key)} is not a tensor`);
    }
  }
  return tensors;
}

function materialise(file: string, refs: Map<string, TensorRef>): ImportedTensors {
  const tensors: ImportedTensors = new Map();
  for (const [name, ref] of refs) {
    tensors.set(name, readStrided(file, name, ref));
  }
  return tensors;
}

/** The tensor's elements in row-major order, gathered through its strides (a transposed view included). */
function readStrided(file: string, name: string, ref: TensorRef): ImportedTensor {
  const count = elementCount(ref.shape);
  const { dtype, bytes } = ref.storage;
  const contiguous = ref.stride.every(
    (stride, axis) => stride === elementCount(ref.shape.slice(axis + 1)) || ref.shape[axis] === 1,
  );
  try {
    if (contiguous) {
      return { shape: ref.shape, storedAs: dtype, values: readElements(bytes, dtype, ref.offset, count) };
    }
    const extent = ref.shape.reduce((last, size, axis) => last + (size - 1) * ref.stride[axis]!, 0) + 1;
    const source = readElements(bytes, dtype, ref.offset, count === 0 ? 0 : extent);
    const values = new Float32Array(count);
    const index = new Array<number>(ref.shape.length).fill(0);
    for (let element = 0; element < count; element++) {
      let at = 0;
      for (let axis = 0; axis < index.length; axis++) at += index[axis]! * ref.stride[axis]!;
      values[element] = source[at]!;
      for (let axis = index.length - 1; axis >= 0; axis--) {
        if (++index[axis]! < ref.shape[axis]!) break;
        index[axis] = 0;
      }
    }
    return { shape: ref.shape, storedAs: dtype, values };
  } catch (error) {
    throw new WeightsFileError(
      `${file}: ${name} (${ref.shape.join('×')}, ${dtype}) does not fit its storage data/${ref.storage.key}: ${(error as Error).message}`,
    );
  }
}

function zipEntries(file: string, bytes: Uint8Array): Promise<Map<string, Uint8Array>> {
  return new Promise((resolve, reject) => {
    const fail = (error: Error) =>
      reject(
        error instanceof WeightsFileError
          ? error
          : new WeightsFileError(
              `${file}: not a zip archive as torch.save writes (${error.message}); a file saved by PyTorch before 1.6 must be saved again with a newer one`,
            ),
      );
    yauzl.fromBuffer(
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      { lazyEntries: true },
      (error, zip) => {
        if (error) return fail(error);
        const entries = new Map<string, Uint8Array>();
        zip.on('error', fail);
        zip.on('end', () => resolve(entries));
        zip.on('entry', (entry: yauzl.Entry) => {
          zip.openReadStream(entry, (streamError, stream) => {
            if (streamError) return fail(streamError);
            const chunks: Buffer[] = [];
            stream.on('data', (chunk: Buffer) => chunks.push(chunk));
            stream.on('error', fail);
            stream.on('end', () => {
              entries.set(entry.fileName, Buffer.concat(chunks));
              zip.readEntry();
            });
          });
        });
        zip.readEntry();
      },
    );
  });
}
