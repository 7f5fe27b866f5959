import type { ExportedTensors } from './importedTensors';
import { elementBytes } from './safetensorsFile';

/**
 * `tensors` as `torch.save(state_dict)` writes them (the zip format of PyTorch 1.6 and later), so that
 * `torch.load` reads an OrderedDict of tensors: `archive/data.pkl` (a protocol 2 pickle naming only
 * `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2` and storage classes, what
 * {@link readTorchFile}'s allow-list accepts), one `archive/data/<i>` per tensor, `archive/version` and
 * `archive/byteorder`.
 */
export function encodeTorchFile(tensors: ExportedTensors): Buffer {
  const records: [string, Buffer][] = [['archive/data.pkl', statePickle(tensors)]];
  let key = 0;
  for (const { values } of tensors.values()) records.push([`archive/data/${key++}`, elementBytes(values)]);
  records.push(['archive/version', Buffer.from('3\n')], ['archive/byteorder', Buffer.from('little')]);
  return storedZip(records);
}

/** The pickle opcodes used, by their names in Python's pickletools. */
const op = {
  proto: 0x80,
  global: 0x63,
  emptyTuple: 0x29,
  mark: 0x28,
  tuple: 0x74,
  reduce: 0x52,
  setItems: 0x75,
  binUnicode: 0x58,
  binInt: 0x4a,
  binPersId: 0x51,
  newFalse: 0x89,
  stop: 0x2e,
} as const;

function statePickle(tensors: ExportedTensors): Buffer {
  const parts: Buffer[] = [];
  const byte = (...codes: number[]) => parts.push(Buffer.from(codes));
  const global = (module: string, name: string) => {
    byte(op.global);
    parts.push(Buffer.from(`${module}\n${name}\n`, 'ascii'));
  };
  const text = (value: string) => {
    const encoded = Buffer.from(value, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32LE(encoded.byteLength);
    parts.push(Buffer.from([op.binUnicode]), length, encoded);
  };
  const int = (value: number) => {
    if (!Number.isInteger(value) || value < -(2 ** 31) || value >= 2 ** 31) {
      throw new RangeError(`${value} does not fit a pickle's 4-byte integer`);
    }
    const encoded = Buffer.alloc(4);
    encoded.writeInt32LE(value);
    parts.push(Buffer.from([op.binInt]), encoded);
  };
  const intTuple = (values: readonly number[]) => {
    byte(op.mark);
    for (const value of values) int(value);
    byte(op.tuple);
  };
  const emptyOrderedDict = () => {
    global('collections', 'OrderedDict');
    byte(op.emptyTuple, op.reduce);
  };

  byte(op.proto, 2);
  emptyOrderedDict();
  byte(op.mark);
  let key = 0;
  for (const [name, { shape, values }] of tensors) {
    text(name);
    global('torch._utils', '_rebuild_tensor_v2');
    byte(op.mark);
    // The storage, by its persistent id: ('storage', storage class, key, location, element count).
    byte(op.mark);
    text('storage');
    global('torch', values instanceof BigInt64Array ? 'LongStorage' : 'FloatStorage');
    text(String(key++));
    text('cpu');
    int(values.length);
    byte(op.tuple, op.binPersId);
    int(0);
    intTuple(shape);
    intTuple(shape.map((_, axis) => shape.slice(axis + 1).reduce((product, size) => product * size, 1)));
    byte(op.newFalse);
    // Backward hooks, which torch.save writes as an empty OrderedDict.
    emptyOrderedDict();
    byte(op.tuple, op.reduce);
  }
  byte(op.setItems, op.stop);
  return Buffer.concat(parts);
}

/** torch.save aligns every record's data to 64 bytes, so a reader may map the storages in place. */
const recordAlignment = 64;
/** The extra field torch.save pads a local header with to align the data after it. */
const paddingFieldId = 0x4246;

/**
 * A zip archive of uncompressed (STORED) records, each record's data aligned as torch.save aligns it. No
 * ZIP64: a ResNet's encoder is far below its 4 GiB limit.
 */
function storedZip(records: readonly [string, Buffer][]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of records) {
    const nameBytes = Buffer.from(name, 'utf8');
    const headerEnd = offset + 30 + nameBytes.byteLength + 4;
    const padding = -headerEnd & (recordAlignment - 1);
    const extra = Buffer.alloc(4 + padding, 'Z');
    extra.writeUInt16LE(paddingFieldId, 0);
    extra.writeUInt16LE(padding, 2);
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed to extract: 2.0
    local.writeUInt16LE(0x0800, 6); // flags: the name is UTF-8
    local.writeUInt16LE(0, 8); // STORED
    local.writeUInt32LE(0, 10); // time and date: none, so the same state writes the same bytes
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.byteLength, 18);
    local.writeUInt32LE(data.byteLength, 22);
    local.writeUInt16LE(nameBytes.byteLength, 26);
    local.writeUInt16LE(extra.byteLength, 28);
    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0);
    entry.writeUInt16LE(20, 4);
    entry.writeUInt16LE(20, 6);
    entry.writeUInt16LE(0x0800, 8);
    entry.writeUInt16LE(0, 10);
    entry.writeUInt32LE(0, 12);
    entry.writeUInt32LE(crc, 16);
    entry.writeUInt32LE(data.byteLength, 20);
    entry.writeUInt32LE(data.byteLength, 24);
    entry.writeUInt16LE(nameBytes.byteLength, 28);
    entry.writeUInt32LE(offset, 42);
    central.push(entry, nameBytes);
    parts.push(local, nameBytes, extra, data);
    offset += local.byteLength + nameBytes.byteLength + extra.byteLength + data.byteLength;
  }
  const directory = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(records.length, 8);
  end.writeUInt16LE(records.length, 10);
  end.writeUInt32LE(directory.byteLength, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, directory, end]);
}

const crcTable = Uint32Array.from({ length: 256 }, (_, index) => {
  let value = index;
  for (let bit = 0; bit < 8; bit++) value = value & 1 ? 0xedb88320 ^ (value >>> 1) : value >>> 1;
  return value;
});

/** The zip format's CRC-32 (zlib.crc32 arrived only in Node 20.15, and SynthPair runs on any Node 20). */
function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const value of data) crc = crcTable[(crc ^ value) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
