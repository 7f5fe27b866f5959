import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type * as DescribeStudyModule from '../../../src/host/studies/describeStudy';
import type * as StudyCatalogModule from '../../../src/host/studies/studyCatalog';
import type * as StudyCliModule from '../../../src/host/studies/studyCli';
import type * as StudyCodeLensModule from '../../../src/host/studies/studyCodeLens';
import type * as StudyPanelMessageModule from '../../../src/host/studies/studyPanelMessage';
import type * as StudyTreeModule from '../../../src/host/studies/studyTree';
import { parseStudyFile } from '../../../src/shared/config/study/parse';
import type { StudySubmission } from '../../../src/shared/protocol/studyFiles';
import { hostToStudyPanel } from '../../../src/shared/protocol/studyPanel';
import { validateMessage } from '../../../src/shared/protocol/validate';
import { RunDirectory } from '../../../src/shared/runFolder/runDirectory';
import { planStudy, studyFolderOf } from '../../../src/shared/study/plan';
import type { SlurmSnapshot } from '../../../src/shared/study/slurmQueue';
import {
  appendSubmission,
  appendTrialAttempt,
  trialFolder,
  writeStudyManifest,
} from '../../../src/shared/study/studyFolder';
import { describeTrialCounts } from '../../../src/shared/study/trialCounts';
import { makeTempDir } from '../../fixtures/makeImages';
import { FakeEventEmitter, FakeUri, substituteVscode } from '../../support/fakeVscode';

/** A file watcher the catalog made, which a test fires as the file system would. */
interface FakeWatcher {
  base: string | undefined;
  created: FakeEventEmitter<FakeUri>;
  changed: FakeEventEmitter<FakeUri>;
  deleted: FakeEventEmitter<FakeUri>;
  disposed: boolean;
}

const watchers: FakeWatcher[] = [];
let workspaceFolder = '';
let trusted = true;

class FakeRelativePattern {
  constructor(
    readonly base: FakeUri,
    readonly pattern: string,
  ) {}
}

class FakeTreeItem {
  id?: string;
  description?: string;
  tooltip?: unknown;
  iconPath?: { id: string };
  contextValue?: string;
  command?: { command: string; arguments?: unknown[] };
  resourceUri?: FakeUri;
  constructor(
    readonly label: string,
    readonly collapsibleState?: number,
  ) {}
}

class FakeMarkdownString {
  value = '';
  appendMarkdown(text: string): this {
    this.value += text;
    return this;
  }
}

class FakeCodeLens {
  constructor(
    readonly range: unknown,
    readonly command: { title: string; command: string; arguments?: unknown[] },
  ) {}
}

async function studyFilesUnder(folder: string): Promise<FakeUri[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.study.json'))
    .map((entry) => path.join(entry.parentPath, entry.name))
    .filter((file) => !file.includes(`${path.sep}.synthpair${path.sep}`))
    .map((file) => FakeUri.file(file));
}

/** The parts of `vscode` the study catalog, the study tree and the study CodeLens use. */
const fakeVscode = {
  EventEmitter: FakeEventEmitter,
  Uri: FakeUri,
  RelativePattern: FakeRelativePattern,
  Disposable: {
    from: (...disposables: { dispose(): unknown }[]) => ({
      dispose: () => {
        for (const disposable of disposables) disposable.dispose();
      },
    }),
  },
  ThemeIcon: class {
    constructor(
      readonly id: string,
      readonly color?: unknown,
    ) {}
  },
  ThemeColor: class {
    constructor(readonly id: string) {}
  },
  TreeItem: FakeTreeItem,
  TreeItemCollapsibleState: { None: 0, Collapsed: 1, Expanded: 2 },
  MarkdownString: FakeMarkdownString,
  CodeLens: FakeCodeLens,
  Range: class {
    constructor(...position: number[]) {
      void position;
    }
  },
  window: { onDidChangeActiveTextEditor: new FakeEventEmitter<unknown>().event },
  workspace: {
    get isTrusted() {
      return trusted;
    },
    onDidGrantWorkspaceTrust: new FakeEventEmitter<void>().event,
    onDidChangeWorkspaceFolders: new FakeEventEmitter<unknown>().event,
    asRelativePath: (file: string) => path.relative(workspaceFolder, file) || file,
    findFiles: () => studyFilesUnder(workspaceFolder),
    createFileSystemWatcher: (pattern: string | FakeRelativePattern) => {
      const watcher: FakeWatcher = {
        base: typeof pattern === 'string' ? undefined : pattern.base.fsPath,
        created: new FakeEventEmitter<FakeUri>(),
        changed: new FakeEventEmitter<FakeUri>(),
        deleted: new FakeEventEmitter<FakeUri>(),
        disposed: false,
      };
      watchers.push(watcher);
      return {
        onDidCreate: watcher.created.event,
        onDidChange: watcher.changed.event,
        onDidDelete: watcher.deleted.event,
        dispose: () => {
          watcher.disposed = true;
        },
      };
    },
  },
};

