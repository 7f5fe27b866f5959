import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { mocoV2AugPlus } from '../../../src/engine/data/augment';
import { DatasetError, listDataset } from '../../../src/engine/data/datasets';
import { cacheSizeFor, type DecodedImage, decodeImage } from '../../../src/engine/data/decode';
import { describeSkipped, ImageCache } from '../../../src/engine/data/imageCache';
import { evalBatches, type ImageSet, trainBatchCount, trainBatches } from '../../../src/engine/data/loader';
import { holdOutValidation, loadSplits } from '../../../src/engine/data/splits';
import {
  makeImageFolder,
  makeTempDir,
  type Rgb,
  solidImage,
  splitImage,
  writeImage,
  writeText,
  writeTruncatedJpeg,
} from '../../fixtures/makeImages';
import { resolvedConfig } from '../../support/config';

function pixelAt(image: DecodedImage, x: number, y: number): Rgb {
  const offset = (y * image.size + x) * 3;
  return [image.pixels[offset]!, image.pixels[offset + 1]!, image.pixels[offset + 2]!];
}

function assertNear(actual: Rgb, expected: Rgb, tolerance: number, what: string): void {
  const off = actual.some((value, c) => Math.abs(value - expected[c]!) > tolerance);
  assert.ok(!off, `${what}: got [${actual}], expected about [${expected}]`);
}

async function assertDatasetError(
  promise: Promise<unknown>,
  code: string,
  mentions: string[],
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof DatasetError, `expected a DatasetError, got ${error}`);
    assert.equal(error.code, code);
    for (const text of mentions)
      assert.ok(error.message.includes(text), `"${error.message}" should mention ${text}`);
    return true;
  });
}

