import { promises as fs } from 'node:fs';
import path from 'node:path';

export type DatasetLayout = 'imagefolder' | 'cub';

export interface Sample {
  path: string;
  label: number;
}

export interface SkippedFile {
  path: string;
  reason: string;
}

export type DatasetWarningKind = 'class-missing-from-test' | 'single-image-test-classes';

/** Problems the run can live with; the caller shows them to the user. */
export interface DatasetWarning {
  kind: DatasetWarningKind;
  classes: string[];
  message: string;
}

export interface DatasetListing {
  classes: string[];
  train: Sample[];
  test: Sample[];
  skipped: SkippedFile[];
  warnings: DatasetWarning[];
}

export type DatasetErrorCode =
  | 'missing-root'
  | 'root-not-a-folder'
  | 'missing-split'
  | 'missing-index-file'
  | 'bad-index-file'
  | 'empty-class'
  | 'test-class-not-in-train'
  | 'no-images';

/** A dataset the run cannot start from; `path` is the file or folder the user has to fix. */
export class DatasetError extends Error {
  constructor(
    readonly code: DatasetErrorCode,
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'DatasetError';
  }
}

const imageExtensions = new Set(['.jpg', '.jpeg', '.png']);

/**
 * Lists a dataset's samples in a deterministic order (classes and files sorted by code point, as Python's
 * `sorted` in torchvision's ImageFolder) without reading any pixels.
 *
 * Policy on incomplete data: an empty class folder in `train/` and a test class with no training images
 * are errors (the class could never be learned, and usually a copy or extraction went wrong); a class
 * without test images and a test class with a single image are warnings (retrieval excludes queries
 * that have no other image of their class).
 */
export async function listDataset(root: string, layout: DatasetLayout): Promise<DatasetListing> {
  const absoluteRoot = path.resolve(root);
  const problem = await folderProblem(absoluteRoot);
  if (problem === noSuchFolder) {
    throw new DatasetError('missing-root', absoluteRoot, `${absoluteRoot}: no such folder (data.root)`);
  }
  if (problem) {
    const holds = layout === 'cub' ? 'images/ and images.txt' : 'train/ and test/';
    throw new DatasetError(
      'root-not-a-folder',
      absoluteRoot,
      `${absoluteRoot}: ${problem} (data.root); data.root names the data set's folder, the one that holds ${holds}`,
    );
  }
  const listing = layout === 'cub' ? await listCub(absoluteRoot) : await listImageFolder(absoluteRoot);
  const testLocation =
    layout === 'cub' ? path.join(absoluteRoot, 'train_test_split.txt') : path.join(absoluteRoot, 'test');
  return { ...listing, warnings: checkSplits(absoluteRoot, testLocation, listing) };
}

type RawListing = Omit<DatasetListing, 'warnings'>;

/** Images that form no dataset: every one under a folder, labelled by the sub-folder it is in. */
export interface ImageTree {
  /** The folder's sub-folders that hold images, sorted by code point: label k is `classes[k]`. */
  classes: string[];
  /** Images directly in the folder first (label -1), then each class's; each group in the order of its paths. */
  samples: Sample[];
  skipped: SkippedFile[];
}

/** Lists every image under `folder` at any depth, hidden files and folders aside, without reading pixels. */
export async function listImageTree(folder: string): Promise<ImageTree> {
  const root = path.resolve(folder);
  const problem = await folderProblem(root);
  if (problem) {
    throw new DatasetError(
      problem === noSuchFolder ? 'missing-root' : 'root-not-a-folder',
      root,
      `${root}: ${problem}`,
    );
  }
  const skipped: SkippedFile[] = [];
  const images: string[] = [];
  for (const entry of await fs.readdir(root, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() && !entry.isSymbolicLink()) continue;
    const relative = path.relative(root, path.join(entry.parentPath, entry.name));
    if (relative.split(path.sep).some((part) => part.startsWith('.'))) continue;
    if (imageExtensions.has(path.extname(entry.name).toLowerCase())) {
      images.push(relative);
    } else {
      skipped.push({ path: path.join(root, relative), reason: 'not a .jpg, .jpeg or .png file' });
    }
  }
  if (images.length === 0) {
    throw new DatasetError('no-images', root, `${root}: no .jpg, .jpeg or .png image in it or below it`);
  }
  const classOf = (relative: string) => {
    const parts = relative.split(path.sep);
    return parts.length > 1 ? parts[0]! : undefined;
  };
  const classes = [...new Set(images.map(classOf).filter((name) => name !== undefined))].sort(byCodePoint);
  const labelOf = (relative: string) => {
    const name = classOf(relative);
    return name === undefined ? -1 : classes.indexOf(name);
  };
  const samples = images
    .map((relative) => ({ relative, label: labelOf(relative) }))
    .sort((a, b) => a.label - b.label || byCodePoint(a.relative, b.relative))
    .map(({ relative, label }) => ({ path: path.join(root, relative), label }));
  return { classes, samples, skipped };
}