/** Polls `probe` until it holds; the limit is for a hang, not a measure of this machine's speed. */
async function until<T>(probe: () => T | undefined | false, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const studyText = (name: string, executor: 'local' | 'slurm' = 'local') =>
  JSON.stringify({
    name,
    experiment: 'tiny.synthpair.json',
    seeds: [0, 1],
    conditions: [
      { name: 'simclr', baseline: true, set: { 'ssl.method': 'simclr' } },
      { name: 'mocov2', set: { 'ssl.method': 'mocov2' } },
    ],
    metrics: ['knnTop1', 'mAP'],
    executor: { kind: executor },
  });

type TrialFixture = 'completed' | 'running' | 'stopped' | 'failed';

/** A study folder as `study run` leaves it: its manifest, its submissions, and a run folder per trial that started. */
async function writeStudyFolder(
  studyFile: string,
  trials: Record<string, TrialFixture>,
  submissions: StudySubmission[],
): Promise<string> {
  const { study } = parseStudyFile(
    await import('node:fs/promises').then((fs) => fs.readFile(studyFile, 'utf8')),
  );
  assert.ok(study);
  const studyDir = studyFolderOf(study, studyFile);
  const plan = planStudy(study, studyFile);
  await writeStudyManifest(studyDir, { ...plan, updatedAt: new Date().toISOString() });
  for (const submission of submissions) await appendSubmission(studyDir, submission);
  for (const [id, state] of Object.entries(trials)) {
    const trial = plan.trials.find((candidate) => candidate.id === id)!;
    const run = await RunDirectory.create(
      trialFolder(studyDir, id),
      { train: { epochs: 2 } },
      {
        name: `${study.name}.${trial.condition}`,
        configFile: plan.experimentFile,
        pid: process.pid,
        seed: trial.seed,
        startedAt: new Date().toISOString(),
        versions: { synthpair: '0.0.0', tfjs: '0.0.0', node: process.versions.node },
      },
    );
    if (state === 'completed') {
      await run.appendEval({
        epoch: 2,
        time: new Date().toISOString(),
        knnTop1: 0.5 + trial.seed / 10,
        mAP: 0.4,
      });
      await run.update({ state: 'completed', epoch: 2, endedAt: new Date().toISOString() });
    } else if (state === 'running') {
      await run.update({ epoch: 1 });
    } else {
      await run.update({ state, epoch: 1, ...(state === 'failed' ? { error: 'out of memory' } : {}) });
    }
  }
  return studyDir;
}

function localQueue(pid: number, trials: string[]): StudySubmission {
  return { kind: 'local', pid, host: os.hostname(), submittedAt: new Date().toISOString(), trials };
}

describe('studies in the extension host', () => {
  let restoreVscode: () => void;
  let StudyCatalog: typeof StudyCatalogModule.StudyCatalog;
  let StudyTreeItems: typeof StudyTreeModule.StudyTreeItems;
  let StudyCodeLensProvider: typeof StudyCodeLensModule.StudyCodeLensProvider;
  let studyPanelMessage: typeof StudyPanelMessageModule.studyPanelMessage;
  let describeStudy: typeof DescribeStudyModule;
  let catalog: StudyCatalogModule.StudyCatalog | undefined;
  const children: ChildProcess[] = [];

  before(() => {
    restoreVscode = substituteVscode(fakeVscode);
    ({ StudyCatalog } = require('../../../src/host/studies/studyCatalog') as typeof StudyCatalogModule);
    ({ StudyTreeItems } = require('../../../src/host/studies/studyTree') as typeof StudyTreeModule);
    ({ StudyCodeLensProvider } =
      require('../../../src/host/studies/studyCodeLens') as typeof StudyCodeLensModule);
    ({ studyPanelMessage } =
      require('../../../src/host/studies/studyPanelMessage') as typeof StudyPanelMessageModule);
    describeStudy = require('../../../src/host/studies/describeStudy') as typeof DescribeStudyModule;
  });

  after(() => restoreVscode());

  beforeEach(async () => {
    workspaceFolder = await makeTempDir('studies-host');
    watchers.splice(0);
    trusted = true;
  });

  afterEach(async () => {
    catalog?.dispose();
    catalog = undefined;
    for (const child of children.splice(0)) child.kill('SIGKILL');
    await rm(workspaceFolder, { recursive: true, force: true });
  });

  /** A long-lived process standing in for a `study run` queue. */
  async function queueProcess(): Promise<ChildProcess> {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    children.push(child);
    await once(child, 'spawn');
    return child;
  }

  function studyFolderWatcher(studyDir: string): FakeWatcher {
    const watcher = watchers.find((candidate) => candidate.base === studyDir && !candidate.disposed);
    assert.ok(watcher, `the catalog watches ${studyDir}`);
    return watcher;
  }

  it('lists the study files, valid or not, each with its study folder, and plans the trials of one never run', async () => {
    const valid = path.join(workspaceFolder, 'birds.study.json');
    const invalid = path.join(workspaceFolder, 'broken.study.json');
    await writeFile(valid, studyText('birds'));
    await writeFile(
      invalid,
      JSON.stringify({
        name: 'broken',
        experiment: 'tiny.synthpair.json',
        conditions: [
          { name: 'a', baseline: true },
          { name: 'a', baseline: true },
        ],
      }),
    );
    catalog = new StudyCatalog();
    await catalog.refresh();
    assert.deepEqual(
      catalog.studies.map((entry) => entry.file),
      [valid, invalid],
    );
    const birds = catalog.get(valid)!;
    assert.equal(birds.problem, undefined);
    assert.equal(birds.studyDir, path.join(workspaceFolder, '.synthpair', 'studies', 'birds'));
    assert.equal(birds.state, undefined);
    assert.equal(birds.active, false);
    assert.match(catalog.get(invalid)!.problem ?? '', /two are named a/);
    assert.deepEqual(catalog.studyFolders(), [birds.studyDir]);

    const tree = new StudyTreeItems(catalog);
    const [birdsNode, brokenNode] = tree.roots();
    const brokenItem = tree.item(brokenNode!) as unknown as FakeTreeItem;
    assert.equal(brokenItem.contextValue, 'study.invalid');
    assert.match(String(brokenItem.description), /^invalid: conditions: two are named a/);
    assert.deepEqual(tree.children(brokenNode!), []);
    const birdsItem = tree.item(birdsNode!) as unknown as FakeTreeItem;
    assert.equal(birdsItem.contextValue, 'study');
    assert.equal(birdsItem.description, 'not run · 2 conditions × 2 seeds');
    const conditions = tree.children(birdsNode!);
    assert.deepEqual(
      conditions.map((node) => (tree.item(node) as unknown as FakeTreeItem).label),
      ['simclr', 'mocov2'],
    );
    const trials = tree.children(conditions[0]!);
    assert.deepEqual(
      trials.map((node) => (tree.item(node) as unknown as FakeTreeItem).description),
      ['pending', 'pending'],
    );
    assert.deepEqual(tree.parent(trials[1]!), conditions[0]);

    const message = studyPanelMessage(valid, birds);
    assert.equal(message.type, 'noStudy');
    assert.match(
      message.type === 'noStudy' ? message.reason : '',
      /has not run yet\. Run Study trains its 4 trials/,
    );
    assert.match(
      (studyPanelMessage(invalid, catalog.get(invalid)) as { reason: string }).reason,
      /not valid/,
    );
  });

  it('reads a study folder when it changes, and follows a local queue until its process ends, without a file event', async () => {
    const file = path.join(workspaceFolder, 'birds.study.json');
    await writeFile(file, studyText('birds'));
    catalog = new StudyCatalog({ settleMs: 10, pollMs: { local: 50, slurm: 1000, idle: 60_000 } });
    await catalog.refresh();
    let changes = 0;
    catalog.onDidChange(() => changes++);
    const queue = await queueProcess();
    const studyDir = await writeStudyFolder(
      file,
      { 'simclr.seed-0': 'completed', 'simclr.seed-1': 'running' },
      [localQueue(queue.pid!, ['simclr.seed-0', 'simclr.seed-1', 'mocov2.seed-0', 'mocov2.seed-1'])],
    );
    studyFolderWatcher(studyDir).created.fire(FakeUri.file(path.join(studyDir, 'study.json')));
    const entry = await until(() => catalog!.get(file)?.state && catalog!.get(file), 'the study state');
    assert.ok(changes > 0);
    assert.deepEqual(
      entry.state!.trials.map((trial) => [trial.id, trial.state, trial.scheduler]),
      [
        ['simclr.seed-0', 'completed', undefined],
        ['simclr.seed-1', 'running', 'local'],
        ['mocov2.seed-0', 'queued', 'local'],
        ['mocov2.seed-1', 'queued', 'local'],
      ],
    );
    assert.equal(entry.active, true);
    assert.deepEqual(catalog.activeFiles(), [file]);

    const tree = new StudyTreeItems(catalog);
    const [study] = tree.roots();
    const studyItem = tree.item(study!) as unknown as FakeTreeItem;
    assert.equal(studyItem.contextValue, 'study.active');
    assert.equal(studyItem.description, '1/4 done · 1 running');
    assert.match(String(studyItem.tooltip), /4 trials: 1 completed, 1 running, 2 queued$/);
    const [baseline, compared] = tree.children(study!);
    assert.equal(
      (tree.item(baseline!) as unknown as FakeTreeItem).description,
      'baseline · 1/2 done · 1 running',
    );
    assert.equal((tree.item(baseline!) as unknown as FakeTreeItem).iconPath?.id, 'star-full');
    assert.equal((tree.item(compared!) as unknown as FakeTreeItem).description, '0/2 done');
    assert.equal((tree.item(compared!) as unknown as FakeTreeItem).iconPath?.id, 'settings');
    const [done, running] = tree
      .children(baseline!)
      .map((node) => tree.item(node) as unknown as FakeTreeItem);
    assert.equal(done!.contextValue, 'trial.completed.run');
    assert.equal(done!.iconPath?.id, 'pass');
    assert.equal(done!.command?.command, 'synthpair.openDashboard');
    assert.equal(running!.description, 'running · epoch 1/2 · local');
    const doneTooltip = (done!.tooltip as FakeMarkdownString).value;
    assert.match(doneTooltip, /- Run folder: `.*simclr\.seed-0`/);
    assert.match(doneTooltip, /- kNN top-1: 50\.00 %\n- mAP: 40\.00 %\n$/);
    const queued = tree.item(tree.children(compared!)[0]!) as unknown as FakeTreeItem;
    assert.equal(queued.contextValue, 'trial.queued');
    assert.equal(queued.command, undefined, 'a trial without a run folder has no run to show');
    assert.doesNotMatch((queued.tooltip as FakeMarkdownString).value, /Run folder:|Log:/);

    const lenses = new StudyCodeLensProvider(catalog);
    const titles = () =>
      lenses
        .provideCodeLenses({ uri: FakeUri.file(file) } as never)
        .map((lens) => (lens as unknown as FakeCodeLens).command.title);
    assert.deepEqual(titles(), [
      '$(debug-stop) Cancel Study · 1/4 done · 1 running',
      '$(table) Open Study Panel',
    ]);

    const message = studyPanelMessage(file, entry);
    const checked = validateMessage(hostToStudyPanel, message);
    assert.ok(checked.ok, checked.ok ? '' : checked.reason);
    assert.equal(checked.value.type, 'study');
    if (checked.value.type === 'study') {
      assert.equal(checked.value.active, true);
      assert.equal(checked.value.executor, 'local');
      assert.deepEqual(
        checked.value.table.conditions.map((condition) => [
          condition.id,
          condition.completed,
          condition.trials,
        ]),
        [
          ['simclr', 1, 2],
          ['mocov2', 0, 2],
        ],
      );
    }

    // The queue ends without a word: its waiting trials were never started, and nothing in the folder changes.
    queue.kill('SIGKILL');
    await once(queue, 'exit');
    const idle = await until(
      () =>
        catalog!.get(file)?.state?.trials.every((trial) => trial.state !== 'queued') && catalog!.get(file),
      'the catalog to notice that the queue has gone',
    );
    assert.deepEqual(
      idle.state!.trials.map((trial) => trial.state),
      ['completed', 'running', 'pending', 'pending'],
      'the trial whose own process (this test) still lives still trains',
    );
    assert.deepEqual(titles().slice(0, 1), ['$(debug-stop) Cancel Study · 1/4 done · 1 running']);
    lenses.dispose();
  });

  it('reads a study folder that keeps changing, without waiting for it to fall quiet', async () => {
    const file = path.join(workspaceFolder, 'birds.study.json');
    await writeFile(file, studyText('birds'));
    catalog = new StudyCatalog({ settleMs: 50, pollMs: { local: 60_000, slurm: 60_000, idle: 60_000 } });
    await catalog.refresh();
    const studyDir = await writeStudyFolder(file, { 'simclr.seed-0': 'completed' }, []);
    const runFile = FakeUri.file(path.join(trialFolder(studyDir, 'simclr.seed-0'), 'run.json'));
    // Short trials starting and ending back to back: their files change more often than the catalog settles.
    // The changes never stop until the catalog has read the folder, so a catalog that waits for quiet hangs.
    await until(() => {
      studyFolderWatcher(studyDir).changed.fire(runFile);
      return catalog!.get(file)?.state;
    }, 'the catalog to read the folder while it still changes');
  });

  it('asks Slurm about a study’s arrays while their trials wait or train, and no longer once they have ended', async () => {
    const file = path.join(workspaceFolder, 'birds.study.json');
    await writeFile(file, studyText('birds', 'slurm'));
    const trials = ['simclr.seed-0', 'simclr.seed-1', 'mocov2.seed-0', 'mocov2.seed-1'];
    await writeStudyFolder(file, { 'simclr.seed-0': 'running' }, [
      {
        kind: 'slurm',
        jobId: '77',
        submittedAt: new Date().toISOString(),
        trials,
        script: 'slurm/submit.sh',
      },
    ]);
    const asked: string[][] = [];
    let answer: SlurmSnapshot = new Map([
      ['77_0', { state: 'RUNNING' }],
      ['77_1', { state: 'PENDING', reason: 'Resources' }],
      ['77_2', { state: 'PENDING', reason: 'Priority' }],
      ['77_3', { state: 'PENDING', reason: 'Priority' }],
    ]);
    catalog = new StudyCatalog({
      settleMs: 10,
      pollMs: { local: 20, slurm: 60, idle: 60_000 },
      querySlurm: async (jobIds) => {
        asked.push([...jobIds]);
        return answer;
      },
    });
    await catalog.refresh();
    const entry = catalog.get(file)!;
    assert.deepEqual(asked, [['77']]);
    assert.deepEqual(
      entry.state!.trials.map((trial) => [trial.state, trial.scheduler, trial.reason]),
      [
        ['running', '77_0', undefined],
        ['queued', '77_1', 'Resources'],
        ['queued', '77_2', 'Priority'],
        ['queued', '77_3', 'Priority'],
      ],
    );
    assert.equal(entry.active, true);
    const tree = new StudyTreeItems(catalog);
    const trialItem = tree.item(
      tree.children(tree.children(tree.roots()[0]!)[0]!)[1]!,
    ) as unknown as FakeTreeItem;
    assert.equal(trialItem.description, 'queued · Slurm 77_1');
    assert.match(String((trialItem.tooltip as FakeMarkdownString).value), /Resources/);

    answer = new Map([
      ['77_0', { state: 'COMPLETED', exitCode: '0:0' }],
      ['77_1', { state: 'CANCELLED' }],
      ['77_2', { state: 'FAILED', exitCode: '1:0' }],
      ['77_3', { state: 'CANCELLED' }],
    ]);
    const ended = await until(
      () => catalog!.get(file)?.active === false && catalog!.get(file),
      'the trials to end in Slurm',
    );
    assert.deepEqual(
      ended.state!.trials.map((trial) => trial.state),
      // The first trial's run folder still says it trains: Slurm ended it, so it stopped.
      ['stopped', 'cancelled', 'failed', 'cancelled'],
    );
    const askedWhileActive = asked.length;
    await catalog.refresh([file]);
    await catalog.refresh([file]);
    assert.equal(asked.length, askedWhileActive, 'an idle study costs Slurm nothing');
    assert.equal(ended.active, false);
  });

  it('counts a study as working while a launch of this window lives, before its folder says so', async () => {
    const file = path.join(workspaceFolder, 'birds.study.json');
    await writeFile(file, studyText('birds'));
    catalog = new StudyCatalog({ settleMs: 10 });
    await catalog.refresh();
    let exit: () => void = () => undefined;
    catalog.trackLaunch(file, new Promise<void>((resolve) => (exit = resolve)));
    await until(() => catalog!.get(file)?.active, 'the launch to make the study active');
    assert.deepEqual(catalog.activeFiles(), [file]);
    const lenses = new StudyCodeLensProvider(catalog);
    const [cancel] = lenses.provideCodeLenses({
      uri: FakeUri.file(file),
    } as never) as unknown as FakeCodeLens[];
    assert.equal(cancel?.command.title, '$(debug-stop) Cancel Study · starting · 2 conditions × 2 seeds');
    lenses.dispose();
    const tree = new StudyTreeItems(catalog);
    const item = tree.item(tree.roots()[0]!) as unknown as FakeTreeItem;
    assert.equal(item.description, 'starting · 2 conditions × 2 seeds');
    assert.equal(item.contextValue, 'study.active');
    exit();
    await until(() => catalog!.get(file)?.active === false, 'the study to be idle once the launch ended');
  });

  it('offers Run Study on an idle study, and asks for trust first in Restricted Mode', async () => {
    const file = path.join(workspaceFolder, 'birds.study.json');
    await writeFile(file, studyText('birds'));
    await writeStudyFolder(file, { 'simclr.seed-0': 'completed', 'simclr.seed-1': 'failed' }, []);
    catalog = new StudyCatalog();
    await catalog.refresh();
    const lenses = new StudyCodeLensProvider(catalog);
    const titles = () =>
      lenses
        .provideCodeLenses({ uri: FakeUri.file(file) } as never)
        .map((lens) => (lens as unknown as FakeCodeLens).command.title);
    assert.deepEqual(titles(), ['$(play) Run Study', '$(table) Open Study Panel', '1/4 done · 1 failed']);
    trusted = false;
    assert.equal(titles()[0], '$(shield) Run Study (trust the workspace first)');
    const failed = catalog.get(file)!.state!.trials[1]!;
    assert.equal(failed.reason, 'out of memory');
    lenses.dispose();
  });

  it('follows the study file as it reads now: a seed added since the last run is pending at once', async () => {
    const file = path.join(workspaceFolder, 'birds.study.json');
    await writeFile(file, studyText('birds'));
    await writeStudyFolder(file, { 'simclr.seed-0': 'completed', 'simclr.seed-1': 'completed' }, []);
    catalog = new StudyCatalog({ settleMs: 10 });
    await catalog.refresh();
    const tree = new StudyTreeItems(catalog);
    const lenses = new StudyCodeLensProvider(catalog, { signalIntervalMs: 10 });
    let lensSignals = 0;
    lenses.onDidChangeCodeLenses(() => lensSignals++);
    const summaryLens = () =>
      (lenses.provideCodeLenses({ uri: FakeUri.file(file) } as never)[2] as unknown as FakeCodeLens).command
        .title;
    assert.equal(summaryLens(), '2/4 done');

    const edited = JSON.parse(studyText('birds'));
    edited.seeds = [0, 1, 2];
    edited.conditions[1].label = 'MoCo v2';
    await writeFile(file, JSON.stringify(edited));
    const studyFileWatcher = watchers.find((watcher) => watcher.base === undefined)!;
    studyFileWatcher.changed.fire(FakeUri.file(file));
    const entry = await until(
      () => catalog!.get(file)?.state?.trials.length === 6 && catalog!.get(file),
      'the catalog to read the edited study file',
    );
    assert.deepEqual(
      entry.state!.trials.map((trial) => [trial.id, trial.state]),
      [
        ['simclr.seed-0', 'completed'],
        ['simclr.seed-1', 'completed'],
        ['simclr.seed-2', 'pending'],
        ['mocov2.seed-0', 'pending'],
        ['mocov2.seed-1', 'pending'],
        ['mocov2.seed-2', 'pending'],
      ],
    );
    const [baseline, compared] = tree.children(tree.roots()[0]!);
    assert.deepEqual(
      tree.children(baseline!).map((node) => (tree.item(node) as unknown as FakeTreeItem).description),
      ['completed · epoch 2/2', 'completed · epoch 2/2', 'pending'],
    );
    assert.equal((tree.item(compared!) as unknown as FakeTreeItem).label, 'MoCo v2');
    assert.equal(summaryLens(), '2/6 done');
    assert.ok(lensSignals > 0, 'the lenses were told they changed');
    const message = studyPanelMessage(file, entry);
    assert.equal(message.type === 'study' && message.trials.length, 6);
    assert.equal(message.type === 'study' && message.table.conditions[1]!.label, 'MoCo v2');
    lenses.dispose();
  });

  it('tells VS Code its lenses changed only when they did, at once, then at most once an interval', async () => {
    // VS Code asks again once no signal has come for its debounce: a signal per change of a study whose
    // trials change faster than that would keep the lens as it was until the study settled.
    const file = path.join(workspaceFolder, 'birds.study.json');
    const changed = new FakeEventEmitter<void>();
    const entryWith = (states: string[], epoch = 0): StudyCatalogModule.StudyEntry =>
      ({
        file,
        study: {},
        plan: {},
        problem: undefined,
        folderProblem: undefined,
        active: true,
        state: { trials: states.map((state) => ({ state, epoch })) },
      }) as never;
    let entry = entryWith(['running', 'queued', 'queued']);
    const studies = {
      onDidChange: changed.event,
      get: () => entry,
      get studies() {
        return [entry];
      },
    };
    const lenses = new StudyCodeLensProvider(studies as never, { signalIntervalMs: 200 });
    const cancelTitle = () =>
      (lenses.provideCodeLenses({ uri: FakeUri.file(file) } as never)[0] as unknown as FakeCodeLens).command
        .title;
    let signals = 0;
    lenses.onDidChangeCodeLenses(() => signals++);

    entry = entryWith(['running', 'queued', 'queued'], 1);
    changed.fire();
    assert.equal(signals, 0, 'a trial’s epoch is not on the lens');

    entry = entryWith(['completed', 'running', 'queued']);
    changed.fire();
    assert.equal(signals, 1, 'the first change is signalled at once');
    entry = entryWith(['completed', 'completed', 'running']);
    changed.fire();
    entry = entryWith(['completed', 'completed', 'failed']);
    changed.fire();
    assert.equal(signals, 1, 'changes right after it wait for the interval');
    await until(() => signals === 2, 'the changes to be signalled together');
    assert.equal(cancelTitle(), '$(debug-stop) Cancel Study · 2/3 done · 1 failed');
    // The next change is signalled alone: nothing of the burst before it was still pending.
    entry = entryWith(['completed', 'completed', 'completed']);
    changed.fire();
    await until(() => signals >= 3, 'the next change to be signalled');
    assert.equal(signals, 3, 'nothing more changed');
    lenses.dispose();
  });

  it('shows a failed trial without a run folder as such, and only the figures of the study’s metrics', async () => {
    const file = path.join(workspaceFolder, 'birds.study.json');
    await writeFile(file, JSON.stringify({ ...JSON.parse(studyText('birds')), metrics: ['mAP'] }));
    const studyDir = await writeStudyFolder(file, { 'simclr.seed-0': 'completed' }, []);
    const now = new Date().toISOString();
    await appendTrialAttempt(studyDir, {
      trial: 'simclr.seed-1',
      host: os.hostname(),
      startedAt: now,
      endedAt: now,
      exitCode: 2,
      error: 'no such folder (data.root)',
    });
    catalog = new StudyCatalog();
    await catalog.refresh();
    const tree = new StudyTreeItems(catalog);
    const [completed, failed] = tree
      .children(tree.children(tree.roots()[0]!)[0]!)
      .map((node) => tree.item(node) as unknown as FakeTreeItem);
    assert.match((completed!.tooltip as FakeMarkdownString).value, /- mAP: 40\.00 %\n$/);
    assert.doesNotMatch((completed!.tooltip as FakeMarkdownString).value, /kNN/);
    assert.equal(failed!.contextValue, 'trial.failed');
    assert.equal(failed!.command?.command, 'synthpair.openTrialLog');
    const tooltip = (failed!.tooltip as FakeMarkdownString).value;
    assert.doesNotMatch(tooltip, /Run folder:/);
    assert.match(tooltip, /has no run folder: it failed before it started; its log says why/);
    assert.match(tooltip, /- Log: `.*simclr\.seed-1\.log`/);
  });

  it('describes trial counts, progress and schedulers as the views word them', () => {
    const states = ['pending', 'completed', 'failed', 'completed', 'running'].map((state) => ({ state })) as {
      state: 'pending' | 'completed' | 'failed' | 'running';
    }[];
    assert.equal(describeTrialCounts(states), '2 completed, 1 running, 1 failed, 1 pending');
    assert.equal(describeStudy.describeTrialProgress(states), '2/5 done · 1 running · 1 failed');
    assert.equal(describeStudy.describeScheduler('local'), 'local');
    assert.equal(describeStudy.describeScheduler('123_4'), 'Slurm 123_4');
    assert.equal(describeStudy.describeScheduler(undefined), undefined);
  });
});

describe('the study CLI as the extension runs it', function () {
  this.timeout(30_000);
  let folder: string;
  let cliScript: string;
  let StudyCli: typeof StudyCliModule.StudyCli;
  const logged: string[] = [];
  const clis: StudyCliModule.StudyCli[] = [];

  before(() => {
    ({ StudyCli } = require('../../../src/host/studies/studyCli') as typeof StudyCliModule);
  });

  beforeEach(async () => {
    folder = await makeTempDir('study-cli');
    logged.splice(0);
    cliScript = path.join(folder, 'cli.js');
    // Stands in for dist/cli.js: `study run` of a good study trains until SIGTERM (130), a bad one is refused (2).
    await writeFile(
      cliScript,
      `const [, , file, ...rest] = process.argv.slice(2);
       process.stderr.write('args ' + [file, ...rest].join(' ') + '\\nELECTRON_RUN_AS_NODE=' + process.env.ELECTRON_RUN_AS_NODE + '\\n');
       if (process.argv[3] === 'cancel') { console.log('stopped the local queue'); process.exit(0); }
       if (file.includes('bad')) {
         process.stderr.write('2026-12-07T13:46:08.581Z 1 completed, 1 failed\\n✗ b.seed-0: exit 2\\n');
         process.stderr.write('synthpair: bad.study.json: not a valid study (see above)\\n');
         process.exit(2);
       }
       process.on('SIGTERM', () => { process.stderr.write('study stopped\\n'); process.exit(130); });
       setInterval(() => {}, 1000);`,
    );
    await mkdir(path.join(folder, 'work'));
  });

  afterEach(async () => {
    // A failed test must not leave a `study run` behind, which would keep mocha from exiting.
    await Promise.all(clis.splice(0).map((started) => started.dispose(1000)));
    await rm(folder, { recursive: true, force: true });
  });

  function cli(backend?: string, node = process.execPath) {
    const started = new StudyCli({
      cliScript,
      launch: () => ({ node, ...(backend ? { backend } : {}) }),
      log: (level, message) => logged.push(`${level} ${message}`),
    });
    clis.push(started);
    return started;
  }

  it('reports the message of a study the CLI refuses, and logs failures as errors, without its timestamps', async () => {
    const outcome = await cli().run(path.join(folder, 'bad.study.json'), folder).exited;
    assert.equal(outcome.code, 2);
    assert.equal(outcome.message, 'bad.study.json: not a valid study (see above)');
    for (const line of [
      'info bad.study.json: 1 completed, 1 failed',
      'error bad.study.json: ✗ b.seed-0: exit 2',
      'error bad.study.json: synthpair: bad.study.json: not a valid study (see above)',
    ])
      assert.ok(logged.includes(line), logged.join('\n'));
  });

  it('passes the backend and runs the CLI as Node; Cancel ends a `study run` of its own that has not queued yet', async () => {
    const studies = cli('wasm');
    const file = path.join(folder, 'good.study.json');
    const started = studies.run(file, folder);
    assert.equal(typeof started.pid, 'number');
    await until(() => logged.some((line) => line.includes('ELECTRON_RUN_AS_NODE=1')), 'the CLI to start');
    assert.ok(logged.includes(`info good.study.json: args ${file} --backend wasm`), logged.join('\n'));
    assert.equal(studies.isRunning(file), true);
    const cancelled = await studies.cancel(file, folder);
    assert.equal(cancelled.code, 0);
    const outcome = await started.exited;
    assert.equal(outcome.code, 130);
    assert.equal(studies.isRunning(file), false);
    assert.ok(logged.includes('info good.study.json: study stopped'), logged.join('\n'));
  });

  it('stops the studies it trains when the extension stops', async () => {
    const studies = cli();
    const started = studies.run(path.join(folder, 'good.study.json'), folder);
    await until(() => logged.some((line) => line.includes('ELECTRON_RUN_AS_NODE')), 'the CLI to start');
    await studies.dispose();
    assert.equal((await started.exited).code, 130);
  });

  it('says why a Node that does not exist could not start', async () => {
    const outcome = await cli(undefined, path.join(folder, 'no-such-node')).run(
      path.join(folder, 'good.study.json'),
      folder,
    ).exited;
    assert.equal(outcome.code, null);
    assert.match(outcome.message ?? '', /could not start .*no-such-node: spawn .* ENOENT/);
  });
});
