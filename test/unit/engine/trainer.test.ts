import assert from 'node:assert/strict';
import { readFile } from 'node:fs';
import { readdir, readFile as readFileText, rm } from 'node:fs/promises';
import path from 'node:path';
import { initWasmBackend } from '../../../src/engine/backends/wasm/loadWasm';
import { loadSplits } from '../../../src/engine/data/splits';
import { tf } from '../../../src/engine/tf';
import { evaluate, evaluationSettingsOf } from '../../../src/engine/training/evaluate';
import { restoreCheckpoint } from '../../../src/engine/training/runCheckpoint';
import { stopAsked, type TrainerHooks, train } from '../../../src/engine/training/trainer';
import { RunDirectory } from '../../../src/shared/runFolder/runDirectory';
import { makeImageFolder, makeTempDir } from '../../fixtures/makeImages';
import { snapshotFiles } from '../../support/cli';
import { resolvedConfig } from '../../support/config';

const identity = {
  name: 'tiny',
  pid: process.pid,
  seed: 5,
  startedAt: new Date().toISOString(),
  versions: { synthpair: 'test', tfjs: tf.version_core, node: process.versions.node },
};

function tinyConfig(root: string, epochs: number) {
  return resolvedConfig({
    name: 'tiny',
    seed: 5,
    // Two of each class's ten training images are held out for validation, leaving four steps an epoch.
    data: { root, imageSize: 32, validation: { fraction: 0.2 } },
    model: { arch: 'smallcnn', width: 0.25, projector: { hiddenDim: 32, outDim: 16 } },
    augment: { colorJitter: { enabled: false }, grayscale: { enabled: false }, blur: { enabled: false } },
    ssl: { method: 'simclr' },
    train: { epochs, batchSize: 8 },
    optim: { name: 'adam', lr: 0.1, warmupEpochs: 0 },
    eval: { everyEpochs: 1, knn: { k: 5 }, linear: { epochs: 30, lr: 0.05 } },
    checkpoint: { everyEpochs: 1, keep: 0 },
  });
}