async function listImageFolder(root: string): Promise<RawListing> {
  const skipped: SkippedFile[] = [];
  const trainFolders = await classFolders(root, 'train');
  const testFolders = await classFolders(root, 'test');
  const classes = trainFolders.map((folder) => folder.name);
  const labelOf = new Map(classes.map((name, label) => [name, label]));

  const unknownInTest = testFolders.filter((folder) => !labelOf.has(folder.name));
  if (unknownInTest.length > 0) {
    const names = unknownInTest.map((folder) => folder.name);
    throw new DatasetError(
      'test-class-not-in-train',
      unknownInTest[0]!.path,
      `${path.join(root, 'test')}: ${plural(names.length, 'class has', 'classes have')} no folder in ` +
        `${path.join(root, 'train')}: ${quoteList(names)}`,
    );
  }

  const train: Sample[] = [];
  for (const folder of trainFolders) {
    const files = await imageFiles(folder.path, skipped);
    if (files.length === 0) {
      throw new DatasetError(
        'empty-class',
        folder.path,
        `${folder.path}: empty class folder (no JPEG or PNG image)`,
      );
    }
    for (const file of files) train.push({ path: file, label: labelOf.get(folder.name)! });
  }
  const test: Sample[] = [];
  for (const folder of testFolders) {
    for (const file of await imageFiles(folder.path, skipped))
      test.push({ path: file, label: labelOf.get(folder.name)! });
  }
  return { classes, train, test, skipped };
}

async function classFolders(
  root: string,
  split: 'train' | 'test',
): Promise<{ name: string; path: string }[]> {
  const splitPath = path.join(root, split);
  const problem = await folderProblem(splitPath);
  if (problem) {
    throw new DatasetError(
      'missing-split',
      splitPath,
      `${splitPath}: ${problem}; an ImageFolder dataset needs ${split}/<class>/<image> under ${root}`,
    );
  }
  const entries = await fs.readdir(splitPath, { withFileTypes: true });
  const names: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    // Datasets are often linked in rather than copied, so a link to a folder counts as a class folder.
    if (
      entry.isDirectory() ||
      (entry.isSymbolicLink() && (await isDirectory(path.join(splitPath, entry.name))))
    ) {
      names.push(entry.name);
    }
  }
  return names.sort(byCodePoint).map((name) => ({ name, path: path.join(splitPath, name) }));
}

async function imageFiles(folder: string, skipped: SkippedFile[]): Promise<string[]> {
  const entries = await fs.readdir(folder, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries
    .filter((e) => !e.name.startsWith('.'))
    .sort((a, b) => byCodePoint(a.name, b.name))) {
    const file = path.join(folder, entry.name);
    if (!entry.isFile() && !entry.isSymbolicLink()) continue;
    if (imageExtensions.has(path.extname(entry.name).toLowerCase())) {
      files.push(file);
    } else {
      skipped.push({ path: file, reason: 'not a .jpg, .jpeg or .png file' });
    }
  }
  return files;
}

/** CUB-200-2011 as distributed: index files of `<id> <value>` lines beside an `images/` folder. */
async function listCub(root: string): Promise<RawListing> {
  const imagePaths = await readIndex(root, 'images.txt');
  const imageLabels = await readIndex(root, 'image_class_labels.txt');
  const splits = await readIndex(root, 'train_test_split.txt');
  const classNames = await readIndex(root, 'classes.txt');
  const imagesFolder = path.join(root, 'images');
  const problem = await folderProblem(imagesFolder);
  if (problem) {
    throw new DatasetError(
      'missing-split',
      imagesFolder,
      `${imagesFolder}: ${problem}; CUB-200-2011 keeps its images there`,
    );
  }

  // Class ids are sorted numerically so label k is the k-th class of classes.txt as CUB numbers them.
  const classIds = [...classNames.keys()].sort((a, b) => Number(a) - Number(b));
  const classes = classIds.map((id) => classNames.get(id)!);
  const labelOf = new Map(classIds.map((id, label) => [id, label]));

  const skipped: SkippedFile[] = [];
  const train: Sample[] = [];
  const test: Sample[] = [];
  const imageIds = [...imagePaths.keys()].sort((a, b) => Number(a) - Number(b));
  for (const id of imageIds) {
    const file = path.join(imagesFolder, imagePaths.get(id)!);
    const classId = imageLabels.get(id);
    const split = splits.get(id);
    const label = classId === undefined ? undefined : labelOf.get(classId);
    if (label === undefined || (split !== '0' && split !== '1')) {
      const missing =
        label === undefined
          ? 'a known class in image_class_labels.txt'
          : 'a 0/1 split in train_test_split.txt';
      skipped.push({ path: file, reason: `image id ${id} has no ${missing}` });
    } else {
      (split === '1' ? train : test).push({ path: file, label });
    }
  }

  const trainLabels = new Set(train.map((sample) => sample.label));
  const untrainedTestClasses = [...new Set(test.map((sample) => sample.label))].filter(
    (label) => !trainLabels.has(label),
  );
  if (untrainedTestClasses.length > 0) {
    const names = untrainedTestClasses.map((label) => classes[label]!);
    throw new DatasetError(
      'test-class-not-in-train',
      path.join(root, 'train_test_split.txt'),
      `${path.join(root, 'train_test_split.txt')}: ${plural(names.length, 'class has', 'classes have')} ` +
        `test images but no training image: ${quoteList(names)}`,
    );
  }
  const emptyClasses = classes.filter((_, label) => !trainLabels.has(label));
  if (emptyClasses.length > 0) {
    throw new DatasetError(
      'empty-class',
      path.join(root, 'classes.txt'),
      `${path.join(root, 'classes.txt')}: ${plural(emptyClasses.length, 'class has', 'classes have')} ` +
        `no training image: ${quoteList(emptyClasses)}`,
    );
  }
  return { classes, train, test, skipped };
}

