import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { appendFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type * as DashboardPanelModule from '../../../src/host/dashboard/dashboardPanel';
import { RunLogFeed } from '../../../src/host/dashboard/runFeed';
import type { HostToDashboard } from '../../../src/shared/protocol/webview';
import { RunDirectory } from '../../../src/shared/runFolder/runDirectory';
import { type RunSummary, readRunSummary } from '../../../src/shared/runFolder/runSummary';
import { makeTempDir } from '../../fixtures/makeImages';
import { writeAnalysisStep } from '../../support/analysisStepFiles';
import { bytesReadDuring, canCountBytesRead } from '../../support/bytesRead';
import { FakeEventEmitter, FakeUri, substituteVscode } from '../../support/fakeVscode';

const metricsLine = (step: number) =>
  `${JSON.stringify({
    kind: 'step',
    epoch: Math.floor(step / 100) + 1,
    step,
    time: `2026-01-01T00:00:00.${String(step).padStart(6, '0')}Z`,
    losses: { contrastive: 4 - step / 100_000, reconstruction: 0.25 },
    lr: 0.001,
    imagesPerSecond: 120,
  })}\n`;
const metricsLines = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, index) => metricsLine(from + index)).join('');

/** A run folder as a run that has trained for a while leaves it: `steps` logged steps of metrics. */
async function trainingRun(
  parent: string,
  name: string,
  configFile: string,
  steps: number,
  startedAt = '2026-01-01T00:00:00.000Z',
): Promise<string> {
  const dir = path.join(parent, name);
  await RunDirectory.create(
    dir,
    { name },
    {
      name,
      configFile,
      pid: process.pid,
      seed: 0,
      startedAt,
      versions: { synthpair: '0.0.0', tfjs: '0.0.0', node: process.versions.node },
    },
  );
  await writeFile(path.join(dir, 'metrics.jsonl'), metricsLines(1, steps));
  return dir;
}