describe('datasets', () => {
  let root: string;
  beforeEach(async () => {
    root = await makeTempDir('dataset');
  });
  afterEach(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  it('lists an ImageFolder tree with sorted classes, shared labels and a stable order', async () => {
    await makeImageFolder(root, {
      wren: { train: 3, test: 2 },
      Albatross: { train: 2, test: 2 },
      gull: { train: 2, test: 2 },
    });
    await writeText(path.join(root, 'train', 'gull', 'notes.txt'), 'field notes');
    const listing = await listDataset(root, 'imagefolder');
    assert.deepEqual(listing.classes, ['Albatross', 'gull', 'wren']);
    assert.deepEqual(
      listing.train.map((s) => [path.relative(root, s.path), s.label]),
      [
        ['train/Albatross/img0.png', 0],
        ['train/Albatross/img1.png', 0],
        ['train/gull/img0.png', 1],
        ['train/gull/img1.png', 1],
        ['train/wren/img0.png', 2],
        ['train/wren/img1.png', 2],
        ['train/wren/img2.png', 2],
      ],
    );
    assert.deepEqual(
      listing.test.map((s) => s.label),
      [0, 0, 1, 1, 2, 2],
    );
    assert.deepEqual(listing.skipped, [
      { path: path.join(root, 'train', 'gull', 'notes.txt'), reason: 'not a .jpg, .jpeg or .png file' },
    ]);
    assert.deepEqual(listing.warnings, []);
  });

  it('names the missing root, train/ or test/ folder', async () => {
    await assertDatasetError(listDataset(path.join(root, 'nowhere'), 'imagefolder'), 'missing-root', [
      'nowhere',
    ]);
    await fs.mkdir(path.join(root, 'test'));
    await assertDatasetError(listDataset(root, 'imagefolder'), 'missing-split', [path.join(root, 'train')]);
    await fs.rm(path.join(root, 'test'), { recursive: true });
    await makeImageFolder(root, { a: { train: 1, test: 0 } });
    await fs.rm(path.join(root, 'test'), { recursive: true });
    await assertDatasetError(listDataset(root, 'imagefolder'), 'missing-split', [path.join(root, 'test')]);
  });

  it('tells a root or split that is a file from a missing one', async () => {
    const file = await writeText(path.join(root, 'birds.zip'), 'an archive, not yet unpacked');
    await assertDatasetError(listDataset(file, 'imagefolder'), 'root-not-a-folder', [
      `${file}: is a file, not a folder (data.root)`,
      'train/ and test/',
    ]);
    await assertDatasetError(listDataset(file, 'cub'), 'root-not-a-folder', ['images/ and images.txt']);
    await assertDatasetError(listDataset(path.join(file, 'inside'), 'imagefolder'), 'missing-root', [
      'no such folder',
    ]);
    const dataset = path.join(root, 'set');
    await makeImageFolder(dataset, { a: { train: 1, test: 1 } });
    await fs.rm(path.join(dataset, 'test'), { recursive: true });
    await writeText(path.join(dataset, 'test'), 'a file where the split should be');
    await assertDatasetError(listDataset(dataset, 'imagefolder'), 'missing-split', [
      `${path.join(dataset, 'test')}: is a file, not a folder`,
    ]);
  });

  it('refuses a test split without images, which would leave nothing to evaluate', async () => {
    await makeImageFolder(root, { a: { train: 2, test: 0 }, b: { train: 2, test: 0 } });
    await fs.mkdir(path.join(root, 'test'), { recursive: true });
    await assertDatasetError(listDataset(root, 'imagefolder'), 'no-images', [
      `${path.join(root, 'test')}: no test images`,
    ]);
  });

  it('refuses an empty class folder in train/, naming it', async () => {
    await makeImageFolder(root, { a: { train: 2, test: 2 }, b: { train: 0, test: 0 } });
    await assertDatasetError(listDataset(root, 'imagefolder'), 'empty-class', [
      path.join(root, 'train', 'b'),
    ]);
  });

  it('refuses a test class that has no training folder, naming the class', async () => {
    await makeImageFolder(root, { a: { train: 2, test: 2 } });
    await writeImage(path.join(root, 'test', 'stray', 'x.png'), solidImage(8, 8, [1, 2, 3]).png());
    await assertDatasetError(listDataset(root, 'imagefolder'), 'test-class-not-in-train', ["'stray'"]);
  });

  it('warns about classes without test images and about single-image test classes', async () => {
    await makeImageFolder(root, {
      a: { train: 2, test: 2 },
      b: { train: 2, test: 1 },
      c: { train: 2, test: 0 },
    });
    await fs.rm(path.join(root, 'test', 'c'), { recursive: true });
    const listing = await listDataset(root, 'imagefolder');
    assert.deepEqual(
      listing.warnings.map((w) => [w.kind, w.classes]),
      [
        ['class-missing-from-test', ['c']],
        ['single-image-test-classes', ['b']],
      ],
    );
    assert.match(listing.warnings[1]!.message, /retrieval skips/);
  });

  it('reads the CUB-200-2011 layout from its index files', async () => {
    const files = [
      '001.Gull/g1.jpg',
      '001.Gull/g2.jpg',
      '002.Wren/w1.jpg',
      '002.Wren/w2.jpg',
      '001.Gull/g3.jpg',
    ];
    for (const file of files)
      await writeImage(path.join(root, 'images', file), solidImage(8, 8, [9, 9, 9]).jpeg());
    await writeText(path.join(root, 'images.txt'), files.map((f, i) => `${i + 1} ${f}`).join('\n') + '\n');
    await writeText(path.join(root, 'image_class_labels.txt'), '1 1\n2 1\n3 2\n4 2\n5 1\n');
    await writeText(path.join(root, 'train_test_split.txt'), '1 1\n2 0\n3 1\n4 0\n5 1\n');
    await writeText(path.join(root, 'classes.txt'), '2 002.Wren\n1 001.Gull\n');
    const listing = await listDataset(root, 'cub');
    assert.deepEqual(listing.classes, ['001.Gull', '002.Wren']);
    assert.deepEqual(
      listing.train.map((s) => [path.relative(path.join(root, 'images'), s.path), s.label]),
      [
        ['001.Gull/g1.jpg', 0],
        ['002.Wren/w1.jpg', 1],
        ['001.Gull/g3.jpg', 0],
      ],
    );
    assert.deepEqual(
      listing.test.map((s) => s.label),
      [0, 1],
    );
    assert.deepEqual(
      listing.warnings.map((w) => w.kind),
      ['single-image-test-classes'],
    );

    await fs.rm(path.join(root, 'train_test_split.txt'));
    await assertDatasetError(listDataset(root, 'cub'), 'missing-index-file', ['train_test_split.txt']);
    await writeText(path.join(root, 'train_test_split.txt'), '1 0\n2 0\n3 1\n4 0\n5 0\n');
    await assertDatasetError(listDataset(root, 'cub'), 'test-class-not-in-train', ["'001.Gull'"]);
  });
});

describe('validation split', () => {
  let folder: string;
  before(async () => {
    folder = await makeTempDir('validation');
  });
  after(() => fs.rm(folder, { recursive: true, force: true }));

  const samples = (sizes: Record<number, number>) =>
    Object.entries(sizes).flatMap(([label, count]) =>
      Array.from({ length: count }, (_, index) => ({ path: `${label}/${index}.jpg`, label: Number(label) })),
    );

  it('holds out round(fraction × n) of each class, at least 2, leaving at least 2, in listing order', () => {
    const listing = samples({ 0: 30, 1: 10, 2: 4, 3: 3, 4: 5 });
    const { train, validation } = holdOutValidation(listing, { fraction: 0.1, seed: 0 });
    const count = (set: typeof listing, label: number) =>
      set.filter((sample) => sample.label === label).length;
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((label) => count(validation, label)),
      [3, 2, 2, 0, 2],
      'a class of 3 cannot give 2 and keep 2',
    );
    assert.equal(train.length + validation.length, listing.length);
    assert.deepEqual(
      new Set([...train, ...validation].map((sample) => sample.path)).size,
      listing.length,
      'every image is in exactly one part',
    );
    const order = (set: typeof listing) => set.map((sample) => listing.indexOf(sample));
    assert.deepEqual(
      order(train),
      [...order(train)].sort((a, b) => a - b),
    );
    assert.deepEqual(
      order(validation),
      [...order(validation)].sort((a, b) => a - b),
    );
  });

  it('draws the same images for the same seed, other ones for another, and none at fraction 0', () => {
    const listing = samples({ 0: 30, 1: 30 });
    const paths = (seed: number) =>
      holdOutValidation(listing, { fraction: 0.2, seed }).validation.map((sample) => sample.path);
    assert.deepEqual(paths(1), paths(1));
    assert.notDeepEqual(paths(1), paths(2));
    assert.deepEqual(holdOutValidation(listing, { fraction: 0, seed: 1 }), {
      train: listing,
      validation: [],
    });
  });

  it('loads the held-out images apart and says how many there are', async () => {
    const root = path.join(folder, 'validation-data');
    await makeImageFolder(root, { a: { train: 6, test: 2 }, b: { train: 6, test: 2 } });
    const data = resolvedConfig({
      name: 'v',
      data: { root, imageSize: 32, validation: { fraction: 0.3 } },
    }).data;
    const logged: string[] = [];
    const splits = await loadSplits(data, path.join(folder, 'validation-cache'), (_level, message) =>
      logged.push(message),
    );
    assert.equal(splits.validation.images.length, 4);
    assert.equal(splits.train.images.length, 8);
    assert.deepEqual(Array.from(splits.validation.labels), [0, 0, 1, 1]);
    assert.ok(
      logged.some((message) =>
        message.startsWith('data: 2 classes, 8 train, 4 validation and 4 test images'),
      ),
      logged.join('\n'),
    );
  });
});

