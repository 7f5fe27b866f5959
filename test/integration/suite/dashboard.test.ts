import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as vscode from 'vscode';
import { DashboardPanel } from '../../../src/host/dashboard/dashboardPanel';
import type { EditToPixels } from '../../../src/host/dashboard/pairsSynthesis';
import type { SynthPairApi } from '../../../src/host/extension';
import type { HostToDashboard } from '../../../src/shared/protocol/webview';
import { api, ended, extensionOf, finished, nextMessage, tinyConfigUri, workspaceFile } from './support';

type Posted<T extends HostToDashboard['type']> = Extract<HostToDashboard, { type: T }>;

/** A pair grid, whole or reusing the originals and reconstructions the webview holds, as an edit of perturb.* sends. */
const gridTypes = ['synthesis', 'synthesisSameBase'] as const;

function posted<T extends HostToDashboard['type']>(
  dashboard: DashboardPanel,
  type: T | readonly T[],
  accept: (message: Posted<T>) => boolean = () => true,
  timeoutMs = 60_000,
): Promise<Posted<T>> {
  const seen: HostToDashboard[] = [];
  const types: readonly string[] = Array.isArray(type) ? type : [type];
  return nextMessage(
    dashboard.onDidPostMessage,
    (message) => {
      seen.push(message);
      return types.includes(message.type) && accept(message as Posted<T>);
    },
    timeoutMs,
  ).catch((error: Error) => {
    const summary = seen.map((message) =>
      message.type === 'binding' ? `binding(${message.configFile})` : message.type,
    );
    throw new Error(
      `${error.message}: no '${types.join("' or '")}' as expected; posted meanwhile: ${summary.join(', ') || 'nothing'}`,
    );
  }) as Promise<Posted<T>>;
}

/**
 * The dashboard bound to the experiment being edited, in the real extension host with its real webview:
 * the panel's edits go through the document (dirty, undoable), and the document's edits reach the worker.
 */