describe('dashboard host: the run logs a refresh reads', () => {
  let folder: string;
  beforeEach(async () => {
    folder = await makeTempDir('run-feed-cost');
  });

  afterEach(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('reads only the records appended since the previous update, not the whole log again', async function () {
    if (!canCountBytesRead) this.skip();
    const runDir = await trainingRun(folder, 'long', path.join(folder, 'long.synthpair.json'), 20_000);
    const feed = new RunLogFeed();
    assert.equal((await feed.update(runDir))?.metrics.length, 20_000);
    const appended = metricsLines(20_001, 20_040);
    await appendFile(path.join(runDir, 'metrics.jsonl'), appended);
    let update: Awaited<ReturnType<RunLogFeed['update']>>;
    const bytes = await bytesReadDuring(async () => {
      update = await feed.update(runDir);
    });
    assert.equal(update?.reset, false);
    assert.equal(update?.metrics.length, 40);
    assert.ok(bytes < appended.length + 4096, `read ${bytes} bytes for ${appended.length} appended`);
  });

  it('sends both logs whole when only one of them was rewritten', async () => {
    const runDir = await trainingRun(folder, 'resumed', path.join(folder, 'resumed.synthpair.json'), 3);
    const evalFile = path.join(runDir, 'eval.jsonl');
    await writeFile(evalFile, `${JSON.stringify({ epoch: 1, time: 'e1', knnTop1: 0.2 })}\n`);
    const feed = new RunLogFeed();
    await feed.update(runDir);
    await writeFile(evalFile, `${JSON.stringify({ epoch: 1, time: 'resumed', knnTop1: 0.3 })}\n`);
    const update = await feed.update(runDir);
    assert.equal(update?.reset, true);
    assert.equal(update?.metrics.length, 3, 'the metrics that did not change are sent again with the evals');
    assert.deepEqual(
      update?.evals.map((record) => record.time),
      ['resumed'],
    );
  });
});

/** What the panel asks of `vscode` from opening to refreshing: no editor is open, so no config is read. */
const fakeVscode = {
  EventEmitter: FakeEventEmitter,
  Uri: FakeUri,
  ViewColumn: { One: 1, Beside: -2 },
  window: {
    activeTextEditor: undefined,
    visibleTextEditors: [],
    onDidChangeActiveTextEditor: new FakeEventEmitter<unknown>().event,
  },
  workspace: {
    workspaceFolders: undefined,
    isTrusted: true,
    getWorkspaceFolder: () => undefined,
    onDidChangeTextDocument: new FakeEventEmitter<unknown>().event,
    openTextDocument: async (uri: FakeUri) => {
      throw new Error(`${uri.fsPath}: no documents in this test`);
    },
  },
};

describe('dashboard host: what a refresh reads while a run trains', () => {
  let restoreVscode: () => void;
  let DashboardPanel: typeof DashboardPanelModule.DashboardPanel;
  let folder: string;
  let configFile: string;
  let catalog: { runs: RunSummary[]; changed: FakeEventEmitter<void> };
  let webviewSays: FakeEventEmitter<unknown>;
  let dashboard: DashboardPanelModule.DashboardPanel;

  before(() => {
    restoreVscode = substituteVscode(fakeVscode);
    ({ DashboardPanel } =
      require('../../../src/host/dashboard/dashboardPanel') as typeof DashboardPanelModule);
  });

  after(() => restoreVscode());

  beforeEach(async () => {
    folder = await makeTempDir('dashboard-refresh');
    configFile = path.join(folder, 'birds.synthpair.json');
    catalog = { runs: [], changed: new FakeEventEmitter<void>() };
    webviewSays = new FakeEventEmitter<unknown>();
    const webview = {
      options: {},
      html: '',
      cspSource: 'https://webview.synthpair.test',
      asWebviewUri: (uri: FakeUri) => ({ toString: () => `https://webview.synthpair.test${uri.fsPath}` }),
      postMessage: async () => true,
      onDidReceiveMessage: webviewSays.event,
    };
    const panel = {
      webview,
      title: '',
      iconPath: undefined,
      onDidDispose: new FakeEventEmitter<void>().event,
      dispose: () => {},
    };
    const engine = Object.assign(new EventEmitter(), {
      state: 'ready',
      backendReport: async () => {
        throw new Error('no worker in this test');
      },
    });
    const controller = Object.assign(new EventEmitter(), { owns: () => false });
    dashboard = DashboardPanel.revive(
      panel as never,
      {
        extensionUri: new FakeUri('/extension'),
        engine,
        catalog: {
          get runs() {
            return catalog.runs;
          },
          trialRuns: [],
          findRun: (dir: string) => catalog.runs.find((run) => run.dir === dir),
          onDidChange: catalog.changed.event,
        },
        controller,
        output: { info: () => {}, warn: () => {}, error: () => {} },
      } as never,
      { configFile },
    );
  });

  afterEach(async () => {
    dashboard.dispose();
    await rm(folder, { recursive: true, force: true });
  });

  type Posted<T extends HostToDashboard['type']> = Extract<HostToDashboard, { type: T }>;

  /** The next message of `type` the panel posts that `accept` takes. */
  function posted<T extends HostToDashboard['type']>(
    type: T,
    accept: (message: Posted<T>) => boolean = () => true,
  ): Promise<Posted<T>> {
    return new Promise((resolve) => {
      const subscription = dashboard.onDidPostMessage((message) => {
        if (message.type === type && accept(message as Posted<T>)) {
          subscription.dispose();
          resolve(message as Posted<T>);
        }
      });
    });
  }

  /** Every runMetrics message posted from now on. */
  function metricsMessages(): Posted<'runMetrics'>[] {
    const messages: Posted<'runMetrics'>[] = [];
    dashboard.onDidPostMessage((message) => {
      if (message.type === 'runMetrics') messages.push(message);
    });
    return messages;
  }

  async function addRun(name: string, steps: number, startedAt?: string): Promise<string> {
    const runDir = await trainingRun(folder, name, configFile, steps, startedAt);
    catalog.runs = [...catalog.runs, await readRunSummary(runDir)].sort((a, b) =>
      b.status.startedAt.localeCompare(a.status.startedAt),
    );
    return runDir;
  }

  /** Large enough that reading one manifest again stands out from whatever else the process reads. */
  const padding = 256 * 1024;

  it('reads only what was appended and the new analysis step, however long the run has trained', async function () {
    if (!canCountBytesRead) this.skip();
    const runDir = await addRun('long', 20_000);
    for (const epoch of [0, 1, 2]) await writeAnalysisStep(runDir, epoch, { padding });
    const opened = Promise.all([
      posted('runMetrics', (message) => message.runDir === runDir),
      posted('analyses', (message) => message.runDir === runDir),
    ]);
    webviewSays.fire({ type: 'ready' });
    const [whole, analyses] = await opened;
    assert.equal(whole.metrics.length, 20_000);
    assert.equal(analyses.steps.length, 3);

    const sent = metricsMessages();
    const firstAppend = metricsLines(20_001, 20_040);
    const secondAppend = metricsLines(20_041, 20_080);
    const bytes = await bytesReadDuring(async () => {
      // One refresh while the epoch goes on…
      await appendFile(path.join(runDir, 'metrics.jsonl'), firstAppend);
      const appended = posted('runMetrics');
      catalog.changed.fire();
      await appended;
      // …and one as it ends with an analysis step, after which nothing is left to read.
      await appendFile(path.join(runDir, 'metrics.jsonl'), secondAppend);
      await writeAnalysisStep(runDir, 3);
      const stepAdded = posted('analyses', (message) => message.steps.length === 4);
      catalog.changed.fire();
      await stepAdded;
    });
    const newBytes = firstAppend.length + secondAppend.length;
    // rchar counts every read of the process, pipes to workers of earlier tests included: the slack is wide, and
    // still far below one manifest read again (256 KiB) or the 20,000 lines before (3 MB).
    assert.ok(bytes < newBytes + 64 * 1024, `two refreshes read ${bytes} bytes, ${newBytes} of them new`);
    assert.deepEqual(
      sent.map((message) => [message.reset, message.metrics.at(0)?.step, message.metrics.length]),
      [
        [false, 20_001, 40],
        [false, 20_041, 40],
      ],
    );
  });

  it('sends a run overlaid again whole, while the selected run only grows', async () => {
    const selected = await addRun('selected', 5, '2026-01-02T00:00:00.000Z');
    const opened = posted('analyses', (message) => message.runDir === selected);
    webviewSays.fire({ type: 'ready' });
    await opened;
    const other = await addRun('older', 3, '2026-01-01T00:00:00.000Z');
    const sent = metricsMessages();

    const overlaid = posted('runMetrics', (message) => message.runDir === other);
    webviewSays.fire({ type: 'overlayRuns', runDirs: [other] });
    await overlaid;
    await appendFile(path.join(selected, 'metrics.jsonl'), metricsLine(6));
    await appendFile(path.join(other, 'metrics.jsonl'), metricsLine(4));
    const grown = posted('runMetrics', (message) => message.runDir === other);
    catalog.changed.fire();
    await grown;
    // The run is deleted: it leaves the list and the overlay. Back again, it is read from its start.
    catalog.runs = catalog.runs.filter((run) => run.dir !== other);
    const removed = posted('binding', (message) => message.overlaidRuns.length === 0);
    catalog.changed.fire();
    await removed;
    catalog.runs = [...catalog.runs, await readRunSummary(other)];
    const back = posted('runMetrics', (message) => message.runDir === other);
    webviewSays.fire({ type: 'overlayRuns', runDirs: [other] });
    await back;

    const name = (runDir: string) => path.basename(runDir);
    assert.deepEqual(
      sent.map((message) => [
        name(message.runDir),
        message.reset,
        message.metrics.map((record) => record.step),
      ]),
      [
        ['older', true, [1, 2, 3]],
        ['selected', false, [6]],
        ['older', false, [4]],
        ['older', true, [1, 2, 3, 4]],
      ],
    );
  });
});
