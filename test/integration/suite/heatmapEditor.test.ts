import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import * as vscode from 'vscode';
import type { SynthPairApi } from '../../../src/host/extension';
import type { HeatmapEditor } from '../../../src/host/heatmapEditor/heatmapEditor';
import type { HostToHeatmapEditor } from '../../../src/shared/protocol/heatmapEditor';
import { api, ended, finished, tinyConfigUri, until, workspaceFile } from './support';

/** The editor open on `uri` once it has posted a message of `type`; its last message is that one. */
async function editorShowing(
  synthpair: SynthPairApi,
  uri: vscode.Uri,
  type: HostToHeatmapEditor['type'],
  timeoutMs = 120_000,
): Promise<HeatmapEditor> {
  return until(
    () =>
      synthpair
        .heatmapEditors()
        .find((editor) => editor.uri.fsPath === uri.fsPath && editor.lastPosted?.type === type),
    `a heat-map editor on ${uri.fsPath} showing '${type}'`,
    timeoutMs,
  );
}

/**
 * "SynthPair: Heatmap" on an image of the workspace's tiny data set, and the probes' heat maps in the hover
 * of an experiment file, in the real extension host with the real engine worker behind them.
 */
describe('Heat maps beside the data and the experiment', function () {
  this.timeout(240_000);
  let synthpair: SynthPairApi;
  let runDir: string;

  before(async () => {
    synthpair = await api();
    // A run of its own, so the suite does not depend on the order of the other suites.
    const id = await vscode.commands.executeCommand<number>('synthpair.runExperiment', tinyConfigUri());
    const { ending, runDir: trained } = await ended(synthpair, id);
    assert.equal(finished(ending).state, 'completed');
    assert.ok(trained);
    runDir = trained;
    await synthpair.catalog.refresh();
  });

  afterEach(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  it('opens an image of the data set with the Grad-CAM of the experiment’s latest checkpoint', async () => {
    const classes = (await readdir(workspaceFile('data/test').fsPath)).sort();
    const image = workspaceFile(`data/test/${classes[0]}/img0.png`);
    await vscode.commands.executeCommand('vscode.openWith', image, 'synthpair.heatmap');
    const editor = await editorShowing(synthpair, image, 'heatmap');
    const shown = editor.lastPosted as Extract<HostToHeatmapEditor, { type: 'heatmap' }>;
    assert.equal(shown.experiment.configFile, tinyConfigUri().fsPath);
    assert.equal(shown.run.runDir, runDir);
    const { heatmap } = shown;
    assert.deepEqual([heatmap.runDir, heatmap.imageFile, heatmap.split], [runDir, image.fsPath, 'test']);
    assert.equal(heatmap.imageSize, 32);
    assert.equal(Buffer.from(heatmap.pixels, 'base64').length, 32 * 32 * 3);
    assert.equal(Buffer.from(heatmap.gradCam, 'base64').length, 32 * 32);
    assert.equal(editor.panel.viewType, 'synthpair.heatmap');
  });

  it('says so when no experiment’s data set holds the image', async () => {
    const stray = workspaceFile('stray.png');
    const classes = (await readdir(workspaceFile('data/train').fsPath)).sort();
    await copyFile(workspaceFile(`data/train/${classes[0]}/img0.png`).fsPath, stray.fsPath);
    try {
      await vscode.commands.executeCommand('vscode.openWith', stray, 'synthpair.heatmap');
      const editor = await editorShowing(synthpair, stray, 'noExperiment', 30_000);
      assert.deepEqual(editor.lastPosted, { type: 'noExperiment', image: 'stray.png' });
    } finally {
      await rm(stray.fsPath, { force: true });
    }
  });

  it('shows the latest run’s probe heat maps when hovering analysis.probes in the experiment file', async () => {
    const document = await vscode.workspace.openTextDocument(tinyConfigUri());
    await vscode.window.showTextDocument(document);
    const at = document.getText().indexOf('"probes"');
    assert.ok(at >= 0, document.getText());
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>(
      'vscode.executeHoverProvider',
      document.uri,
      document.positionAt(at + 2),
    );
    const markdown = hovers
      .flatMap((hover) => hover.contents)
      .map((content) => (typeof content === 'string' ? content : content.value))
      .find((value) => value.includes('Probe heat maps'));
    assert.ok(markdown, `no probe hover among: ${JSON.stringify(hovers)}`);
    const image = /!\[[^\]]*\]\((file:[^|)]+)\|width=(\d+)\)/.exec(markdown);
    assert.ok(image, markdown);
    const grid = vscode.Uri.parse(image[1]!).fsPath;
    assert.equal(path.dirname(path.dirname(path.dirname(grid))), runDir);
    assert.equal(path.basename(grid), 'heatmaps.png');
    assert.ok(existsSync(grid));
    assert.match(markdown, new RegExp(`run \`${path.basename(runDir)}\``));

    // Only the probes entry and its own keys have it.
    const elsewhere = await vscode.commands.executeCommand<vscode.Hover[]>(
      'vscode.executeHoverProvider',
      document.uri,
      document.positionAt(document.getText().indexOf('"imageSize"') + 2),
    );
    assert.ok(
      !elsewhere
        .flatMap((hover) => hover.contents)
        .some((content) =>
          (typeof content === 'string' ? content : content.value).includes('Probe heat maps'),
        ),
    );
  });
});