async function readIndex(root: string, name: string): Promise<Map<string, string>> {
  const file = path.join(root, name);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new DatasetError(
      'missing-index-file',
      file,
      `${file}: no such file; the CUB layout needs images.txt, image_class_labels.txt, train_test_split.txt and classes.txt`,
    );
  }
  const entries = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const match = /^(\d+)\s+(.+)$/.exec(line);
    if (!match) {
      throw new DatasetError(
        'bad-index-file',
        file,
        `${file}:${i + 1}: expected "<id> <value>", got "${line}"`,
      );
    }
    entries.set(match[1]!, match[2]!);
  }
  return entries;
}

function checkSplits(root: string, testLocation: string, listing: RawListing): DatasetWarning[] {
  if (listing.train.length === 0) {
    // Both splits named at once, so a wrong data.root is not fixed one split at a time.
    const missing =
      listing.test.length === 0 ? 'no training images and no test images' : 'no training images';
    throw new DatasetError('no-images', root, `${root}: ${missing}`);
  }
  if (listing.test.length === 0) {
    // Training would run to the end and then have nothing to evaluate on.
    throw new DatasetError('no-images', testLocation, `${testLocation}: no test images`);
  }
  const testCounts = new Array<number>(listing.classes.length).fill(0);
  for (const sample of listing.test) testCounts[sample.label]!++;
  const warnings: DatasetWarning[] = [];
  const missingFromTest = listing.classes.filter((_, label) => testCounts[label] === 0);
  if (missingFromTest.length > 0) {
    warnings.push({
      kind: 'class-missing-from-test',
      classes: missingFromTest,
      message:
        `${testLocation}: ${plural(missingFromTest.length, 'class has', 'classes have')} training images but ` +
        `no test image (evaluation cannot score them): ${quoteList(missingFromTest)}`,
    });
  }
  const singles = listing.classes.filter((_, label) => testCounts[label] === 1);
  if (singles.length > 0) {
    // With no class of two test images no query has anything to find: retrieval has no figures at all.
    const noRetrieval = testCounts.every((count) => count < 2);
    warnings.push({
      kind: 'single-image-test-classes',
      classes: singles,
      message: noRetrieval
        ? `${testLocation}: every test class has at most one image, so retrieval (rank-1, rank-5, mAP) ` +
          'cannot be measured; kNN and the linear probe still are'
        : `${testLocation}: ${plural(singles.length, 'test class has', 'test classes have')} a single image; ` +
          `retrieval skips those queries because no other image of their class is there to find: ${quoteList(singles)}`,
    });
  }
  return warnings;
}

async function isDirectory(target: string): Promise<boolean> {
  return (await fs.stat(target).catch(() => undefined))?.isDirectory() ?? false;
}

const noSuchFolder = 'no such folder';

/** Why a folder the layout needs cannot be listed, in words for a message; undefined when it can. */
async function folderProblem(target: string): Promise<string | undefined> {
  try {
    return (await fs.stat(target)).isDirectory() ? undefined : 'is a file, not a folder';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ENOTDIR: a file stands where a folder on the way should be, so there is no such folder either.
    return code === 'ENOENT' || code === 'ENOTDIR' ? noSuchFolder : `cannot be read (${code})`;
  }
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** Long lists are cut so a message stays readable; the count in front still tells the whole story. */
function quoteList(names: readonly string[], shown = 5): string {
  const quoted = names.slice(0, shown).map((name) => `'${name}'`);
  return names.length > shown ? `${quoted.join(', ')} and ${names.length - shown} more` : quoted.join(', ');
}