describe('decoding', () => {
  let folder: string;
  before(async () => {
    folder = await makeTempDir('decode');
  });
  after(async () => {
    await fs.rm(folder, { recursive: true, force: true });
  });

  it('turns greyscale, RGBA, 16-bit, CMYK and JPEG/PNG inputs of any size into square RGB', async () => {
    const cases: [string, Promise<Buffer>, Rgb, number][] = [
      ['greyscale PNG', solidImage(30, 20, [90, 90, 90]).greyscale().png().toBuffer(), [90, 90, 90], 1],
      [
        // Alpha is dropped, not composited: the colour under a half-transparent pixel comes through unchanged.
        'RGBA PNG',
        sharp({
          create: { width: 20, height: 40, channels: 4, background: { r: 200, g: 10, b: 30, alpha: 0.5 } },
        })
          .png()
          .toBuffer(),
        [200, 10, 30],
        1,
      ],
      [
        '16-bit PNG',
        solidImage(17, 17, [10, 120, 250]).toColourspace('rgb16').png().toBuffer(),
        [10, 120, 250],
        1,
      ],
      // CMYK → sRGB goes through colour profiles and does not round-trip exactly.
      [
        'CMYK JPEG',
        solidImage(40, 30, [200, 60, 20]).toColourspace('cmyk').jpeg().toBuffer(),
        [200, 60, 20],
        25,
      ],
      ['RGB JPEG', solidImage(300, 90, [30, 160, 90]).jpeg({ quality: 95 }).toBuffer(), [30, 160, 90], 4],
    ];
    for (const [what, input, colour, tolerance] of cases) {
      const buffer = await input;
      if (what === '16-bit PNG') assert.equal((await sharp(buffer).metadata()).depth, 'ushort');
      if (what === 'CMYK JPEG') assert.equal((await sharp(buffer).metadata()).space, 'cmyk');
      const image = await decodeImage(buffer, 11);
      assert.equal(image.pixels.length, 11 * 11 * 3, what);
      for (const [x, y] of [
        [0, 0],
        [5, 5],
        [10, 10],
      ] as const) {
        assertNear(pixelAt(image, x, y), colour, tolerance, `${what} at (${x}, ${y})`);
      }
    }
  });

  it('applies EXIF orientation before cropping', async () => {
    // Stored 40×20, red on the left; orientation 6 means "rotate 90° clockwise to display", so the
    // displayed image is 20×40 with red on top, and its centre crop is red above blue.
    const stored = await splitImage(40, 20, [255, 0, 0], [0, 0, 255]).png().toBuffer();
    const rotated = await sharp(stored).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    const image = await decodeImage(rotated, 16);
    assertNear(pixelAt(image, 8, 1), [255, 0, 0], 40, 'top');
    assertNear(pixelAt(image, 8, 14), [0, 0, 255], 40, 'bottom');
    assertNear(pixelAt(image, 1, 8), pixelAt(image, 14, 8), 1, 'left and right rows alike');
  });

  it('keeps the shorter side at the cache size and the centre of the longer one', async () => {
    assert.equal(cacheSizeFor(224), 256);
    assert.equal(cacheSizeFor(96), 110);
    // 90×30 in three vertical bands: only the middle band survives the square centre crop.
    const bands = Buffer.alloc(90 * 30 * 3);
    for (let i = 0; i < 90 * 30; i++)
      bands.set(i % 90 < 30 ? [255, 0, 0] : i % 90 < 60 ? [0, 255, 0] : [0, 0, 255], i * 3);
    const image = await decodeImage(
      await sharp(bands, { raw: { width: 90, height: 30, channels: 3 } })
        .png()
        .toBuffer(),
      10,
    );
    for (const x of [1, 5, 8]) assertNear(pixelAt(image, x, 5), [0, 255, 0], 2, `column ${x}`);
  });

  it('rejects a truncated JPEG and a text file named .jpg', async () => {
    await assert.rejects(decodeImage(await writeTruncatedJpeg(path.join(folder, 'cut.jpg')), 8));
    await assert.rejects(decodeImage(await writeText(path.join(folder, 'note.jpg'), 'not an image'), 8));
  });
});

