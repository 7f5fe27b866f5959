import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import {
  type ActiveRun,
  RunController,
  type RunEnding,
  type RunRequest,
} from '../../../src/host/runs/runController';
import { isAlive } from '../../../src/shared/runFolder/liveness';
import { readRunSummary } from '../../../src/shared/runFolder/runSummary';
import { makeTempDir } from '../../fixtures/makeImages';
import { tinyConfig, writeTinyExperiment } from '../../support/cli';
import { repoRoot as root } from '../../support/paths';
import { WeightsServer } from '../../support/weightsServer';

const workerScript = path.join(root, 'dist', 'worker.js');

/** The extension's run queue, without VS Code: real worker processes training a tiny experiment. */
describe('run controller: a worker per run, a queue, stop', function () {
  this.timeout(120_000);
  let folder: string;
  let controller: RunController;
  let concurrency = 1;

  function request(label: string, patch = {}): Omit<RunRequest, 'id'> {
    return {
      label,
      configFile: path.join(folder, 'tiny.synthpair.json'),
      start: {
        kind: 'new',
        configFile: path.join(folder, 'tiny.synthpair.json'),
        text: JSON.stringify(tinyConfig({ checkpoint: { everyEpochs: 1 }, ...patch })),
        overrides: [],
        overridesBase: folder,
        out: path.join(folder, 'runs', label),
        runsFolder: path.join(folder, 'runs'),
      },
      cacheFolder: path.join(folder, 'cache'),
    };
  }

  function ended(id: number): Promise<RunEnding> {
    return new Promise((resolve) => {
      const listener = (request: RunRequest, ending: RunEnding) => {
        if (request.id !== id) return;
        controller.off('ended', listener);
        resolve(ending);
      };
      controller.on('ended', listener);
    });
  }

  before(async () => {
    if (!existsSync(workerScript)) throw new Error('dist/worker.js is missing: run `npm run build` first');
    folder = await makeTempDir('run-controller');
    await writeTinyExperiment(folder);
  });

  function newController(options: { stopGraceMs?: number } = {}): RunController {
    return new RunController({
      workerScript,
      launchOptions: () => ({
        backend: 'wasm',
        wasmDir: path.join(root, 'dist', 'wasm'),
        nativeModulePaths: [],
      }),
      runtime: () => ({ concurrency, heapMb: 1024 }),
      log: () => undefined,
      ...options,
    });
  }

  /** Resolves with the run once its worker has reported a step of `epoch` or later. */
  function trainingIn(id: number, epoch: number): Promise<ActiveRun> {
    return new Promise((resolve) => {
      const listener = () => {
        const active = controller.running.find((candidate) => candidate.request.id === id);
        if (active?.runDir && active.pid !== undefined && (active.progress?.epoch ?? 0) >= epoch) {
          controller.off('changed', listener);
          resolve(active);
        }
      };
      controller.on('changed', listener);
    });
  }

  beforeEach(() => {
    concurrency = 1;
    controller = newController();
  });

  afterEach(async () => {
    await controller.dispose(1000);
  });

  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('trains runs one at a time in order, and takes a cancelled one out of the queue', async () => {
    const first = controller.enqueue(request('first'));
    const second = controller.enqueue(request('second'));
    const third = controller.enqueue(request('third'));
    assert.deepEqual(
      controller.running.map((run) => run.request.id),
      [first.id],
    );
    assert.deepEqual(
      controller.queued.map((queued) => queued.id),
      [second.id, third.id],
    );
    assert.deepEqual(controller.busyConfigs(), [path.join(folder, 'tiny.synthpair.json')]);
    const [firstEnding, secondEnding] = [ended(first.id), ended(second.id)];
    const secondStarted = new Promise<number>((resolve) => {
      const listener = () => {
        if (controller.running.some((run) => run.request.id === second.id)) {
          controller.off('changed', listener);
          resolve(Date.now());
        }
      };
      controller.on('changed', listener);
    });
    assert.equal(await controller.stop(third.id), true);
    assert.deepEqual(
      controller.queued.map((queued) => queued.id),
      [second.id],
    );
    const firstDone = await firstEnding;
    const firstEndedAt = Date.now();
    assert.equal(firstDone.kind === 'finished' && firstDone.result.state, 'completed');
    assert.ok((await secondStarted) >= firstEndedAt - 50, 'the second run starts only after the first ends');
    const secondDone = await secondEnding;
    assert.equal(secondDone.kind === 'finished' && secondDone.result.state, 'completed');
    assert.equal(existsSync(path.join(folder, 'runs', 'third')), false);
    assert.equal(await controller.stop(third.id), false, 'an ended run cannot be stopped again');
  });

  it('runs up to synthpair.concurrency at once', async () => {
    concurrency = 2;
    const a = controller.enqueue(request('pair-a'));
    const b = controller.enqueue(request('pair-b'));
    assert.equal(controller.running.length, 2);
    assert.equal(controller.queued.length, 0);
    const endings = await Promise.all([ended(a.id), ended(b.id)]);
    assert.deepEqual(
      endings.map((ending) => ending.kind === 'finished' && ending.result.state),
      ['completed', 'completed'],
    );
  });

  it('stops a run after a step, reports its progress and folder first, and ends its worker', async () => {
    const run = controller.enqueue(request('halted', { train: { epochs: 20 } }));
    const ending = ended(run.id);
    const progressed = await new Promise<NonNullable<(typeof controller.running)[number]>>((resolve) => {
      const listener = () => {
        const active = controller.running.find((candidate) => candidate.request.id === run.id);
        if (active?.runDir && (active.progress?.epoch ?? 0) >= 2 && active.secondsPerStep !== undefined) {
          controller.off('changed', listener);
          resolve(active);
        }
      };
      controller.on('changed', listener);
    });
    assert.equal(progressed.runDir, path.join(folder, 'runs', 'halted'));
    const pid = progressed.pid!;
    assert.equal(await controller.stop(run.id), true);
    const done = await ending;
    assert.ok(done.kind === 'finished');
    assert.equal(done.result.state, 'stopped');
    assert.ok(done.result.epoch < 20);
    assert.equal(isAlive(pid), false, 'the worker process has ended');
    const status = JSON.parse(await readFile(path.join(folder, 'runs', 'halted', 'run.json'), 'utf8'));
    assert.equal(status.state, 'stopped');
  });

  it('reports a run whose worker had to be ended after Stop as stopped, never as failed', async () => {
    await controller.dispose(1000);
    controller = newController({ stopGraceMs: 1000 });
    const run = controller.enqueue(request('unresponsive', { train: { epochs: 20 } }));
    const ending = ended(run.id);
    const { pid, runDir } = await trainingIn(run.id, 1);
    // A worker that cannot finish its step within the grace period, however fast the machine: it is paused.
    process.kill(pid!, 'SIGSTOP');
    assert.equal(await controller.stop(run.id), true);
    assert.deepEqual(await ending, { kind: 'forcedStop', afterMs: 1000 });
    assert.equal(isAlive(pid!), false, 'the worker process has ended');
    const summary = await readRunSummary(runDir!);
    assert.equal(summary.state, 'stopped', 'the folder reads as stopped, so Resume offers it');
  });

  it('reports a config the worker refuses as a failed start, without a run folder', async () => {
    const run = controller.enqueue(request('refused', { train: { epochs: -1 } }));
    const ending = await ended(run.id);
    assert.equal(ending.kind, 'failed');
    assert.match(ending.kind === 'failed' ? ending.error.message : '', /train\.epochs/);
    assert.equal(existsSync(path.join(folder, 'runs', 'refused')), false);
  });

  it('says what a run does before its first step: downloading model.init, with the share done', async () => {
    const weights = path.join(folder, 'weights');
    await mkdir(weights, { recursive: true });
    const script = path.join(root, 'test', 'reference', 'torch_weights.py');
    const made = spawnSync('/usr/bin/python3', [script, weights], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    const server = new WeightsServer(
      new Map([['/models/resnet18.pth', await readFile(path.join(weights, 'resnet18.pth'))]]),
    );
    const url = `${await server.start()}/models/resnet18.pth`;
    // The worker inherits where the cache is.
    const cacheBefore = process.env['SYNTHPAIR_CACHE'];
    process.env['SYNTHPAIR_CACHE'] = path.join(folder, 'weights-cache');
    try {
      await controller.dispose(1000);
      controller = newController();
      const run = controller.enqueue(
        request('pretrained', { model: { arch: 'resnet18', stem: 'imagenet', width: 1, init: url } }),
      );
      const said = new Set<string>();
      const downloaded = await new Promise<ActiveRun>((resolve) => {
        const listener = () => {
          const active = controller.running.find((candidate) => candidate.request.id === run.id);
          if (!active) return;
          if (active.preparing) said.add(active.preparing);
          if (active.runDir) {
            controller.off('changed', listener);
            resolve(active);
          }
        };
        controller.on('changed', listener);
      });
      const downloads = [...said].filter((text) => text.startsWith(`downloading ${url}: `));
      assert.ok(downloads.length > 1, [...said].join('\n'));
      assert.match(downloads.at(-1)!, / MB of \d+\.\d MB$/);
      assert.ok(downloaded.runDir, 'the run folder is made once the weights are in');
      await controller.stop(run.id);
    } finally {
      if (cacheBefore === undefined) delete process.env['SYNTHPAIR_CACHE'];
      else process.env['SYNTHPAIR_CACHE'] = cacheBefore;
      await server.stop();
    }
  });

  it('stops every run on dispose, leaving them resumable', async () => {
    const run = controller.enqueue(request('closing', { train: { epochs: 20 } }));
    await new Promise<void>((resolve) => {
      const listener = () => {
        if (
          controller.running.some(
            (active) => active.request.id === run.id && (active.progress?.epoch ?? 0) >= 1,
          )
        ) {
          controller.off('changed', listener);
          resolve();
        }
      };
      controller.on('changed', listener);
    });
    await controller.dispose(10_000);
    const status = JSON.parse(await readFile(path.join(folder, 'runs', 'closing', 'run.json'), 'utf8'));
    assert.equal(status.state, 'stopped');
    assert.throws(() => controller.enqueue(request('late')), /shutting down/);
  });
});
