import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import * as vscode from 'vscode';
import type { SynthPairApi } from '../../../src/host/extension';
import type { RunsNode } from '../../../src/host/runs/runsTree';
import type { StudyEntry } from '../../../src/host/studies/studyCatalog';
import { isAlive } from '../../../src/shared/runFolder/liveness';
import { api, nextMessage, until, workspaceFile } from './support';

/** A study of the workspace's tiny experiment: two conditions × two seeds, an epoch each, no validation split. */
function studyText(name: string, epochs: number): string {
  return JSON.stringify({
    name,
    experiment: 'tiny.synthpair.json',
    seeds: [0, 1],
    set: { 'train.epochs': epochs, 'data.validation.fraction': 0 },
    conditions: [
      { name: 'simclr', baseline: true, set: { 'ssl.method': 'simclr' } },
      { name: 'mocov2', set: { 'ssl.method': 'mocov2', 'ssl.mocov2.queueSize': 12 } },
    ],
    metrics: ['knnTop1', 'mAP'],
  });
}

async function codeLensTitles(uri: vscode.Uri): Promise<string[]> {
  const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>(
    'vscode.executeCodeLensProvider',
    uri,
  );
  return lenses.map((lens) => lens.command?.title ?? '');
}

/**
 * Studies in the real extension host: Run Study trains every trial in a `synthpair study run` of the bundled
 * CLI, the catalog, the Runs view, the CodeLens and the study panel follow it from its folder, and Cancel Study
 * stops it.
 */