describe('trainer', function () {
  this.timeout(300_000);
  let folder: string;
  const quiet: TrainerHooks = { log: () => undefined, progress: () => undefined, shouldStop: () => false };

  before(async () => {
    folder = await makeTempDir('trainer');
    const classes = Object.fromEntries(['a', 'b', 'c', 'd'].map((name) => [name, { train: 10, test: 4 }]));
    await makeImageFolder(path.join(folder, 'data'), classes, 40);
    await initWasmBackend(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')));
  });

  after(async () => {
    await tf.setBackend('cpu');
    await rm(folder, { recursive: true, force: true });
  });

  async function newRun(name: string, epochs: number) {
    const config = tinyConfig(path.join(folder, 'data'), epochs);
    const run = await RunDirectory.create(path.join(folder, name), config, identity);
    return { config, run };
  }

  it('trains, logs every loss term, evaluates and checkpoints each epoch, without leaking tensors', async () => {
    const { config, run } = await newRun('plain', 4);
    const tensorsBefore = tf.memory().numTensors;
    const outcome = await train(
      config,
      { run, cacheFolder: path.join(folder, 'cache'), resume: false },
      quiet,
    );
    assert.equal(tf.memory().numTensors, tensorsBefore);
    assert.equal(outcome.state, 'completed');
    const metrics = (await run.readMetrics()).records;
    const epochs = metrics.filter((record) => record.kind === 'epoch');
    assert.deepEqual(
      epochs.map((record) => record.epoch),
      [1, 2, 3, 4],
    );
    assert.ok(epochs.every((record) => Number.isFinite(record.losses.contrastive)));
    assert.ok(epochs.at(-1)!.losses.contrastive! < epochs[0]!.losses.contrastive!, 'the loss did not fall');
    const evals = (await run.readEvals()).records;
    assert.equal(evals.length, 4);
    const last = evals.at(-1)!;
    assert.ok(last.knnTop1! > 0.5, `kNN top-1 ${last.knnTop1} is near chance (0.25)`);
    for (const key of ['linearTop1', 'rank1', 'rank5', 'mAP'] as const) {
      assert.ok(last[key]! >= 0 && last[key]! <= 1, `${key} = ${last[key]}`);
    }
  });

  it('chooses the best checkpoint by validation, keeps it beside the last and evaluates both on the test split', async () => {
    const { config: base, run } = await newRun('best', 5);
    // Checkpoints only at the end and one kept: the best one stays only because it is the best.
    const config = { ...base, checkpoint: { everyEpochs: 100, keep: 1 } };
    const outcome = await train(
      config,
      { run, cacheFolder: path.join(folder, 'cache'), resume: false },
      quiet,
    );
    const evals = (await run.readEvals()).records;
    assert.deepEqual(
      evals.map((record) => record.epoch),
      [1, 2, 3, 4, 5],
    );
    const validationMAPs = evals.map((record) => record.validation!.mAP);
    assert.ok(
      validationMAPs.every((value) => value > 0 && value <= 1),
      `${validationMAPs}`,
    );
    const bestEpoch = validationMAPs.indexOf(Math.max(...validationMAPs)) + 1;
    const last = evals.at(-1)!;
    assert.deepEqual(outcome.state === 'completed' && outcome.evaluation, last);
    const best = last.best!;
    assert.equal(best.epoch, bestEpoch);
    assert.equal(best.by, 'mAP');
    assert.deepEqual(best.validation, evals[bestEpoch - 1]!.validation);
    const pointer = JSON.parse(await readFileText(path.join(run.dir, 'checkpoints', 'best.json'), 'utf8'));
    assert.deepEqual(pointer, {
      checkpoint: best.checkpoint,
      epoch: bestEpoch,
      by: 'mAP',
      value: best.validation.mAP,
    });
    const kept = (await readdir(path.join(run.dir, 'checkpoints'))).filter((name) =>
      name.startsWith('epoch-'),
    );
    assert.deepEqual(kept, [...new Set([best.checkpoint, 'epoch-0005'])].sort());
    // The best checkpoint's test figures are those `synthpair eval --checkpoint best` measures.
    const restored = await restoreCheckpoint(config, await RunDirectory.open(run.dir), 'best');
    const splits = await loadSplits(config.data, path.join(folder, 'cache'), () => undefined);
    const measured = {
      epoch: restored.epoch,
      result: await evaluate(
        restored.method.encoder,
        splits.train,
        splits.test,
        evaluationSettingsOf(config),
      ),
    };
    restored.method.dispose();
    assert.equal(measured.epoch, bestEpoch);
    const { epoch: _epoch, checkpoint: _checkpoint, by: _by, validation: _validation, ...bestFigures } = best;
    assert.deepEqual(bestFigures, measured.result);
    if (bestEpoch === 5) {
      const { epoch: _e, time: _t, validation: _v, best: _b, ...lastFigures } = last;
      assert.deepEqual(bestFigures, lastFigures);
    }
  });

  it('logs a step record every 10 steps and at the last step of every epoch, however short', async () => {
    const { config, run } = await newRun('short-epochs', 3);
    await train(config, { run, cacheFolder: path.join(folder, 'cache'), resume: false }, quiet);
    const steps = (await run.readMetrics()).records.filter((record) => record.kind === 'step');
    // Four steps per epoch: each epoch's last step, and step 10 in the third.
    assert.deepEqual(
      steps.map(({ epoch, step }) => [epoch, step]),
      [
        [1, 4],
        [2, 8],
        [3, 10],
        [3, 12],
      ],
    );
    assert.ok(steps.every((record) => record.imagesPerSecond! > 0));
  });

  /**
   * A stop request that comes in as Ctrl-C does: a signal to this process, which the event loop delivers when
   * it next polls, never a flag set by the trainer's own call. `request()` sends it.
   */
  function stopSignal() {
    let requested = false;
    const listener = () => {
      requested = true;
    };
    process.on('SIGUSR2', listener);
    return {
      request: () => process.kill(process.pid, 'SIGUSR2'),
      shouldStop: () => requested,
      close: () => process.off('SIGUSR2', listener),
    };
  }

  let uninterruptedRun: Promise<RunDirectory> | undefined;
  /** The three epochs trained in one go, the reference every interrupted run must retrace. */
  function uninterrupted(): Promise<RunDirectory> {
    uninterruptedRun ??= newRun('uninterrupted', 3).then(async ({ config, run }) => {
      await train(config, { run, cacheFolder: path.join(folder, 'cache'), resume: false }, quiet);
      return run;
    });
    return uninterruptedRun;
  }

  /** Resumes a stopped run to the end, in a fresh RunDirectory as a new process would. */
  async function resumeToEnd(
    run: RunDirectory,
    config: ReturnType<typeof tinyConfig>,
    hooks: TrainerHooks = quiet,
  ) {
    const reopened = await RunDirectory.open(run.dir);
    const outcome = await train(
      config,
      { run: reopened, cacheFolder: path.join(folder, 'cache'), resume: true },
      hooks,
    );
    assert.equal(outcome.state, 'completed');
    return reopened;
  }

  /** The checkpoint `latest.json` names, and its manifest. */
  async function latestCheckpoint(run: RunDirectory) {
    const dir = path.join(run.dir, 'checkpoints');
    const { checkpoint } = JSON.parse(await readFileText(path.join(dir, 'latest.json'), 'utf8'));
    const manifest = JSON.parse(await readFileText(path.join(dir, checkpoint, 'manifest.json'), 'utf8'));
    return { checkpoint, manifest };
  }

  /**
   * Trains or resumes `run` with a stop requested during step `stopAt`; returns the outcome, the losses of
   * every step trained by their step, and what was logged.
   */
  async function trainStoppedAt(
    run: RunDirectory,
    config: ReturnType<typeof tinyConfig>,
    resume: boolean,
    stopAt: number,
  ) {
    const stop = stopSignal();
    const losses = new Map<number, Record<string, number>>();
    const logged: string[] = [];
    const trainedAfterRequest: number[] = [];
    const outcome = await train(
      config,
      { run, cacheFolder: path.join(folder, 'cache'), resume },
      {
        ...quiet,
        log: (_level, message) => logged.push(message),
        progress: (progress) => {
          if (losses.has(stopAt)) trainedAfterRequest.push(progress.step);
          losses.set(progress.step, progress.losses);
          if (progress.step === stopAt) stop.request();
        },
        shouldStop: stop.shouldStop,
      },
    ).finally(stop.close);
    assert.deepEqual(trainedAfterRequest, [], 'steps trained after the one during which the stop arrived');
    return { outcome, losses, logged };
  }

  /** Everything a run leaves but wall-clock times and speeds: records, analysis arrays and grids, weights. */
  async function contents(run: RunDirectory) {
    const files = await snapshotFiles(run.dir);
    const kept = [...files.keys()].filter(
      (file) => (file.startsWith('analysis/') || file.startsWith('checkpoints/')) && !file.endsWith('.json'),
    );
    const manifests = [...files.keys()].filter(
      (file) => file.endsWith('analysis.json') || file.endsWith('manifest.json'),
    );
    return {
      metrics: (await run.readMetrics()).records.map(
        ({ time: _time, imagesPerSecond: _speed, ...values }) => values,
      ),
      evals: (await run.readEvals()).records.map(({ time: _time, ...values }) => values),
      manifests: Object.fromEntries(
        manifests.map((file) => {
          const { time: _time, ...manifest } = JSON.parse(files.get(file)!.toString('utf8'));
          return [file, manifest];
        }),
      ),
      bytes: new Map(kept.sort().map((file) => [file, files.get(file)!])),
    };
  }

  async function assertRetraces(run: RunDirectory) {
    const expected = await contents(await uninterrupted());
    const actual = await contents(run);
    assert.deepEqual(actual.metrics, expected.metrics);
    assert.deepEqual(actual.evals, expected.evals);
    assert.deepEqual(actual.manifests, expected.manifests);
    assert.deepEqual([...actual.bytes.keys()], [...expected.bytes.keys()]);
    assert.ok(actual.bytes.has('checkpoints/epoch-0003/weights.bin'));
    assert.ok(actual.bytes.has('analysis/epoch-0003/pairs.png'));
    for (const [file, bytes] of expected.bytes) assert.ok(bytes.equals(actual.bytes.get(file)!), file);
  }

  it('sees a stop signal that arrived while a callback of the poll phase held the thread', async () => {
    const stop = stopSignal();
    // A finished read resumes code in the poll phase, as a batch from a worker thread resumes the trainer.
    const seen = await new Promise<boolean>((resolve, reject) => {
      readFile(__filename, () => {
        stop.request();
        stopAsked(stop).then(resolve, reject);
      });
    }).finally(stop.close);
    assert.equal(seen, true);
  });

  it('stops at the end of the step during which the request arrived, checkpoints it, and resumes from it to the uninterrupted run', async () => {
    const { config, run } = await newRun('stopped-mid-epoch', 3);
    // Four steps per epoch: the request comes in during step 6, in the middle of the second epoch.
    const stopped = await trainStoppedAt(run, config, false, 6);
    assert.deepEqual(stopped.outcome, { state: 'stopped', epoch: 1, step: 6 });
    const stoppedAt = (await RunDirectory.open(run.dir)).current;
    assert.equal(stoppedAt.epoch, 1);
    const { checkpoint, manifest } = await latestCheckpoint(run);
    assert.equal(checkpoint, 'epoch-0001-step-000006');
    assert.equal(manifest.epoch, 1);
    assert.equal(manifest.step, 6);
    // The sums the second epoch's summary will average, added in the order of its steps.
    const [fifth, sixth] = [stopped.losses.get(5)!, stopped.losses.get(6)!];
    assert.deepEqual(manifest.epochProgress, {
      steps: 2,
      lossSums: Object.fromEntries(Object.keys(fifth).map((name) => [name, 0 + fifth[name]! + sixth[name]!])),
    });
    assert.ok(
      stopped.logged.includes(
        'stopped 2 of 4 steps into epoch 2 (step 6); epoch-0001-step-000006 holds it for --resume',
      ),
      stopped.logged.join('\n'),
    );

    const resumedLog: string[] = [];
    const resumedSteps: number[] = [];
    const resumed = await resumeToEnd(run, config, {
      ...quiet,
      log: (_level, message) => resumedLog.push(message),
      progress: ({ step }) => resumedSteps.push(step),
    });
    assert.ok(
      resumedLog.includes('resuming 2 of 4 steps into epoch 2 (step 6) from epoch-0001-step-000006'),
      resumedLog.join('\n'),
    );
    assert.deepEqual(resumedSteps, [7, 8, 9, 10, 11, 12]);
    // The same files as the uninterrupted run: the stop checkpoint went once epoch 2's was saved.
    await assertRetraces(resumed);
  });

  it('resumes from a stop after the last step of an epoch, and from a stop checkpoint again after a crash, keeping the step records logged before it', async () => {
    const { config, run } = await newRun('stopped-repeatedly', 3);
    // Step 8 ends the second epoch: its summary, evaluation and checkpoint are left to the resume.
    const atEpochEnd = await trainStoppedAt(run, config, false, 8);
    assert.deepEqual(atEpochEnd.outcome, { state: 'stopped', epoch: 1, step: 8 });
    assert.equal((await latestCheckpoint(run)).manifest.epochProgress.steps, 4);
    assert.deepEqual(
      (await run.readMetrics()).records.map(({ kind, step }) => [kind, step]),
      [
        ['step', 4],
        ['epoch', 4],
        ['step', 8],
      ],
    );

    // Step 10 is logged in the middle of the third epoch, before the stop during step 11.
    const midEpoch = await trainStoppedAt(await RunDirectory.open(run.dir), config, true, 11);
    assert.deepEqual(midEpoch.outcome, { state: 'stopped', epoch: 2, step: 11 });
    assert.deepEqual(
      (await readdir(path.join(run.dir, 'checkpoints'))).filter((name) => name.startsWith('epoch-')),
      ['epoch-0001', 'epoch-0002', 'epoch-0002-step-000011'],
    );

    // A crash after step 12 was logged, before the checkpoint of the third epoch.
    await assert.rejects(
      train(
        config,
        { run: await RunDirectory.open(run.dir), cacheFolder: path.join(folder, 'cache'), resume: true },
        {
          ...quiet,
          progress: ({ step }) => {
            if (step === 12) throw new Error('crashed');
          },
        },
      ),
      /crashed/,
    );
    assert.deepEqual(
      (await run.readMetrics()).records
        .filter(({ epoch }) => epoch === 3)
        .map(({ kind, step }) => [kind, step]),
      [
        ['step', 10],
        ['step', 12],
      ],
    );
    assert.equal((await latestCheckpoint(run)).checkpoint, 'epoch-0002-step-000011');
    await assertRetraces(await resumeToEnd(run, config));
  });

  /** Trains `run` with a stop requested when a log message starting with `logged` is written. */
  async function stopWhenLogged(
    run: RunDirectory,
    config: ReturnType<typeof tinyConfig>,
    resume: boolean,
    logged: string,
  ) {
    const stop = stopSignal();
    const trainedAfterRequest: number[] = [];
    let requested = false;
    const outcome = await train(
      config,
      { run, cacheFolder: path.join(folder, 'cache'), resume },
      {
        ...quiet,
        log: (_level, message) => {
          if (message.startsWith(logged)) {
            stop.request();
            requested = true;
          }
        },
        progress: ({ step }) => {
          if (requested) trainedAfterRequest.push(step);
        },
        shouldStop: stop.shouldStop,
      },
    ).finally(stop.close);
    assert.ok(requested, `"${logged}…" was logged`);
    return { outcome, trainedAfterRequest };
  }

  it('stops before the next step when the request arrives between steps, and resumes to the uninterrupted run', async () => {
    const { config, run } = await newRun('stopped-between-epochs', 3);
    // The evaluation after the first epoch logs its figures before the checkpoint is written.
    const atEpochEnd = await stopWhenLogged(run, config, false, 'epoch 1: ');
    assert.deepEqual(atEpochEnd.trainedAfterRequest, [], 'steps trained after the request');
    assert.deepEqual(atEpochEnd.outcome, { state: 'stopped', epoch: 1, step: 4 });
    // A resumed run asked to stop while it sets out ends where it was, without a step.
    const atResume = await stopWhenLogged(
      await RunDirectory.open(run.dir),
      config,
      true,
      'resuming after epoch 1',
    );
    assert.deepEqual(atResume.trainedAfterRequest, [], 'steps trained after the request');
    assert.deepEqual(atResume.outcome, { state: 'stopped', epoch: 1, step: 4 });
    await assertRetraces(await resumeToEnd(run, config));
  });
});
