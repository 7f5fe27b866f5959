import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { skippedFiles } from '../../../src/shared/protocol/runFiles';
import {
  makeTempDir,
  solidImage,
  writeImage,
  writeText,
  writeTruncatedJpeg,
} from '../../fixtures/makeImages';
import {
  assertCliBuilt,
  logEvents,
  placeOf,
  runCli,
  snapshotFiles,
  tinyClasses,
  writeTinyDataset,
  writeTinyExperiment,
} from '../../support/cli';

describe('synthpair run on bad input (bundled dist/cli.js)', function () {
  this.timeout(120_000);
  let folder: string;
  let config: Record<string, unknown>;
  let done: string;

  /** Copies the completed run as a stopped one, the kind `--resume` accepts. */
  async function stoppedCopy(name: string): Promise<string> {
    const copy = path.join(folder, 'runs', name);
    await cp(done, copy, { recursive: true });
    const status = JSON.parse(await readFile(path.join(copy, 'run.json'), 'utf8'));
    await writeFile(path.join(copy, 'run.json'), JSON.stringify({ ...status, state: 'stopped' }));
    return copy;
  }

  before(async () => {
    assertCliBuilt();
    folder = await makeTempDir('cli-bad');
    config = await writeTinyExperiment(folder, { checkpoint: { everyEpochs: 1 } });
    done = path.join(folder, 'runs', 'done');
    const run = runCli(folder, 'run', 'tiny.synthpair.json', '--out', done);
    assert.equal(run.code, 0, run.stderr);
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  describe('data that cannot train: exit 2 naming the folder, and no run folder left behind', () => {
    it('a missing dataset root', () => {
      const result = runCli(
        folder,
        'run',
        'tiny.synthpair.json',
        '--set',
        'data.root=absent',
        '--out',
        'runs/x',
      );
      assert.equal(result.code, 2);
      assert.equal(
        result.stderr,
        `tiny.synthpair.json: error: ${path.join(folder, 'absent')}: no such folder (data.root)\n` +
          'synthpair: tiny.synthpair.json: has errors; nothing was run\n',
      );
      assert.equal(existsSync(path.join(folder, 'runs', 'x')), false);
    });

    it('a dataset root that is a file, at data.root in the file', async () => {
      await writeText(path.join(folder, 'birds.zip'), 'an archive, not yet unpacked');
      const text = JSON.stringify({ ...config, data: { root: 'birds.zip', imageSize: 32 } }, null, 2);
      await writeFile(path.join(folder, 'zip.synthpair.json'), text);
      const result = runCli(folder, 'run', 'zip.synthpair.json', '--out', 'runs/x');
      assert.equal(result.code, 2);
      assert.equal(
        result.stderr,
        `zip.synthpair.json:${placeOf(text, '"birds.zip"')}: error: ${path.join(folder, 'birds.zip')}: is a file, not a folder (data.root); data.root names the data set's folder, the one that holds train/ and test/\n` +
          'synthpair: zip.synthpair.json: has errors; nothing was run\n',
      );
      assert.equal(existsSync(path.join(folder, 'runs', 'x')), false);
    });

    it('an empty class folder in train/', async () => {
      await writeTinyDataset(path.join(folder, 'empty'), { ...tinyClasses, b: { train: 0, test: 3 } });
      await writeText(path.join(folder, 'empty', 'train', 'b', 'notes.txt'), 'no pictures yet');
      const result = runCli(
        folder,
        'run',
        'tiny.synthpair.json',
        '--set',
        'data.root=empty',
        '--out',
        'runs/x',
      );
      assert.equal(result.code, 2);
      assert.match(
        result.stderr,
        new RegExp(`${path.join(folder, 'empty', 'train', 'b')}: empty class folder`),
      );
      assert.equal(existsSync(path.join(folder, 'runs', 'x')), false);
    });

    it('a class in test/ that train/ does not have', async () => {
      await writeTinyDataset(path.join(folder, 'stray'), tinyClasses);
      await writeImage(
        path.join(folder, 'stray', 'test', 'zebra', 'z.png'),
        solidImage(36, 36, [9, 9, 9]).png(),
      );
      const result = runCli(
        folder,
        'run',
        'tiny.synthpair.json',
        '--set',
        'data.root=stray',
        '--out',
        'runs/x',
      );
      assert.equal(result.code, 2);
      assert.match(result.stderr, /stray\/test: 1 class has no folder in .*stray\/train: 'zebra'/);
      assert.equal(existsSync(path.join(folder, 'runs', 'x')), false);
    });
  });

  describe('data a run can live with: exit 0 and a warning log event that names the cause', () => {
    it('a class in train/ that test/ does not have', async () => {
      await writeTinyDataset(path.join(folder, 'untested'), { ...tinyClasses, c: { train: 6, test: 0 } });
      await rm(path.join(folder, 'untested', 'test', 'c'), { recursive: true });
      const result = runCli(
        folder,
        'run',
        'tiny.synthpair.json',
        '--set',
        'data.root=untested',
        '--out',
        'runs/untested',
      );
      assert.equal(result.code, 0, result.stderr);
      assert.ok(
        logEvents(result.stdout).some(
          (event) =>
            event.level === 'warn' &&
            event.message ===
              `${path.join(folder, 'untested', 'test')}: 1 class has training images but no test image (evaluation cannot score them): 'c'`,
        ),
        result.stdout,
      );
    });

    it('a test split with one image per class: retrieval is left out, every figure written is a number', async () => {
      await writeTinyDataset(path.join(folder, 'singles'), {
        a: { train: 6, test: 1 },
        b: { train: 6, test: 1 },
        c: { train: 6, test: 1 },
      });
      const run = path.join(folder, 'runs', 'singles');
      const result = runCli(
        folder,
        'run',
        'tiny.synthpair.json',
        '--set',
        'data.root=singles',
        'analysis.probes.count=3',
        '--out',
        run,
      );
      assert.equal(result.code, 0, result.stderr);
      const warnings = logEvents(result.stdout).filter((event) => event.level === 'warn');
      assert.deepEqual(
        warnings.map((event) => event.message),
        [
          `${path.join(folder, 'singles', 'test')}: every test class has at most one image, so retrieval (rank-1, rank-5, mAP) cannot be measured; kNN and the linear probe still are`,
        ],
      );
      assert.ok(
        logEvents(result.stdout).every((event) => !event.message.includes('NaN')),
        result.stdout,
      );
      const evals = (await readFile(path.join(run, 'eval.jsonl'), 'utf8'))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      assert.equal(evals.length, 1);
      const { epoch, time: _time, best, validation, ...figures } = evals[0]!;
      assert.equal(epoch, 1);
      assert.deepEqual(Object.keys(figures).sort(), ['knnTop1', 'linearTop1']);
      // Retrieval within the validation images held out of train/ still works: they have two of each class.
      assert.deepEqual(Object.keys(validation as object).sort(), ['mAP', 'rank1', 'rank5']);
      const {
        epoch: _bestEpoch,
        checkpoint: _checkpoint,
        by: _by,
        ...bestFigures
      } = best as Record<string, unknown>;
      for (const value of [figures, validation, bestFigures].flatMap((values) =>
        Object.values(values as object).flatMap((value) =>
          typeof value === 'object' ? Object.values(value) : [value],
        ),
      ))
        assert.ok(Number.isFinite(value), JSON.stringify(evals[0]));
    });

    it('unreadable images and a file that is no image: the log names a few and the run folder lists them all', async () => {
      const root = path.join(folder, 'corrupt');
      await writeTinyDataset(root, tinyClasses);
      const cut = await writeTruncatedJpeg(path.join(root, 'train', 'a', 'cut.jpg'));
      const texts = await Promise.all(
        ['b', 'c', 'c'].map((name, index) =>
          writeText(path.join(root, 'train', name, `note${index}.jpg`), 'not an image'),
        ),
      );
      const testCut = await writeTruncatedJpeg(path.join(root, 'test', 'b', 'cut.jpg'));
      const notes = await writeText(path.join(root, 'train', 'a', 'notes.txt'), 'field notes');
      const run = path.join(folder, 'runs', 'corrupt');
      const result = runCli(folder, 'run', 'tiny.synthpair.json', '--set', 'data.root=corrupt', '--out', run);
      assert.equal(result.code, 0, result.stderr);
      const events = logEvents(result.stdout);
      const list = path.join(run, 'skipped.json');
      const warnings = events.filter((event) => event.level === 'warn').map((event) => event.message);
      assert.equal(warnings.length, 3, result.stdout);
      assert.match(
        warnings[0]!,
        new RegExp(`^dataset listing: skipped 1 file \\(listed in ${list}\\): ${notes} \\(not a \\.jpg`),
      );
      const trainFiles = [cut, ...texts];
      assert.match(
        warnings[1]!,
        new RegExp(
          `^train: skipped 4 files \\(listed in ${list}\\): ${trainFiles.slice(0, 3).join(' \\(.+\\); ')} \\(.+\\); and 1 more$`,
        ),
      );
      assert.match(warnings[2]!, new RegExp(`^test: skipped 1 file \\(listed in ${list}\\): ${testCut} `));
      const counts = events
        .map((event) =>
          /^data: 3 classes, (\d+) train, (\d+) validation and 9 test images/.exec(event.message),
        )
        .find((match) => match !== null);
      assert.equal(Number(counts?.[1]) + Number(counts?.[2]), 18, 'the 18 images that decoded, in two parts');
      assert.equal(JSON.parse(await readFile(path.join(run, 'run.json'), 'utf8')).state, 'completed');
      const listed = skippedFiles.parse(JSON.parse(await readFile(list, 'utf8')));
      assert.deepEqual(
        listed.files.map(({ path: file, stage }) => [file, stage]),
        [[notes, 'listing'], ...trainFiles.map((file) => [file, 'train']), [testCut, 'test']],
      );
      assert.ok(listed.files.every((file) => file.reason.length > 0));
    });
  });

  describe('bad configs: exit 2, the message names the key, nothing is run', () => {
    async function writeConfig(name: string, text: string): Promise<void> {
      await writeFile(path.join(folder, name), text);
    }

    it('an unknown key, in the file and with --set', async () => {
      await writeConfig(
        'typo.json',
        JSON.stringify({ ...config, train: { epoch: 3, batchSize: 6 } }, null, 2),
      );
      const inFile = runCli(folder, 'run', 'typo.json', '--out', 'runs/x');
      assert.equal(inFile.code, 2);
      assert.match(
        inFile.stderr,
        /^typo\.json:\d+:\d+: error: train\.epoch: unknown key; did you mean train\.epochs\?$/m,
      );
      assert.match(inFile.stderr, /^synthpair: typo\.json: has errors; nothing was run$/m);
      const viaSet = runCli(
        folder,
        'run',
        'tiny.synthpair.json',
        '--set',
        'train.epoch=3',
        '--out',
        'runs/x',
      );
      assert.equal(viaSet.code, 2);
      assert.match(
        viaSet.stderr,
        /^tiny\.synthpair\.json: error: train\.epoch: unknown key; did you mean train\.epochs\? \(from --set train\.epoch=3\)$/m,
      );
      assert.equal(existsSync(path.join(folder, 'runs', 'x')), false);
    });

    it('an out-of-range value, in the file and with --set', async () => {
      await writeConfig(
        'range.json',
        JSON.stringify({ ...config, train: { epochs: 1, batchSize: 1 } }, null, 2),
      );
      const inFile = runCli(folder, 'run', 'range.json');
      assert.equal(inFile.code, 2);
      assert.match(
        inFile.stderr,
        /^range\.json:\d+:\d+: error: train\.batchSize: must be an integer between 2 and 4096, got 1$/m,
      );
      const viaSet = runCli(folder, 'run', 'tiny.synthpair.json', '--set', 'optim.lr=0');
      assert.equal(viaSet.code, 2);
      assert.match(
        viaSet.stderr,
        /^tiny\.synthpair\.json: error: optim\.lr: must be a number greater than 0 and at most 10, got 0 \(from --set optim\.lr=0\)$/m,
      );
    });

    it('a quantile outside [0, 1], and more probes than the test split has', () => {
      const quantile = runCli(
        folder,
        'run',
        'tiny.synthpair.json',
        '--set',
        'analysis.variance.quantile=1.5',
      );
      assert.equal(quantile.code, 2);
      assert.match(
        quantile.stderr,
        /^tiny\.synthpair\.json: error: analysis\.variance\.quantile: must be a number between 0 and 1, got 1\.5 \(from --set analysis\.variance\.quantile=1\.5\)$/m,
      );
      const negative = runCli(
        folder,
        'run',
        'tiny.synthpair.json',
        '--set',
        'analysis.gradcam.quantile=-0.1',
      );
      assert.equal(negative.code, 2);
      assert.match(
        negative.stderr,
        /analysis\.gradcam\.quantile: must be a number between 0 and 1, got -0\.1/,
      );
      const probes = runCli(
        folder,
        'run',
        'tiny.synthpair.json',
        '--set',
        'analysis.probes.count=10',
        '--out',
        'runs/probes',
      );
      assert.equal(probes.code, 2);
      assert.equal(
        probes.stderr,
        `tiny.synthpair.json: error: analysis.probes.count: 10 probes asked for, but the test split of ${path.join(folder, 'data')} has 9 images\n` +
          'synthpair: tiny.synthpair.json: has errors; nothing was run\n',
      );
      assert.equal(existsSync(path.join(folder, 'runs', 'probes')), false);
    });

    it('a batch larger than the training split, in the file and with --set, before any run folder exists', async () => {
      const text = JSON.stringify({ ...config, train: { epochs: 1, batchSize: 64 } }, null, 2);
      await writeConfig('batch.json', text);
      const inFile = runCli(folder, 'run', 'batch.json', '--out', 'runs/batch');
      assert.equal(inFile.code, 2);
      const tooLarge = `train.batchSize: 64 is larger than the 12 training images under ${path.join(folder, 'data')} (6 more are held out by data.validation), so there is not one full batch to train on`;
      assert.equal(
        inFile.stderr,
        `batch.json:${placeOf(text, '"batchSize": 64', '64')}: error: ${tooLarge}\nsynthpair: batch.json: has errors; nothing was run\n`,
      );
      const viaSet = runCli(
        folder,
        'run',
        'tiny.synthpair.json',
        '--set',
        'train.batchSize=64',
        '--out',
        'runs/batch',
      );
      assert.equal(viaSet.code, 2);
      assert.equal(
        viaSet.stderr,
        `tiny.synthpair.json: error: ${tooLarge}\nsynthpair: tiny.synthpair.json: has errors; nothing was run\n`,
      );
      assert.equal(existsSync(path.join(folder, 'runs', 'batch')), false);
    });

    it('a key written twice, at the second', async () => {
      const text = JSON.stringify(config, null, 2).replace('"epochs": 1,', '"epochs": 1, "epochs": 40,');
      await writeConfig('twice.json', text);
      const result = runCli(folder, 'run', 'twice.json', '--out', 'runs/x');
      assert.equal(result.code, 2);
      assert.equal(
        result.stderr,
        `twice.json:${placeOf(text, '"epochs": 40')}: error: train.epochs: written more than once in its block; keep one\n` +
          'synthpair: twice.json: has errors; nothing was run\n',
      );
    });

    it('a file that starts with a byte-order mark is read, its columns counted as an editor shows them', async () => {
      const text = JSON.stringify({ ...config, train: { epochs: 1, batchSize: 64 } });
      await writeConfig('marked.json', `\uFEFF${text}`);
      const result = runCli(folder, 'run', 'marked.json', '--out', 'runs/x');
      assert.equal(result.code, 2);
      assert.match(
        result.stderr,
        new RegExp(
          `^marked\\.json:${placeOf(text, '"batchSize":64', '64')}: error: train\\.batchSize: 64 is larger than`,
        ),
      );
      assert.doesNotMatch(result.stderr, /syntax error/);
    });

    it('a file nested too deep and one too large to be an experiment: a message, not a stack overflow', async () => {
      const depth = 100_000;
      const prefix = '{ "name": "x", "data": { "root": ';
      await writeConfig('deep.json', `${prefix}${'['.repeat(depth)}${']'.repeat(depth)} } }`);
      const deep = runCli(folder, 'run', 'deep.json', '--out', 'runs/x');
      assert.equal(deep.code, 2);
      // Inside two braces, the 63rd bracket is the 65th level.
      assert.match(
        deep.stderr,
        new RegExp(
          `^deep\\.json:1:${prefix.length + 63}: error: objects and arrays nested more than 64 levels deep, far deeper than any experiment key; the text was not read further$`,
          'm',
        ),
      );
      assert.match(deep.stderr, /^synthpair: deep\.json: has errors; nothing was run$/m);
      const huge = Buffer.alloc(2 * 1024 * 1024, ' ');
      await writeFile(path.join(folder, 'huge.json'), huge);
      const large = runCli(folder, 'run', 'huge.json', '--out', 'runs/x');
      assert.equal(large.code, 2);
      assert.equal(
        large.stderr,
        `synthpair: huge.json: is ${huge.length} bytes, more than the 1048576 an experiment file may hold; is it the right file?\n`,
      );
      assert.equal(existsSync(path.join(folder, 'runs', 'x')), false);
    });

    it('no config file, one that does not exist, and one that is not JSON', async () => {
      const none = runCli(folder, 'run');
      assert.equal(none.code, 2);
      assert.equal(none.stderr, 'synthpair: a config file is needed unless --resume is given\n');
      const missing = runCli(folder, 'run', 'absent.synthpair.json');
      assert.equal(missing.code, 2);
      assert.equal(missing.stderr, 'synthpair: absent.synthpair.json: no such file\n');
      await writeConfig('broken.json', '{ "name": "tiny", "data": { "root": "data" ');
      const broken = runCli(folder, 'run', 'broken.json');
      assert.equal(broken.code, 2);
      assert.match(broken.stderr, /^broken\.json:1:\d+: error: syntax error: /m);
      assert.match(broken.stderr, /^synthpair: broken\.json: has errors; nothing was run$/m);
    });
  });

  describe('run folders: exit 2 naming the folder, and its files byte for byte as they were', () => {
    it('--out at an existing run of another config and of the same config', async () => {
      const before = await snapshotFiles(done);
      const other = runCli(folder, 'run', 'tiny.synthpair.json', '--out', done, '--set', 'seed=3');
      assert.equal(other.code, 2);
      assert.equal(
        other.stderr,
        `synthpair: ${done}: already holds the run "tiny" (completed, another config); choose another --out\n`,
      );
      const same = runCli(folder, 'run', 'tiny.synthpair.json', '--out', done);
      assert.equal(same.code, 2);
      assert.equal(
        same.stderr,
        `synthpair: ${done}: already holds the run "tiny" (completed, same config); choose another --out\n`,
      );
      const stopped = await stoppedCopy('stopped');
      const again = runCli(folder, 'run', 'tiny.synthpair.json', '--out', stopped);
      assert.equal(again.code, 2);
      assert.match(
        again.stderr,
        /\(stopped, same config\); resume it with --resume .*stopped or choose another --out/,
      );
      assert.deepEqual(await snapshotFiles(done), before);
    });

    it('--resume of a folder that is not a run, or is no folder at all', async () => {
      const notes = path.join(folder, 'notes');
      await mkdir(notes);
      await writeFile(path.join(notes, 'thesis.tex'), 'precious');
      const notARun = runCli(folder, 'run', '--resume', notes);
      assert.equal(notARun.code, 2);
      assert.equal(notARun.stderr, `synthpair: ${notes} is not a SynthPair run: it has no run.json\n`);
      assert.deepEqual(await snapshotFiles(notes), new Map([['thesis.tex', Buffer.from('precious')]]));
      const nowhere = runCli(folder, 'run', '--resume', 'nowhere');
      assert.equal(nowhere.code, 2);
      assert.equal(nowhere.stderr, 'synthpair: nowhere: no such folder\n');
    });

    it('--resume of a run whose checkpoints are gone', async () => {
      const noFolder = await stoppedCopy('no-checkpoint-folder');
      await rm(path.join(noFolder, 'checkpoints'), { recursive: true });
      const before = await snapshotFiles(noFolder);
      const missing = runCli(folder, 'run', '--resume', noFolder);
      assert.equal(missing.code, 2);
      assert.equal(
        missing.stderr,
        `synthpair: ${path.join(noFolder, 'checkpoints')}: no such folder, so the run cannot be resumed\n`,
      );
      assert.deepEqual(await snapshotFiles(noFolder), before);

      const emptied = await stoppedCopy('emptied-checkpoints');
      await rm(path.join(emptied, 'checkpoints'), { recursive: true });
      await mkdir(path.join(emptied, 'checkpoints'));
      const beforeEmptied = await snapshotFiles(emptied);
      const empty = runCli(folder, 'run', '--resume', emptied);
      assert.equal(empty.code, 2);
      assert.match(
        empty.stderr,
        /checkpoints: holds no checkpoint although the run reached epoch 1, so it cannot be resumed/,
      );
      assert.deepEqual(await snapshotFiles(emptied), beforeEmptied);
    });

    it('--resume of a run whose data has gone', async () => {
      const moved = await stoppedCopy('moved-data');
      const saved = JSON.parse(await readFile(path.join(moved, 'config.json'), 'utf8'));
      await writeFile(
        path.join(moved, 'config.json'),
        JSON.stringify({ ...saved, data: { ...saved.data, root: path.join(folder, 'gone') } }),
      );
      const before = await snapshotFiles(moved);
      const result = runCli(folder, 'run', '--resume', moved);
      assert.equal(result.code, 2);
      assert.equal(result.stderr, `synthpair: ${path.join(folder, 'gone')}: no such folder (data.root)\n`);
      assert.deepEqual(await snapshotFiles(moved), before);
    });

    it('--resume with a config file, --set or --out', async () => {
      const stopped = await stoppedCopy('resume-arguments');
      const before = await snapshotFiles(stopped);
      const result = runCli(folder, 'run', 'tiny.synthpair.json', '--resume', stopped, '--set', 'seed=3');
      assert.equal(result.code, 2);
      assert.equal(
        result.stderr,
        'synthpair: --resume: continues with the config saved in the run folder; drop tiny.synthpair.json and --set\n',
      );
      assert.deepEqual(await snapshotFiles(stopped), before);
    });
  });
});
