import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { WorkerProcess } from '../../../src/host/workers/workerProcess';
import { RemoteError } from '../../../src/shared/protocol/errors';
import type { TrainingProgressMessage, WorkerParams } from '../../../src/shared/protocol/worker';
import { makeTempDir } from '../../fixtures/makeImages';
import { tinyConfig, writeTinyExperiment } from '../../support/cli';
import { repoRoot as root } from '../../support/paths';

const workerScript = path.join(root, 'dist', 'worker.js');

/** The extension's way to train: a worker process per run, the config's text as the editor holds it. */
describe('training through the engine worker (bundled dist/worker.js)', function () {
  this.timeout(120_000);
  let folder: string;
  let configText: string;
  const workers: WorkerProcess[] = [];

  function startWorker(): WorkerProcess {
    const worker = new WorkerProcess({
      script: workerScript,
      launch: { backend: 'wasm', wasmDir: path.join(root, 'dist', 'wasm'), nativeModulePaths: [] },
      log: () => undefined,
    });
    workers.push(worker);
    return worker;
  }

  function newRun(out: string, text = configText): WorkerParams<'train'> {
    return {
      start: {
        kind: 'new',
        configFile: path.join(folder, 'tiny.synthpair.json'),
        text,
        overrides: [],
        overridesBase: folder,
        out: path.join(folder, 'runs', out),
        runsFolder: path.join(folder, 'runs'),
      },
      cacheFolder: path.join(folder, 'cache'),
    };
  }

  before(async () => {
    if (!existsSync(workerScript)) {
      throw new Error('dist/worker.js is missing: run `npm run build` first');
    }
    folder = await makeTempDir('worker-training');
    const patch = {
      train: { epochs: 3 },
      eval: { everyEpochs: 1 },
      checkpoint: { everyEpochs: 1, keep: 0 },
    };
    await writeTinyExperiment(folder, patch);
    configText = JSON.stringify(tinyConfig(patch));
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop()));
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('trains a run to completion, reporting each step and the final evaluation', async () => {
    const progress: TrainingProgressMessage[] = [];
    const result = await startWorker().request('train', newRun('whole'), {
      onProgress: (_message, { training }) => {
        if (training) progress.push(training);
      },
    });
    assert.equal(result.state, 'completed');
    assert.equal(result.runDir, path.join(folder, 'runs', 'whole'));
    assert.deepEqual(
      progress.map((entry) => entry.step),
      Array.from({ length: progress[0]!.totalSteps }, (_, i) => i + 1),
    );
    assert.equal(progress.at(-1)!.epoch, 3);
    const status = JSON.parse(await readFile(path.join(result.runDir, 'run.json'), 'utf8'));
    assert.equal(status.state, 'completed');
    const evaluations = (await readFile(path.join(result.runDir, 'eval.jsonl'), 'utf8')).trim().split('\n');
    assert.deepEqual(result.evaluation, JSON.parse(evaluations.at(-1)!));
  });

  it('stops on request after a step, and a resumed run ends where the uninterrupted one did', async () => {
    const worker = startWorker();
    let stopSent = false;
    const stopped = await worker.request('train', newRun('halted'), {
      onProgress: (_message, { training }) => {
        if (training?.epoch === 2 && !stopSent) {
          stopSent = true;
          void worker.request('stopTraining', {});
        }
      },
    });
    assert.equal(stopped.state, 'stopped');
    // The request crosses two processes while steps go on: the run stops in epoch 2 or 3, never at its end.
    assert.ok(stopped.epoch === 1 || stopped.epoch === 2, `stopped after ${stopped.epoch} epochs`);
    assert.deepEqual(await worker.request('stopTraining', {}), { stopping: false });

    const resumed = await startWorker().request('train', {
      start: { kind: 'resume', runDir: stopped.runDir },
      cacheFolder: path.join(folder, 'cache'),
    });
    assert.equal(resumed.state, 'completed');
    const uninterrupted = (await readFile(path.join(folder, 'runs', 'whole', 'eval.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const { time: _resumedAt, ...resumedFigures } = resumed.evaluation!;
    const { time: _uninterruptedAt, ...uninterruptedFigures } = uninterrupted.at(-1)!;
    assert.deepEqual(resumedFigures, uninterruptedFigures);
  });

  it('refuses an unsaved config with errors, naming the key, and writes no run folder', async () => {
    const text = configText.replace('"epochs"', '"epoch"');
    await assert.rejects(startWorker().request('train', newRun('refused', text)), (error: unknown) => {
      assert.ok(error instanceof RemoteError);
      assert.match(error.message, /train\.epoch: unknown key; did you mean train\.epochs\?/);
      return true;
    });
    assert.ok(!(await readdir(path.join(folder, 'runs'))).includes('refused'));
  });
});