describe('Studies', function () {
  this.timeout(420_000);
  let synthpair: SynthPairApi;
  const configuration = () => vscode.workspace.getConfiguration('synthpair');

  before(async () => {
    synthpair = await api();
    // The trials' backend, whatever this machine would choose: the test is about the study, not the kernels.
    await configuration().update('backend', 'wasm', vscode.ConfigurationTarget.Global);
  });

  after(async () => {
    await configuration().update('backend', undefined, vscode.ConfigurationTarget.Global);
  });

  function entryOf(uri: vscode.Uri): StudyEntry | undefined {
    return synthpair.studies.get(uri.fsPath);
  }

  it('runs a study from Run Study to completion, shown by the Runs view, the CodeLens and the study panel', async () => {
    const studyUri = workspaceFile('tiny.study.json');
    await writeFile(studyUri.fsPath, studyText('tiny', 1));
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(studyUri));
    await until(() => entryOf(studyUri)?.study, 'the catalog to find the study file');
    assert.ok(
      (await codeLensTitles(studyUri)).includes('$(play) Run Study'),
      'an idle study offers Run Study',
    );

    const pid = await vscode.commands.executeCommand<number>('synthpair.runStudy', studyUri);
    assert.equal(typeof pid, 'number', 'Run Study starts the CLI');
    const done = await until(
      () => {
        const entry = entryOf(studyUri);
        return entry?.state?.trials.length === 4 &&
          entry.state.trials.every((trial) => trial.state === 'completed')
          ? entry
          : undefined;
      },
      'every trial of the study to complete',
      360_000,
    );
    await until(() => !isAlive(pid), 'the study process to exit');
    await until(() => entryOf(studyUri)?.active === false, 'the study to be idle');

    const study = synthpair.runsTree
      .getChildren()
      .find(
        (node): node is Extract<RunsNode, { kind: 'study' }> =>
          node.kind === 'study' && node.file === studyUri.fsPath,
      );
    assert.ok(study, 'the Runs view lists the study');
    assert.match(String(synthpair.runsTree.getTreeItem(study).description), /4\/4 done/);
    const conditions = synthpair.runsTree.getChildren(study);
    assert.deepEqual(
      conditions.map((node) => synthpair.runsTree.getTreeItem(node).label),
      ['simclr', 'mocov2'],
    );
    for (const condition of conditions) {
      const trials = synthpair.runsTree.getChildren(condition);
      assert.equal(trials.length, 2);
      for (const trial of trials) {
        const item = synthpair.runsTree.getTreeItem(trial);
        assert.equal(item.contextValue, 'trial.completed.run');
        assert.match(String(item.description), /^completed · epoch 1\/1/);
      }
    }
    // The trials are runs of the experiment, listed under their study and not under the experiment too.
    const trialDirs = done.state!.trials.map((trial) => trial.dir);
    await synthpair.catalog.refresh();
    assert.deepEqual(synthpair.catalog.trialRuns.map((run) => run.dir).sort(), [...trialDirs].sort());
    assert.ok(!synthpair.catalog.runs.some((run) => trialDirs.includes(run.dir)));

    assert.ok(
      (await codeLensTitles(studyUri)).includes('4/4 done'),
      (await codeLensTitles(studyUri)).join(' | '),
    );

    // The trial's log, from the Runs view's context menu.
    await vscode.commands.executeCommand('synthpair.openTrialLog', {
      kind: 'trial',
      file: studyUri.fsPath,
      trial: done.state!.trials[0],
      experimentFile: done.state!.manifest.experimentFile,
    });
    assert.equal(vscode.window.activeTextEditor?.document.uri.fsPath, done.state!.trials[0]!.log);
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(studyUri));

    await vscode.commands.executeCommand('synthpair.openStudyPanel', studyUri);
    const panel = synthpair.studyPanel(studyUri.fsPath);
    assert.ok(panel, 'Open Study Panel opens the panel of the study');
    const posted = await until(
      () => (panel.lastPosted?.type === 'study' ? panel.lastPosted : undefined),
      'the panel to be sent the study',
      60_000,
    );
    assert.equal(posted.studyFile, studyUri.fsPath);
    assert.equal(posted.active, false);
    assert.equal(posted.executor, 'local');
    assert.deepEqual(
      posted.table.conditions.map((condition) => [
        condition.id,
        condition.baseline,
        condition.completed,
        condition.trials,
      ]),
      [
        ['simclr', true, 2, 2],
        ['mocov2', false, 2, 2],
      ],
    );
    assert.equal(posted.table.conditions[0]!.metrics.knnTop1?.values.length, 2);

    for (const format of ['md', 'csv', 'json'] as const) {
      const destination = workspaceFile(`tiny-table.${format}`);
      const written = await vscode.commands.executeCommand<vscode.Uri>(
        'synthpair.exportStudyTable',
        studyUri,
        format,
        destination,
      );
      assert.equal(written?.fsPath, destination.fsPath);
      const text = await readFile(destination.fsPath, 'utf8');
      const expected = {
        md: /^\| condition \| seeds \|/,
        csv: /^condition,label,baseline,metric/,
        json: /^\{\n {2}"name": "tiny"/,
      };
      assert.match(text, expected[format]);
    }

    // Opening a trial shows its run in the dashboard, bound to the base experiment: the first trial, which is
    // not the experiment's newest run, so the dashboard shows it because it was asked to.
    const trial = done.state!.trials[0]!;
    // A new panel posts its binding once its webview is ready, after the command has returned.
    synthpair.currentDashboard()?.dispose();
    await vscode.commands.executeCommand('synthpair.openDashboard', {
      kind: 'trial',
      file: studyUri.fsPath,
      trial,
      experimentFile: done.state!.manifest.experimentFile,
    });
    const dashboard = synthpair.currentDashboard();
    assert.ok(dashboard);
    const binding = await nextMessage(
      dashboard.onDidPostMessage,
      (message) => message.type === 'binding' && message.selectedRun === trial.dir,
      60_000,
    );
    assert.equal(binding.type === 'binding' && binding.configFile, done.state!.manifest.experimentFile);
    panel.dispose();
    dashboard.dispose();

    // A seed added to the file is a trial the views show at once, pending until the next Run Study.
    await writeFile(
      studyUri.fsPath,
      JSON.stringify({ ...JSON.parse(studyText('tiny', 1)), seeds: [0, 1, 2] }),
    );
    const edited = await until(
      () => (entryOf(studyUri)?.state?.trials.length === 6 ? entryOf(studyUri) : undefined),
      'the catalog to read the edited study file',
    );
    assert.deepEqual(
      edited.state!.trials.filter((trial) => trial.state === 'pending').map((trial) => trial.id),
      ['simclr.seed-2', 'mocov2.seed-2'],
    );
    assert.ok((await codeLensTitles(studyUri)).includes('4/6 done'));
  });

  it('underlines what the schema cannot say: a second condition of one name, a second baseline, an unknown key', async () => {
    const studyUri = workspaceFile('broken.study.json');
    await writeFile(
      studyUri.fsPath,
      JSON.stringify(
        {
          name: 'broken',
          experiment: 'tiny.synthpair.json',
          conditions: [
            { name: 'simclr', baseline: true, set: { 'ssl.methd': 'simclr' } },
            { name: 'simclr', baseline: true },
          ],
        },
        null,
        2,
      ),
    );
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(studyUri));
    const diagnostics = await until(() => {
      const found = vscode.languages
        .getDiagnostics(studyUri)
        .filter((diagnostic) => diagnostic.source === 'SynthPair');
      return found.length >= 3 ? found : undefined;
    }, 'the study diagnostics');
    const messages = diagnostics.map((diagnostic) => diagnostic.message);
    assert.ok(
      messages.some((message) =>
        /ssl\.methd: not a key of the experiment; did you mean ssl\.method\?/.test(message),
      ),
      messages.join(' | '),
    );
    assert.ok(
      messages.some((message) => /two are named simclr/.test(message)),
      messages.join(' | '),
    );
    assert.ok(
      messages.some((message) => /second baseline/.test(message)),
      messages.join(' | '),
    );
    const unknownKey = diagnostics.find((diagnostic) => diagnostic.message.startsWith('ssl.methd'))!;
    const document = await vscode.workspace.openTextDocument(studyUri);
    assert.equal(document.getText(unknownKey.range), '"ssl.methd"');
    await until(() => entryOf(studyUri)?.problem, 'the catalog to find the study invalid');
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  it('cancels a study that trains: its trial stops after its step and its process exits', async () => {
    const studyUri = workspaceFile('long.study.json');
    await writeFile(studyUri.fsPath, studyText('long', 1000));
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(studyUri));
    await until(() => entryOf(studyUri)?.study, 'the catalog to find the study file');
    const pid = await vscode.commands.executeCommand<number>('synthpair.runStudy', studyUri);
    assert.equal(typeof pid, 'number');
    await until(
      () =>
        entryOf(studyUri)?.state?.trials.find(
          (trial) => trial.state === 'running' && (trial.epoch ?? 0) >= 1,
        ),
      'the first trial to train an epoch',
      240_000,
    );
    const titles = await codeLensTitles(studyUri);
    assert.ok(
      titles.some((title) => title.startsWith('$(debug-stop) Cancel Study · 0/4 done · 1 running')),
      titles.join(' | '),
    );

    const code = await vscode.commands.executeCommand<number>('synthpair.cancelStudy', studyUri);
    assert.equal(code, 0, 'synthpair study cancel succeeds');
    await until(() => !isAlive(pid), 'the study process to exit', 60_000);
    const cancelled = await until(
      () => {
        const entry = entryOf(studyUri);
        return entry?.state && !entry.active ? entry : undefined;
      },
      'the study to be idle',
      60_000,
    );
    const states = cancelled.state!.trials.map((trial) => trial.state);
    assert.equal(states[0], 'stopped', states.join(', '));
    assert.ok(
      states.every((state) => state === 'stopped' || state === 'cancelled' || state === 'pending'),
      states.join(', '),
    );
    assert.ok((await codeLensTitles(studyUri)).includes('$(play) Run Study'));
  });
});
