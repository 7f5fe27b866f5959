import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as vscode from 'vscode';
import type { SynthPairApi } from '../../../src/host/extension';

const EXTENSION_ID = 'synthpair.synthpair';

/** Runs in a window whose folder is not trusted (Restricted Mode): SynthPair is there, but starts nothing. */
describe('SynthPair in Restricted Mode', () => {
  function workspaceFile(name: string): vscode.Uri {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder);
    return vscode.Uri.joinPath(folder.uri, name);
  }

  it('activates in an untrusted workspace and lists its experiments', async () => {
    assert.equal(vscode.workspace.isTrusted, false, 'the runner opens this folder untrusted');
    const extension = vscode.extensions.getExtension<SynthPairApi>(EXTENSION_ID);
    assert.ok(extension);
    const synthpair = await extension.activate();
    await synthpair.catalog.refresh();
    assert.ok(synthpair.catalog.configs.includes(workspaceFile('tiny.synthpair.json').fsPath));
  });

  it('refuses to start or resume a run and writes nothing', async () => {
    const synthpair = await vscode.extensions.getExtension<SynthPairApi>(EXTENSION_ID)!.activate();
    const config = workspaceFile('tiny.synthpair.json');
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(config));
    assert.equal(await vscode.commands.executeCommand('synthpair.runExperiment', config), undefined);
    assert.equal(
      await vscode.commands.executeCommand('synthpair.runWithOverrides', config, ['train.epochs=2']),
      undefined,
    );
    assert.equal(synthpair.controller.running.length + synthpair.controller.queued.length, 0);
    assert.equal(existsSync(path.join(path.dirname(config.fsPath), '.synthpair', 'runs')), false);
  });

  it('says why on the experiment file instead of offering Run', async () => {
    const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>(
      'vscode.executeCodeLensProvider',
      workspaceFile('tiny.synthpair.json'),
    );
    const titles = lenses.map((lens) => lens.command?.title ?? '');
    assert.ok(titles.includes('$(shield) Run (trust the workspace first)'), titles.join(' | '));
    assert.ok(!titles.includes('$(play) Run'), titles.join(' | '));
  });
});
