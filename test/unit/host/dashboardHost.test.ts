import assert from 'node:assert/strict';
import { appendFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { applyEdits } from 'jsonc-parser';
import { changedKeys, readPanelValues, setConfigValue } from '../../../src/host/dashboard/configValues';
import { PairsSynthesis } from '../../../src/host/dashboard/pairsSynthesis';
import { RunLogFeed, SkippedFilesFeed } from '../../../src/host/dashboard/runFeed';
import type { HostToDashboard } from '../../../src/shared/protocol/webview';
import type { WorkerParams, WorkerResult } from '../../../src/shared/protocol/worker';
import { makeTempDir } from '../../fixtures/makeImages';
import { pairGrid } from '../../support/pairGrid';

const experimentText = `// an experiment with comments that edits must keep
{
  "name": "birds",
  "data": { "root": "data" },
  "analysis": {
    "variance": { "quantile": 0.3 } // the paper's value is 0.25
  },
  "perturb": { "mode": "shuffle" }
}
`;

const formatting = { insertSpaces: true, tabSize: 2, eol: '\n' };

describe('dashboard host: the config values the panels show and edit', () => {
  it('reads every panel key, defaults filled in, from unsaved text', () => {
    const read = readPanelValues(experimentText);
    assert.ok(read.ok);
    assert.deepEqual(read.values, {
      'analysis.variance.quantile': 0.3,
      'analysis.gradcam.quantile': 0.25,
      'analysis.gradcam.variant': 'absolute',
      'analysis.combine': 'union',
      'analysis.probes.samples': 4,
      'perturb.mode': 'shuffle',
      'perturb.strength': 1,
      'perturb.fraction': 1,
    });
  });

  it('names the first error of a text that is not a config, so the panels keep their last values', () => {
    const read = readPanelValues(experimentText.replace('0.3', '1.7'));
    assert.equal(read.ok, false);
    assert.match(!read.ok ? read.problem : '', /analysis\.variance\.quantile/);
    assert.equal(readPanelValues('{ "name": ').ok, false);
  });

  it('lists the keys that changed between two readings', () => {
    const before = readPanelValues(experimentText);
    const after = readPanelValues(experimentText.replace('"shuffle"', '"gaussian"'));
    assert.ok(before.ok && after.ok);
    assert.deepEqual(changedKeys(before.values, after.values), ['perturb.mode']);
    assert.equal(changedKeys(undefined, after.values).length, 8);
  });

  it('edits an existing key in place, keeping comments and layout', () => {
    const edits = setConfigValue(experimentText, 'analysis.variance.quantile', 0.4, formatting);
    const edited = applyEdits(experimentText, edits);
    assert.equal(edited, experimentText.replace('"quantile": 0.3', '"quantile": 0.4'));
    const read = readPanelValues(edited);
    assert.ok(read.ok);
    assert.equal(read.values['analysis.variance.quantile'], 0.4);
  });

  it('creates the enclosing objects of a key the file does not mention', () => {
    const edited = applyEdits(
      experimentText,
      setConfigValue(experimentText, 'analysis.gradcam.quantile', 0.1, formatting),
    );
    const read = readPanelValues(edited);
    assert.ok(read.ok);
    assert.equal(read.values['analysis.gradcam.quantile'], 0.1);
    assert.equal(read.values['analysis.variance.quantile'], 0.3);
    assert.match(edited, /the paper's value is 0\.25/);
  });
});

describe('dashboard host: run logs', () => {
  let folder: string;
  beforeEach(async () => {
    folder = await makeTempDir('run-feed');
  });

  afterEach(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  const record = (step: number, time: string) =>
    JSON.stringify({ kind: 'step', epoch: 1, step, time, losses: { contrastive: 3 }, lr: 0.1 });

  it('sends a run whole first, then only the lines appended since, then nothing', async () => {
    const metrics = path.join(folder, 'metrics.jsonl');
    await writeFile(metrics, `${record(10, 't10')}\n${record(20, 't20')}\n`);
    const feed = new RunLogFeed();
    const first = await feed.update(folder);
    assert.equal(first?.reset, true);
    assert.deepEqual(
      first?.metrics.map((entry) => entry.step),
      [10, 20],
    );
    // A torn last line (a write in progress) is not sent until it is whole.
    await appendFile(metrics, `${record(30, 't30')}\n{"kind":"st`);
    const second = await feed.update(folder);
    assert.equal(second?.reset, false);
    assert.deepEqual(
      second?.metrics.map((entry) => entry.step),
      [30],
    );
    assert.equal(await feed.update(folder), undefined);
  });

  it('sends the whole run again when a resume rewrote its logs', async () => {
    const metrics = path.join(folder, 'metrics.jsonl');
    await writeFile(metrics, `${record(10, 't10')}\n${record(20, 't20')}\n`);
    const feed = new RunLogFeed();
    await feed.update(folder);
    await writeFile(metrics, `${record(10, 't10')}\n${record(20, 'resumed')}\n${record(30, 't30')}\n`);
    const update = await feed.update(folder);
    assert.equal(update?.reset, true);
    assert.equal(update?.metrics.length, 3);
    feed.keepOnly([]);
    assert.equal((await feed.update(folder))?.reset, true);
  });
});

describe('dashboard host: the files a run left out', () => {
  let runDir: string;
  beforeEach(async () => {
    runDir = await makeTempDir('skipped-feed');
  });

  afterEach(async () => {
    await rm(runDir, { recursive: true, force: true });
  });

  const list = (count: number) =>
    JSON.stringify({
      time: new Date().toISOString(),
      files: Array.from({ length: count }, (_, index) => ({
        path: `/data/train/a/${index}.jpg`,
        stage: 'train',
        reason: 'unsupported image format',
      })),
    });

  it('says how many and which file lists them, again only when the list changed or the webview reloaded', async () => {
    const listFile = path.join(runDir, 'skipped.json');
    const feed = new SkippedFilesFeed();
    assert.deepEqual(await feed.update(runDir), { type: 'skippedFiles', runDir, listFile, count: 0 });
    await writeFile(listFile, list(7));
    assert.deepEqual(await feed.update(runDir), { type: 'skippedFiles', runDir, listFile, count: 7 });
    assert.equal(await feed.update(runDir), undefined);
    feed.reset();
    assert.equal((await feed.update(runDir))?.count, 7);
    // A resume writes the list again, renaming a new file over the old one as the run's atomic writes do.
    await writeFile(`${listFile}.new`, list(2));
    await rename(`${listFile}.new`, listFile);
    assert.equal((await feed.update(runDir))?.count, 2);
    await writeFile(listFile, '{"files": "not a list"}');
    assert.equal((await feed.update(runDir))?.count, 0);
  });
});

describe('dashboard host: redrawing the pairs as the config changes', () => {
  const values = readPanelValues(experimentText);
  assert.ok(values.ok);

  function synthesisResult(elapsedMs: number): WorkerResult<'synthesize'> {
    return pairGrid({ probes: 1, imageSize: 1, samples: 1 }, { elapsedMs });
  }

  function harness(
    answer: (params: WorkerParams<'synthesize'>, call: number) => Promise<WorkerResult<'synthesize'>>,
  ) {
    const posted: HostToDashboard[] = [];
    const requests: WorkerParams<'synthesize'>[] = [];
    const waiting: { count: number; reached(): void }[] = [];
    const synthesis = new PairsSynthesis({
      synthesize: (params) => {
        requests.push(params);
        return answer(params, requests.length);
      },
      post: (message) => {
        posted.push(message);
        for (const wait of waiting.filter(({ count }) => posted.length >= count)) wait.reached();
      },
      log: () => undefined,
      debounceMs: 20,
    });
    /** Settles once `count` messages have been posted. */
    const postedCount = (count: number) =>
      posted.length >= count
        ? Promise.resolve()
        : new Promise<void>((reached) => waiting.push({ count, reached }));
    return { synthesis, posted, requests, postedCount };
  }

  function held() {
    let release: (result: WorkerResult<'synthesize'>) => void = () => undefined;
    const answer = new Promise<WorkerResult<'synthesize'>>((resolve) => {
      release = resolve;
    });
    return { answer, release };
  }

  it('asks the worker at once when no redraw is waiting or running', () => {
    const { synthesis, posted, requests } = harness(() => new Promise(() => undefined));
    synthesis.schedule('run', { ...values.values, 'perturb.strength': 1.5 }, 1, performance.now());
    assert.equal(requests.length, 1);
    assert.equal(requests[0]?.overrides['perturb.strength'], 1.5);
    assert.deepEqual(posted, [{ type: 'synthesisState', requestId: 1, state: 'pending' }]);
    synthesis.dispose();
  });

  it('folds the edits made while a redraw runs into one request carrying the latest values', async () => {
    const first = held();
    const { synthesis, posted, requests, postedCount } = harness((_params, call) =>
      call === 1 ? first.answer : Promise.resolve(synthesisResult(5)),
    );
    synthesis.schedule('run', { ...values.values, 'perturb.strength': 1 }, 1, performance.now());
    synthesis.schedule('run', { ...values.values, 'perturb.strength': 1.5 }, 2, performance.now());
    synthesis.schedule('run', { ...values.values, 'perturb.strength': 2 }, 3, performance.now());
    assert.equal(requests.length, 1);
    // pending 1, pending 2, the grid of 2
    await postedCount(3);
    assert.deepEqual(
      requests.map((request) => request.overrides['perturb.strength']),
      [1, 2],
    );
    const grid = posted[2];
    assert.ok(grid?.type === 'synthesis');
    assert.equal(grid.version, 3);
    first.release(synthesisResult(5));
    await postedCount(4);
    assert.deepEqual(posted[3], { type: 'synthesisState', requestId: 1, state: 'cancelled' });
    assert.equal(requests.length, 2);
    synthesis.dispose();
  });

  it('times an edit to the webview’s painted grid, and only once', async () => {
    const answer = held();
    const { synthesis, posted, postedCount } = harness(() => answer.answer);
    const editedAt = performance.now();
    synthesis.schedule('run', values.values, 1, editedAt);
    answer.release(synthesisResult(7));
    await postedCount(2);
    const grid = posted.find((message) => message.type === 'synthesis');
    assert.ok(grid?.type === 'synthesis');
    const paintedAt = performance.now();
    const timing = synthesis.rendered(grid.requestId, 3);
    assert.ok(timing);
    assert.equal(timing.workerMs, 7);
    assert.equal(timing.renderMs, 3);
    assert.ok(
      timing.totalMs >= paintedAt - editedAt,
      `${timing.totalMs} ms runs from the edit to the report`,
    );
    assert.equal(synthesis.rendered(grid.requestId, 3), undefined);
    synthesis.dispose();
  });

  it('sends the originals and reconstructions only when they differ from those the webview holds', () => {
    const { synthesis, posted } = harness(() => new Promise(() => undefined));
    const grid = (originals: number, reconstructions: number) =>
      pairGrid(
        { probes: 1, imageSize: 1, samples: 1 },
        {
          originals: new Uint8Array(3).fill(originals),
          reconstructions: new Uint8Array(3).fill(reconstructions),
          perturbed: new Uint8Array(3).fill(originals + reconstructions),
        },
      );
    synthesis.show(1, 1, grid(1, 2));
    synthesis.show(2, 2, grid(1, 2));
    synthesis.show(3, 3, grid(1, 9));
    synthesis.show(4, 4, grid(1, 9));
    synthesis.forgetSentBase();
    synthesis.show(5, 5, grid(1, 9));
    assert.deepEqual(
      posted.map((message) => [message.type, 'baseId' in message ? message.baseId : undefined]),
      [
        ['synthesis', 1],
        ['synthesisSameBase', 1],
        ['synthesis', 2],
        ['synthesisSameBase', 2],
        ['synthesis', 3],
      ],
    );
    const reused = posted[1];
    assert.ok(reused?.type === 'synthesisSameBase');
    assert.ok(!('originals' in reused.result) && !('reconstructions' in reused.result));
    assert.deepEqual(reused.result.perturbed, new Uint8Array(3).fill(3));
    synthesis.dispose();
  });

  it('drops an answer that a newer request overtook, and tells an unavailable run from a failure', async () => {
    const first = held();
    const { synthesis, posted, postedCount } = harness((_params, call) => {
      if (call === 1) return first.answer;
      const error = new Error('run: was trained without a decoder');
      error.name = 'ExperimentInputError';
      return Promise.reject(error);
    });
    synthesis.schedule('run', values.values, 1, performance.now());
    synthesis.schedule('run', values.values, 2, performance.now());
    await postedCount(3);
    first.release(synthesisResult(80));
    await postedCount(4);
    assert.equal(posted.filter((message) => message.type === 'synthesis').length, 0);
    const states = posted.flatMap((message) => (message.type === 'synthesisState' ? [message.state] : []));
    assert.deepEqual(states, ['pending', 'pending', 'unavailable', 'cancelled']);
    synthesis.dispose();
  });
});