describe('image cache', () => {
  let folder: string;
  let cacheFolder: string;
  beforeEach(async () => {
    folder = await makeTempDir('images');
    cacheFolder = await makeTempDir('cache');
  });
  afterEach(async () => {
    await fs.rm(folder, { recursive: true, force: true });
    await fs.rm(cacheFolder, { recursive: true, force: true });
  });

  function countingCache() {
    const counter = { decodes: 0 };
    const cache = new ImageCache({
      folder: cacheFolder,
      size: 12,
      decode: (input, size) => {
        counter.decodes++;
        return decodeImage(input, size);
      },
    });
    return { cache, counter };
  }

  it('skips and reports unreadable files without stopping, keeping dataset positions', async () => {
    const samples = [
      { path: await writeImage(path.join(folder, 'a.png'), solidImage(20, 20, [1, 2, 3]).png()), label: 0 },
      { path: await writeTruncatedJpeg(path.join(folder, 'cut.jpg')), label: 0 },
      { path: await writeText(path.join(folder, 'text.jpg'), 'hello'), label: 1 },
      { path: path.join(folder, 'gone.png'), label: 1 },
      { path: await writeImage(path.join(folder, 'b.png'), solidImage(20, 20, [4, 5, 6]).png()), label: 1 },
    ];
    const { cache } = countingCache();
    const loaded = await cache.loadAll(samples);
    assert.deepEqual(
      loaded.samples.map((s) => path.basename(s.path)),
      ['a.png', 'b.png'],
    );
    assert.deepEqual([...loaded.indices], [0, 4]);
    assert.deepEqual(
      loaded.skipped.map((s) => path.basename(s.path)),
      ['cut.jpg', 'text.jpg', 'gone.png'],
    );
    const summary = describeSkipped(loaded.skipped, 'skipped.json', 2);
    assert.match(
      summary,
      /^skipped 3 files \(listed in skipped\.json\): .*cut\.jpg.*text\.jpg.*; and 1 more$/,
    );
    // With no list to point at, the summary is where every one is named.
    assert.match(describeSkipped(loaded.skipped), /^skipped 3 files: .*cut\.jpg.*text\.jpg.*gone\.png.*\)$/);
  });

  it('does not decode again in a later run, and decodes again once a file changes', async () => {
    const file = await writeImage(path.join(folder, 'a.png'), solidImage(20, 20, [10, 20, 30]).png());
    const other = await writeImage(path.join(folder, 'b.png'), solidImage(20, 20, [40, 50, 60]).png());
    const samples = [
      { path: file, label: 0 },
      { path: other, label: 0 },
    ];

    const first = countingCache();
    await first.cache.loadAll(samples);
    await first.cache.loadAll(samples);
    assert.equal(first.counter.decodes, 2, 'the second epoch comes from memory');
    assert.equal(first.cache.stats.memoryHits, 2);

    const second = countingCache();
    const warm = await second.cache.loadAll(samples);
    assert.equal(second.counter.decodes, 0, 'a later run reads the disk cache');
    assertNear(pixelAt(warm.images[0]!, 3, 3), [10, 20, 30], 0, 'cached pixels');

    await writeImage(file, solidImage(20, 20, [200, 100, 0]).png());
    const third = countingCache();
    const changed = await third.cache.loadAll(samples);
    assert.equal(third.counter.decodes, 1, 'only the changed file is decoded');
    assertNear(pixelAt(changed.images[0]!, 3, 3), [200, 100, 0], 0, 'new pixels');

    const leftovers = (await fs.readdir(cacheFolder, { recursive: true })).filter((name) =>
      name.endsWith('.tmp'),
    );
    assert.deepEqual(leftovers, []);
  });

  it('deletes, as a run starts, the unfinished entries of killed runs and keeps those a live process writes', async () => {
    const root = path.join(folder, 'data');
    await makeImageFolder(root, { a: { train: 2, test: 1 }, b: { train: 2, test: 1 } });
    const data = resolvedConfig({ name: 'cache', data: { root, imageSize: 32 } }).data;
    await loadSplits(data, cacheFolder, () => {});
    const [entry] = (await fs.readdir(cacheFolder, { recursive: true })).filter((name) =>
      name.endsWith('.rgb'),
    );
    assert.ok(entry, 'the first run filled the cache');
    const killed = spawnSync(process.execPath, ['-e', '']).pid!;
    const writer = spawn(process.execPath, ['-e', 'process.stdin.resume()'], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    const temporary = (pid: number) => path.join(cacheFolder, `${entry}.${pid}.0badcafe.tmp`);
    try {
      await fs.writeFile(temporary(killed), 'half an image');
      await fs.writeFile(temporary(writer.pid!), 'an image being written');
      await fs.writeFile(temporary(process.pid), 'an image this process writes');
      const logged: string[] = [];
      await loadSplits(data, cacheFolder, (_level, message) => logged.push(message));
      const temporaries = (await fs.readdir(cacheFolder, { recursive: true })).filter((name) =>
        name.endsWith('.tmp'),
      );
      assert.deepEqual(
        temporaries.map((name) => path.join(cacheFolder, name)).sort(),
        [temporary(writer.pid!), temporary(process.pid)].sort(),
      );
      assert.ok(
        logged.some((message) =>
          message.includes(`removed 1 unfinished file that killed runs left in ${cacheFolder}`),
        ),
        logged.join('\n'),
      );
    } finally {
      writer.kill();
    }
  });
});

