import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import * as vscode from 'vscode';

import { api, tinyConfigUri, until, workspaceFile } from './support';

const synthpairDiagnostics = (uri: vscode.Uri) =>
  vscode.languages.getDiagnostics(uri).filter((diagnostic) => diagnostic.source === 'SynthPair');

describe('Experiment files in the editor', function () {
  this.timeout(60_000);

  it('marks a data root that does not exist as the user types, and clears it when fixed (unsaved)', async () => {
    await api();
    const uri = workspaceFile('bad.synthpair.json');
    const tiny = JSON.parse(await readFile(tinyConfigUri().fsPath, 'utf8'));
    await writeFile(
      uri.fsPath,
      JSON.stringify({ ...tiny, data: { ...tiny.data, root: 'nowhere' } }, null, 2),
    );
    const editor = await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri));
    const missing = await until(
      () => synthpairDiagnostics(uri).find((diagnostic) => diagnostic.code === 'data.root'),
      'a diagnostic on data.root',
    );
    assert.equal(missing.severity, vscode.DiagnosticSeverity.Error);
    assert.equal(editor.document.getText(missing.range), '"nowhere"');

    const edit = new vscode.WorkspaceEdit();
    edit.replace(uri, missing.range, '"data"');
    assert.ok(await vscode.workspace.applyEdit(edit));
    assert.equal(editor.document.isDirty, true);
    await until(
      () =>
        synthpairDiagnostics(uri).some((diagnostic) => diagnostic.code === 'data.root') ? undefined : true,
      'the data.root diagnostic to clear',
    );
    // A batch larger than the training split is a mistake only the data can show.
    const batch = new vscode.WorkspaceEdit();
    const text = editor.document.getText();
    const at = text.indexOf('"batchSize": 6');
    assert.ok(at >= 0, text);
    batch.replace(
      uri,
      new vscode.Range(editor.document.positionAt(at), editor.document.positionAt(at + 14)),
      '"batchSize": 500',
    );
    assert.ok(await vscode.workspace.applyEdit(batch));
    await until(
      () => synthpairDiagnostics(uri).find((diagnostic) => diagnostic.code === 'train.batchSize'),
      'a diagnostic on train.batchSize',
    );
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });

  it('New Experiment writes a commented config that trains on the workspace data and opens it', async () => {
    const written = await vscode.commands.executeCommand<string>('synthpair.newExperiment', 'fresh-idea');
    assert.equal(written, workspaceFile('fresh-idea.synthpair.json').fsPath);
    const text = await readFile(written, 'utf8');
    assert.match(text, /^\/\//m, 'the config explains itself in comments');
    assert.equal(vscode.window.activeTextEditor?.document.uri.fsPath, written);
    // The workspace already has data a config points at, so no example dataset is generated.
    assert.equal(existsSync(workspaceFile('fresh-idea-data').fsPath), false);
    await until(
      () => (synthpairDiagnostics(vscode.Uri.file(written)).length === 0 ? true : undefined),
      'no diagnostics',
      20_000,
    );
    const refused = await vscode.commands.executeCommand<string | undefined>(
      'synthpair.newExperiment',
      'fresh-idea',
    );
    assert.equal(refused, undefined, 'an existing experiment is never overwritten');
  });
});
