import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as vscode from 'vscode';
import type { RunsNode } from '../../../src/host/runs/runsTree';
import { isAlive } from '../../../src/shared/runFolder/liveness';
import { api, ended, extensionOf, finished, tinyConfigUri, until } from './support';

async function runStatus(
  runDir: string,
): Promise<{ state: string; configFile?: string; epoch: number; pid: number }> {
  return JSON.parse(await readFile(path.join(runDir, 'run.json'), 'utf8'));
}

describe('Running experiments from the editor', function () {
  this.timeout(240_000);

  before(async () => {
    const document = await vscode.workspace.openTextDocument(tinyConfigUri());
    await vscode.window.showTextDocument(document);
  });

  it('shows Run and Open Dashboard CodeLenses on an experiment file', async () => {
    await api();
    const lenses = await until(async () => {
      const found = await vscode.commands.executeCommand<vscode.CodeLens[]>(
        'vscode.executeCodeLensProvider',
        tinyConfigUri(),
      );
      return found.length > 0 ? found : undefined;
    }, 'the CodeLenses');
    const titles = lenses.map((lens) => lens.command?.title ?? '');
    assert.ok(
      titles.some((title) => title.includes('Run')),
      titles.join(' | '),
    );
    assert.ok(
      titles.some((title) => title.includes('Open Dashboard')),
      titles.join(' | '),
    );
  });

  it('runs a tiny experiment to completion from Run Experiment, with status bar and Runs view', async () => {
    const synthpair = await api();
    const statusTexts: string[] = [];
    const record = () => statusTexts.push(synthpair.statusBar.text);
    synthpair.controller.on('changed', record);
    const id = await vscode.commands.executeCommand<number>('synthpair.runExperiment');
    assert.equal(typeof id, 'number', 'the command starts a run of the active experiment');
    const { ending, runDir } = await ended(synthpair, id);
    synthpair.controller.off('changed', record);
    const result = finished(ending);
    assert.equal(result.state, 'completed');
    assert.ok(runDir && existsSync(runDir));
    const status = await runStatus(runDir);
    assert.equal(status.state, 'completed');
    assert.equal(status.configFile, tinyConfigUri().fsPath);
    assert.ok(
      statusTexts.some((text) => /epoch \d+\/\d+ · step \d+\/\d+/.test(text)),
      `the status bar showed progress: ${statusTexts.slice(-3).join(' | ')}`,
    );
    // The view groups the run under its experiment file, with its state.
    await synthpair.catalog.refresh();
    const roots = synthpair.runsTree.getChildren();
    const configNode = roots.find((node) => node.kind === 'config' && node.file === tinyConfigUri().fsPath);
    assert.ok(configNode, `the view lists the experiment: ${JSON.stringify(roots)}`);
    const runNode = synthpair.runsTree
      .getChildren(configNode)
      .find(
        (node): node is Extract<RunsNode, { kind: 'run' }> =>
          node.kind === 'run' && node.summary.dir === runDir,
      );
    assert.ok(runNode, 'the view lists the run under its experiment');
    const item = synthpair.runsTree.getTreeItem(runNode);
    assert.match(String(item.description), /completed/);
    assert.equal(item.contextValue, 'run.completed');
  });

  it('stops a run mid-way, ending its worker, and resumes it to completion', async () => {
    const synthpair = await api();
    const id = await vscode.commands.executeCommand<number>('synthpair.runWithOverrides', tinyConfigUri(), [
      'train.epochs=6',
      'checkpoint.everyEpochs=1',
    ]);
    const stopped = ended(synthpair, id);
    const run = await until(
      () =>
        synthpair.controller.running.find(
          (candidate) => candidate.request.id === id && (candidate.progress?.epoch ?? 0) >= 2,
        ),
      'the run to reach epoch 2',
      120_000,
    );
    const workerPid = run.pid;
    assert.ok(workerPid !== undefined);
    await vscode.commands.executeCommand('synthpair.stopRun', tinyConfigUri());
    const { ending, runDir } = await stopped;
    const result = finished(ending);
    assert.equal(result.state, 'stopped');
    assert.ok(result.epoch >= 1 && result.epoch < 6, `stopped after epoch ${result.epoch}`);
    assert.ok(runDir);
    assert.equal((await runStatus(runDir)).state, 'stopped');
    await until(() => !isAlive(workerPid), 'the worker process to end', 10_000);

    await synthpair.catalog.refresh();
    const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>(
      'vscode.executeCodeLensProvider',
      tinyConfigUri(),
    );
    assert.ok(
      lenses.some((lens) => lens.command?.title.startsWith('$(debug-continue) Resume')),
      'a Resume CodeLens offers the stopped run',
    );
    const resumedId = await vscode.commands.executeCommand<number>(
      'synthpair.resumeRun',
      vscode.Uri.file(runDir),
    );
    const resumed = finished((await ended(synthpair, resumedId)).ending);
    assert.equal(resumed.state, 'completed');
    assert.equal(resumed.runDir, runDir);
    assert.equal(resumed.epoch, 6);
    const evaluations = (await readFile(path.join(runDir, 'eval.jsonl'), 'utf8')).trim().split('\n');
    assert.equal(JSON.parse(evaluations.at(-1)!).epoch, 6);
  });

  it('queues a run started while another trains, shows the queue, and cancels a queued run', async () => {
    const synthpair = await api();
    const first = await vscode.commands.executeCommand<number>(
      'synthpair.runWithOverrides',
      tinyConfigUri(),
      ['train.epochs=3'],
    );
    const second = await vscode.commands.executeCommand<number>('synthpair.runExperiment', tinyConfigUri());
    const third = await vscode.commands.executeCommand<number>('synthpair.runExperiment', tinyConfigUri());
    assert.deepEqual(
      synthpair.controller.queued.map((request) => request.id),
      [second, third],
    );
    const queueNode = synthpair.runsTree.getChildren()[0];
    assert.equal(queueNode?.kind, 'queue');
    assert.equal(synthpair.runsTree.getChildren(queueNode).length, 2);
    const cancelled = ended(synthpair, third);
    await vscode.commands.executeCommand('synthpair.stopRun', {
      kind: 'queued',
      request: synthpair.controller.queued[1],
    });
    assert.equal((await cancelled).ending.kind, 'cancelled');
    const firstEnded = ended(synthpair, first);
    const secondEnded = ended(synthpair, second);
    assert.equal(finished((await firstEnded).ending).state, 'completed');
    // The queued run starts only once the first has ended.
    assert.equal(finished((await secondEnded).ending).state, 'completed');
    assert.equal(synthpair.controller.queued.length, 0);
  });

  it('compares runs and deletes one', async () => {
    const synthpair = await api();
    await synthpair.catalog.refresh();
    const runs = synthpair.catalog.runs.slice(0, 2);
    assert.equal(runs.length, 2);
    const report = await vscode.commands.executeCommand<vscode.TextDocument>(
      'synthpair.compareRuns',
      undefined,
      runs.map((summary) => ({ kind: 'run', summary })),
    );
    assert.match(report.getText(), /## Results/);
    assert.match(report.getText(), /kNN top-1/);
    const victim = runs[1]!;
    const deleted = await vscode.commands.executeCommand<boolean>(
      'synthpair.deleteRun',
      { kind: 'run', summary: victim },
      { confirmed: true },
    );
    assert.equal(deleted, true);
    assert.equal(existsSync(victim.dir), false);
    assert.ok(!synthpair.catalog.runs.some((summary) => summary.dir === victim.dir));
  });
});

describe('Runs trained by other processes', function () {
  this.timeout(180_000);

  function workspaceFolder(): string {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder);
    return folder.uri.fsPath;
  }

  it('lists a run the CLI starts in the workspace, follows it live, and stops it', async () => {
    const synthpair = await api();
    const extension = extensionOf();
    const runDir = path.join(workspaceFolder(), '.synthpair', 'runs', 'from-cli');
    const cli = spawn(
      process.execPath,
      [
        path.join(extension.extensionPath, 'dist', 'cli.js'),
        'run',
        tinyConfigUri().fsPath,
        '--out',
        runDir,
        // Long enough that it is still training whenever the view catches up with it; the test stops it.
        '--set',
        'train.epochs=10000',
      ],
      { cwd: workspaceFolder(), stdio: 'ignore', env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } },
    );
    const exited = new Promise<number | null>((resolve) => cli.once('exit', (code) => resolve(code)));
    try {
      // No refresh here: the catalog has to notice the new run folder by itself (file events, or its timed read).
      const live = await until(
        () =>
          synthpair.catalog.runs.find(
            (run) => run.dir === runDir && run.livePid === cli.pid && run.status.epoch >= 1,
          ),
        'the CLI run to appear as running after its first epoch',
        120_000,
      );
      const item = synthpair.runsTree.getTreeItem({ kind: 'run', summary: live });
      assert.equal(item.contextValue, 'run.running.live');
      assert.match(String(item.description), new RegExp(`running \\(pid ${cli.pid}\\)`));
      await vscode.commands.executeCommand('synthpair.stopRun', { kind: 'run', summary: live });
      assert.equal(await exited, 130, 'the CLI stops after its step on the stop request');
      assert.equal((await runStatus(runDir)).state, 'stopped');
      await until(
        () => synthpair.catalog.runs.find((run) => run.dir === runDir && run.state === 'stopped'),
        'the view to show the CLI run stopped',
      );
    } finally {
      cli.kill('SIGKILL');
    }
  });

  it('shows a run whose process died while running as stopped, and offers to resume it', async () => {
    const synthpair = await api();
    const runDir = path.join(workspaceFolder(), '.synthpair', 'runs', 'from-cli');
    const status = await runStatus(runDir);
    // What a reload or a killed process leaves: `running`, with a pid that no longer lives.
    const dead = spawn(process.execPath, ['-e', ''], { env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' } });
    await new Promise((resolve) => dead.once('exit', resolve));
    await writeFile(
      path.join(runDir, 'run.json'),
      JSON.stringify({ ...status, state: 'running', pid: dead.pid }),
    );
    const summary = await until(
      () =>
        synthpair.catalog.runs.find(
          (run) => run.dir === runDir && run.status.state === 'running' && run.status.pid === dead.pid,
        ),
      'the catalog to read the changed run.json',
    );
    assert.equal(summary.state, 'stopped');
    assert.equal(summary.livePid, undefined);
    assert.equal(synthpair.runsTree.getTreeItem({ kind: 'run', summary }).contextValue, 'run.stopped');
  });
});