describe('loader', () => {
  const imageSize = 8;
  const set: ImageSet = (() => {
    const images: DecodedImage[] = [];
    for (let i = 0; i < 10; i++) {
      const pixels = new Uint8Array(10 * 10 * 3);
      for (let p = 0; p < pixels.length; p++) pixels[p] = (p * 17 + i * 29) % 256;
      images.push({ size: 10, pixels });
    }
    return { images, labels: [0, 1, 2, 3, 4, 0, 1, 2, 3, 4], indices: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] };
  })();
  const options = { batchSize: 4, imageSize, seed: 7, epoch: 0, augment: mocoV2AugPlus() };

  async function collect<T>(batches: AsyncIterable<T>): Promise<T[]> {
    const all: T[] = [];
    for await (const batch of batches) all.push(batch);
    return all;
  }

  it('yields full, shuffled batches of two views and drops the short last one', async () => {
    const batches = await collect(trainBatches(set, options));
    assert.equal(batches.length, trainBatchCount(set, 4));
    assert.equal(batches.length, 2);
    const seen = batches.flatMap((b) => [...b.indices]);
    assert.equal(new Set(seen).size, 8);
    assert.notDeepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7], 'shuffled');
    for (const batch of batches) {
      assert.equal(batch.views[0].length, 4 * imageSize * imageSize * 3);
      assert.deepEqual(
        [...batch.labels],
        [...batch.indices].map((i) => set.labels[i]),
      );
      assert.notDeepEqual(batch.views[0], batch.views[1], 'two different views');
      assert.ok(batch.views[0].every((v) => v >= 0 && v <= 1));
    }
  });

  it('repeats batches exactly for the same seed and epoch, and not for another seed or epoch', async () => {
    const once = await collect(trainBatches(set, options));
    const again = await collect(trainBatches(set, options));
    assert.deepEqual(once, again);
    const otherSeed = await collect(trainBatches(set, { ...options, seed: 8 }));
    assert.notDeepEqual(otherSeed[0]!.views, once[0]!.views);
    const nextEpoch = await collect(trainBatches(set, { ...options, epoch: 1 }));
    assert.notDeepEqual(
      nextEpoch.map((b) => [...b.indices]),
      once.map((b) => [...b.indices]),
    );
  });

  it('gives evaluation every image once, in order, un-augmented', () => {
    const batches = [...evalBatches(set, 4, imageSize)];
    assert.deepEqual(
      batches.map((b) => b.labels.length),
      [4, 4, 2],
    );
    assert.deepEqual(
      batches.flatMap((b) => [...b.indices]),
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    );
    // Centre crop of 8 from 10 starts at pixel (1, 1) and keeps pixels as they are.
    assert.equal(batches[0]!.images[0], Math.fround(set.images[0]!.pixels[(1 * 10 + 1) * 3]! / 255));
  });
});