describe('The dashboard bound to the experiment file', function () {
  this.timeout(240_000);
  let synthpair: SynthPairApi;
  let runDir: string;
  let editor: vscode.TextEditor;

  before(async () => {
    synthpair = await api();
    editor = await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(tinyConfigUri()));
    // A run of its own, so the suite does not depend on the order of the other suites.
    const id = await vscode.commands.executeCommand<number>('synthpair.runExperiment', tinyConfigUri());
    const outcome = await ended(synthpair, id);
    finished(outcome.ending);
    assert.ok(outcome.runDir);
    runDir = outcome.runDir;
    await synthpair.catalog.refresh();
  });

  after(async () => {
    synthpair.currentDashboard()?.dispose();
    await vscode.commands.executeCommand('workbench.action.files.revert');
  });

  it('opens on the active experiment with its newest run, its analysis steps and a redrawn pair grid', async () => {
    const opened = vscode.commands.executeCommand('synthpair.openDashboard');
    await opened;
    const dashboard = synthpair.currentDashboard();
    assert.ok(dashboard);
    const binding = await posted(dashboard, 'binding', (message) => message.selectedRun === runDir);
    assert.equal(binding.configFile, tinyConfigUri().fsPath);
    assert.equal(binding.configLabel, 'tiny.synthpair.json');
    assert.equal(binding.locked, false);
    assert.ok(binding.runs.some((run) => run.runDir === runDir && run.state === 'completed'));
    const [analyses, grid] = await Promise.all([
      posted(dashboard, 'analyses', (message) => message.runDir === runDir),
      posted(dashboard, 'synthesis'),
    ]);
    assert.ok(analyses.steps.length > 0, 'the run has analysis steps');
    // The webview fetches the arrays through its own resource origin, never a port.
    assert.doesNotMatch(analyses.steps[0]!.folderUri, /^file:|localhost|127\.0\.0\.1/);
    assert.equal(grid.result.runDir, runDir);
    assert.equal(grid.result.variance.quantile, 0.25);
    assert.equal(dashboard.panel.title, 'SynthPair: tiny');
  });

  it('tells the webview where the run lists the files it left out, and opens that list', async () => {
    const dashboard = synthpair.currentDashboard();
    assert.ok(dashboard);
    const listFile = path.join(runDir, 'skipped.json');
    const skipped = posted(dashboard, 'skippedFiles', (message) => message.runDir === runDir);
    await dashboard.selectRun(runDir);
    // The tiny data set has no bad file: the list is there, and empty.
    assert.deepEqual(await skipped, { type: 'skippedFiles', runDir, listFile, count: 0 });
    assert.deepEqual(JSON.parse(await readFile(listFile, 'utf8')).files, []);
    await dashboard.openSkippedList();
    assert.equal(vscode.window.activeTextEditor?.document.uri.fsPath, listFile);
    await vscode.window.showTextDocument(editor.document);
  });

  it('writes a dragged threshold into the document as an undoable edit, and the grid follows', async () => {
    const dashboard = synthpair.currentDashboard();
    assert.ok(dashboard);
    const document = editor.document;
    const before = document.getText();
    const values = posted(
      dashboard,
      'configValues',
      (message) => message.values['analysis.variance.quantile'] === 0.4,
    );
    const grid = posted(dashboard, gridTypes, (message) => message.result.variance.quantile === 0.4);
    const timing = new Promise<EditToPixels>((resolve) => {
      const subscription = dashboard.onDidRenderPairs((measured) => {
        subscription.dispose();
        resolve(measured);
      });
    });
    // The grid is painted, and its paint reported, only while the Pairs tab shows it.
    await dashboard.showTab('pairs');
    assert.equal(await dashboard.editConfig('analysis.variance.quantile', 0.4), true);
    assert.ok(document.isDirty, 'the edit leaves the file unsaved, as a typed one would');
    assert.match(document.getText(), /"quantile": 0\.4/);
    await values;
    await grid;
    // The webview in the workbench painted the grid and said so: the whole path from edit to pixels.
    const measured = await timing;
    console.log(
      `edit to pixels in the extension host: ${measured.totalMs.toFixed(0)} ms (worker ${measured.workerMs.toFixed(0)} ms, paint ${measured.renderMs.toFixed(0)} ms)`,
    );
    await vscode.window.showTextDocument(document);
    const restored = posted(
      dashboard,
      'configValues',
      (message) => message.values['analysis.variance.quantile'] === 0.25,
    );
    await vscode.commands.executeCommand('undo');
    assert.equal(document.getText(), before, 'undo restores the text');
    await restored;
  });

  it('redraws the pairs when the user types a new strength, saved or not', async () => {
    const dashboard = synthpair.currentDashboard();
    assert.ok(dashboard);
    const document = editor.document;
    const grid = posted(dashboard, gridTypes, (message) => message.result.perturb.strength === 3);
    const edit = new vscode.WorkspaceEdit();
    // The tiny config has no perturb group: the user adds one at the top of the object.
    edit.insert(
      document.uri,
      document.positionAt(document.getText().indexOf('{') + 1),
      '\n  "perturb": { "strength": 3 },',
    );
    assert.ok(await vscode.workspace.applyEdit(edit));
    assert.ok(document.isDirty);
    const result = (await grid).result;
    assert.equal(result.perturb.mode, 'gaussian');
    await vscode.commands.executeCommand('workbench.action.files.revert');
  });

  it('follows the active experiment editor, and stays when locked', async () => {
    const dashboard = synthpair.currentDashboard();
    assert.ok(dashboard);
    const other = workspaceFile('other.synthpair.json');
    await writeFile(other.fsPath, editor.document.getText().replace('"tiny"', '"other"'));
    const followed = posted(dashboard, 'binding', (message) => message.configFile === other.fsPath);
    await vscode.window.showTextDocument(other);
    const binding = await followed;
    assert.deepEqual(binding.runs, [], 'the other experiment has no run yet');
    assert.equal(binding.selectedRun, null);

    await vscode.window.showTextDocument(tinyConfigUri());
    await posted(dashboard, 'binding', (message) => message.configFile === tinyConfigUri().fsPath);
    dashboard.setLocked(true);
    assert.match(dashboard.panel.title, /🔒/);
    await vscode.window.showTextDocument(other);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(
      dashboard.boundConfigFile,
      tinyConfigUri().fsPath,
      'a locked dashboard stays on its experiment',
    );
    dashboard.setLocked(false);
    assert.equal(dashboard.boundConfigFile, other.fsPath, 'unlocking follows the active editor again');
  });

  it('comes back after a reload on the experiment, run and lock its webview saved, and saves its exports', async () => {
    synthpair.currentDashboard()?.dispose();
    const offered: { name: string; format: string }[] = [];
    // What VS Code's serializer hands over after a reload: a bare panel and the webview's last setState.
    const panel = vscode.window.createWebviewPanel(DashboardPanel.viewType, 'SynthPair Dashboard', {
      viewColumn: vscode.ViewColumn.Beside,
      preserveFocus: true,
    });
    const revived = DashboardPanel.revive(
      panel,
      {
        extensionUri: extensionOf().extensionUri,
        engine: synthpair.engine,
        catalog: synthpair.catalog,
        controller: synthpair.controller,
        output: synthpair.output,
        // Stands in for the save dialog, which a test cannot click.
        chooseExportTarget: async (suggested, format) => {
          offered.push({ name: path.basename(suggested.fsPath), format });
          return workspaceFile(`exported.${format}`);
        },
      },
      { tab: 'pairs', configFile: tinyConfigUri().fsPath, locked: true, selectedRun: runDir },
    );
    try {
      const binding = await posted(revived, 'binding', (message) => message.selectedRun === runDir);
      assert.equal(binding.configFile, tinyConfigUri().fsPath);
      assert.equal(binding.locked, true);
      assert.equal(revived.panel.title, 'SynthPair: tiny 🔒');
      // The revived webview asked for its data again, and got the grid.
      await posted(revived, 'synthesis', (message) => message.result.runDir === runDir);
      // An export the webview made lands where the user chose, next to the experiment by default.
      await revived.saveExport('../tiny-curves.csv', 'csv', Buffer.from('run,kind\r\n').toString('base64'));
      assert.deepEqual(offered, [{ name: 'tiny-curves.csv', format: 'csv' }]);
      assert.equal(await readFile(workspaceFile('exported.csv').fsPath, 'utf8'), 'run,kind\r\n');
    } finally {
      revived.dispose();
    }
  });
});
