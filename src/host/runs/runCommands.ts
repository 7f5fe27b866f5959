import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as vscode from 'vscode';
import { experimentFileSuffix, isExperimentFileName } from '../../shared/config/experiment/choices';
import { keyPaths } from '../../shared/config/experiment/definitions';
import { parseExperimentConfig } from '../../shared/config/experiment/parse';
import { compareRunsMarkdown } from '../../shared/runFolder/compareRuns';
import { describeEvaluation } from '../../shared/runFolder/describe';
import type { RunSummary } from '../../shared/runFolder/runSummary';
import { commandDefinitions } from '../manifest/commandIds';
import { type RunCatalog, runsFolderOf } from './runCatalog';
import type { RunController, RunEnding, RunRequest } from './runController';
import { stopExternalRun } from './runController';
import type { RunsNode } from './runsTree';
import { describeProgress } from './trainingStatus';

export interface RunCommandDependencies {
  catalog: RunCatalog;
  controller: RunController;
  output: vscode.LogOutputChannel;
}

/** What a command was invoked on: nothing (palette), an editor or explorer file, or a node of the Runs view. */
type Target = vscode.Uri | RunsNode | undefined;

function isNode(target: unknown): target is RunsNode {
  return typeof target === 'object' && target !== null && 'kind' in target && !(target instanceof vscode.Uri);
}

/**
 * Runs need a trusted workspace: the config chooses files to read and the worker executes code. The
 * explanation is not awaited, so the command answers at once whatever the user does with the message.
 */
export function requireTrust(): boolean {
  if (vscode.workspace.isTrusted) return true;
  const manage = 'Manage Workspace Trust';
  void vscode.window
    .showWarningMessage(
      'SynthPair does not start runs in Restricted Mode: a run executes training code on files this workspace names. You can still browse runs and edit experiments.',
      manage,
    )
    .then((choice) =>
      choice === manage ? vscode.commands.executeCommand('workbench.trust.manage') : undefined,
    );
  return false;
}

const comparisonScheme = 'synthpair-comparison';

export function registerRunCommands(dependencies: RunCommandDependencies): vscode.Disposable[] {
  const { catalog, controller, output } = dependencies;
  const comparisonReports = new Map<string, string>();
  let comparisons = 0;

  async function pickExperiment(target: Target): Promise<vscode.TextDocument | undefined> {
    if (target instanceof vscode.Uri) return vscode.workspace.openTextDocument(target);
    if (isNode(target) && target.kind === 'config') {
      return vscode.workspace.openTextDocument(vscode.Uri.file(target.file));
    }
    const active = vscode.window.activeTextEditor?.document;
    if (active && isExperimentFileName(active.uri.fsPath)) return active;
    if (catalog.configs.length === 0) {
      const create = 'New Experiment';
      if (
        (await vscode.window.showInformationMessage(
          `No *${experimentFileSuffix} experiment in this workspace.`,
          create,
        )) === create
      ) {
        await vscode.commands.executeCommand(commandDefinitions.newExperiment.id);
      }
      return undefined;
    }
    const picked = await vscode.window.showQuickPick(
      catalog.configs.map((file) => ({
        label: path.basename(file),
        description: vscode.workspace.asRelativePath(file),
        file,
      })),
      { placeHolder: 'Which experiment?' },
    );
    return picked ? vscode.workspace.openTextDocument(vscode.Uri.file(picked.file)) : undefined;
  }

  async function pickRun(target: Target, filter: (run: RunSummary) => boolean, placeHolder: string) {
    if (isNode(target) && target.kind === 'run') return target.summary;
    if (target instanceof vscode.Uri) {
      const file = target.fsPath;
      return isExperimentFileName(file)
        ? catalog.runs.find((run) => run.status.configFile === file && filter(run))
        : catalog.runs.find((run) => run.dir === file);
    }
    const candidates = catalog.runs.filter(filter);
    if (candidates.length === 0) {
      void vscode.window.showInformationMessage(`SynthPair: no run to choose (${placeHolder.toLowerCase()})`);
      return undefined;
    }
    const picked = await vscode.window.showQuickPick(
      candidates.map((run) => ({
        label: path.basename(run.dir),
        description: `${run.state} · epoch ${run.status.epoch}${run.epochs === undefined ? '' : `/${run.epochs}`}`,
        run,
      })),
      { placeHolder },
    );
    return picked?.run;
  }

  function start(document: vscode.TextDocument, overrides: string[]): RunRequest {
    const configFile = document.uri.fsPath;
    const workspaceFolder =
      vscode.workspace.getWorkspaceFolder(document.uri)?.uri.fsPath ?? path.dirname(configFile);
    const label = path.basename(configFile).replace(/\.synthpair\.json$/, '');
    const request = controller.enqueue({
      label,
      configFile,
      start: {
        kind: 'new',
        configFile,
        // The text as the editor holds it: a run starts from what the user sees, saved or not.
        text: document.getText(),
        overrides,
        overridesBase: workspaceFolder,
        runsFolder: runsFolderOf(workspaceFolder),
      },
      cacheFolder: path.join(workspaceFolder, '.synthpair', 'cache'),
    });
    output.info(
      `${label}: ${controller.queued.includes(request) ? 'queued' : 'starting'}${overrides.length > 0 ? ` with ${overrides.join(' ')}` : ''}`,
    );
    showProgress(request);
    return request;
  }

  /** A notification per run while it trains; Cancel stops the run after its step. */
  function showProgress(request: RunRequest): void {
    void vscode.window.withProgress(
      {
        location: vscode.ProgressLocation.Notification,
        title: `SynthPair: ${request.label}`,
        cancellable: true,
      },
      (progress, token) =>
        new Promise<void>((resolve) => {
          let reported = 0;
          const onChange = () => {
            const run = controller.running.find((candidate) => candidate.request.id === request.id);
            if (!run) {
              if (controller.queued.includes(request)) progress.report({ message: 'queued' });
              return;
            }
            const fraction = run.progress ? run.progress.step / Math.max(1, run.progress.totalSteps) : 0;
            const increment = Math.max(0, 100 * fraction - reported);
            reported += increment;
            progress.report({ message: describeProgress(run), increment });
          };
          const onEnded = (ended: RunRequest) => {
            if (ended.id !== request.id) return;
            controller.off('changed', onChange);
            controller.off('ended', onEnded);
            resolve();
          };
          controller.on('changed', onChange);
          controller.on('ended', onEnded);
          token.onCancellationRequested(() => void controller.stop(request.id));
          onChange();
        }),
    );
  }

  controller.on('ended', (request, ending, runDir) => void announceEnding(request, ending, runDir));

  async function announceEnding(request: RunRequest, ending: RunEnding, runDir: string | undefined) {
    void catalog.refresh();
    if (ending.kind === 'cancelled') {
      output.info(`${request.label}: taken out of the queue`);
      return;
    }
    if (ending.kind === 'failed') {
      output.error(`${request.label}: ${ending.error.message}`);
      const show = 'Show Output';
      if (
        (await vscode.window.showErrorMessage(
          `SynthPair: ${request.label} failed: ${ending.error.message}`,
          show,
        )) === show
      ) {
        output.show();
      }
      return;
    }
    if (ending.kind === 'forcedStop') {
      const waited = `${Math.round(ending.afterMs / 1000)} s`;
      output.warn(`${request.label}: its worker was still busy ${waited} after Stop and was ended`);
      await offerResume(
        `SynthPair: ${request.label} stopped: its worker was still busy ${waited} after Stop and was ended`,
        runDir,
      );
      return;
    }
    const { result } = ending;
    if (result.state === 'completed') {
      const figures = result.evaluation ? `: ${describeEvaluation(result.evaluation)}` : '';
      output.info(`${request.label}: completed ${result.runDir}${figures}`);
      const open = 'Open Dashboard';
      if (
        (await vscode.window.showInformationMessage(
          `SynthPair: ${request.label} completed${figures}`,
          open,
        )) === open
      ) {
        await vscode.commands.executeCommand(
          commandDefinitions.openDashboard.id,
          vscode.Uri.file(result.runDir),
        );
      }
    } else {
      output.info(`${request.label}: stopped after epoch ${result.epoch} (step ${result.step}) in ${runDir}`);
      await offerResume(`SynthPair: ${request.label} stopped after epoch ${result.epoch}`, result.runDir);
    }
  }

  /**
   * A stopped run is never reported as failed: `stopped` says how it stopped, and Resume is offered when the
   * run has a folder to continue.
   */
  async function offerResume(stopped: string, runDir: string | undefined): Promise<void> {
    if (runDir === undefined) {
      void vscode.window.showInformationMessage(`${stopped}, before it had made its run folder.`);
      return;
    }
    const resume = 'Resume';
    const choice = await vscode.window.showInformationMessage(
      `${stopped}; Resume continues from its last checkpoint.`,
      resume,
    );
    if (choice === resume) {
      await vscode.commands.executeCommand(commandDefinitions.resumeRun.id, vscode.Uri.file(runDir));
    }
  }

  async function askOverrides(document: vscode.TextDocument): Promise<string[] | undefined> {
    const overrides: string[] = [];
    const leaves = [...keyPaths()].filter(([, definition]) => definition.kind !== 'group');
    for (;;) {
      type Item = vscode.QuickPickItem & { key?: string };
      const runItem: Item = {
        label: `$(play) Run with ${overrides.length} override${overrides.length === 1 ? '' : 's'}`,
        description: overrides.join('  '),
        alwaysShow: true,
      };
      const items: Item[] = [
        ...(overrides.length > 0 ? [runItem, { label: '', kind: vscode.QuickPickItemKind.Separator }] : []),
        ...leaves.map(([key, definition]) => ({
          label: key,
          description: 'default' in definition ? `default ${JSON.stringify(definition.default)}` : 'required',
          detail: definition.description.replace(/[`*]/g, ''),
          key,
        })),
      ];
      const picked = await vscode.window.showQuickPick(items, {
        title: 'SynthPair: Run with Overrides',
        placeHolder:
          overrides.length === 0
            ? 'Key to override for this run (the file is not changed)'
            : 'Another key, or run',
        matchOnDetail: true,
      });
      if (!picked) return undefined;
      if (!picked.key) return overrides;
      const key = picked.key;
      const value = await vscode.window.showInputBox({
        title: `SynthPair: ${key}`,
        prompt: `Value of ${key} for this run (JSON, or a plain string)`,
        validateInput: (text) => {
          if (text.trim() === '') return 'Enter a value';
          const { diagnostics } = parseExperimentConfig(document.getText(), {
            overrides: [...overrides, `${key}=${text}`],
          });
          // The reader words override errors for the CLI's --set; here the value was typed in this box.
          return diagnostics
            .find((diagnostic) => diagnostic.severity === 'error' && diagnostic.path.startsWith(key))
            ?.message.replace(/ \(from --set [^)]*\)$/, '');
        },
      });
      if (value === undefined) continue;
      overrides.push(`${key}=${value}`);
    }
  }

  async function stopTarget(target: Target): Promise<void> {
    if (isNode(target) && (target.kind === 'queued' || target.kind === 'starting')) {
      await controller.stop(target.kind === 'queued' ? target.request.id : target.run.request.id);
      return;
    }
    if (target instanceof vscode.Uri && isExperimentFileName(target.fsPath)) {
      const file = target.fsPath;
      const mine = [...controller.queued, ...controller.running.map((run) => run.request)].find(
        (request) => request.configFile === file,
      );
      if (mine) {
        await controller.stop(mine.id);
        return;
      }
    }
    if (target !== undefined) {
      const summary = await pickRun(target, () => true, 'Run to stop');
      const mine = summary && controller.running.find((run) => run.runDir === summary.dir);
      if (mine) {
        await controller.stop(mine.request.id);
      } else if (summary?.livePid !== undefined) {
        await stopOtherProcess(summary);
      }
      return;
    }
    const stoppable = [
      ...controller.running.map((run) => ({
        label: run.request.label,
        description: describeProgress(run),
        stop: () => controller.stop(run.request.id),
      })),
      ...controller.queued.map((request) => ({
        label: request.label,
        description: 'queued',
        stop: () => controller.stop(request.id),
      })),
      ...catalog.runs
        .filter((run) => run.livePid !== undefined && !controller.owns(run.dir))
        .map((run) => ({
          label: path.basename(run.dir),
          description: `trained by process ${run.livePid}`,
          stop: () => stopOtherProcess(run),
        })),
    ];
    if (stoppable.length === 0) {
      void vscode.window.showInformationMessage('SynthPair: no run is training.');
      return;
    }
    const picked =
      stoppable.length === 1
        ? stoppable[0]
        : await vscode.window.showQuickPick(stoppable, { placeHolder: 'Run to stop' });
    await picked?.stop();
  }

  async function stopOtherProcess(summary: RunSummary): Promise<void> {
    output.info(`${path.basename(summary.dir)}: asking process ${summary.livePid} to stop`);
    await stopExternalRun(summary.livePid!);
    await catalog.refresh();
  }

  return [
    vscode.commands.registerCommand(commandDefinitions.runExperiment.id, async (target: Target) => {
      if (!requireTrust()) return undefined;
      const document = await pickExperiment(target);
      return document ? start(document, []).id : undefined;
    }),
    vscode.commands.registerCommand(
      commandDefinitions.runWithOverrides.id,
      async (target: Target, presetOverrides?: string[]) => {
        if (!requireTrust()) return undefined;
        const document = await pickExperiment(target);
        if (!document) return undefined;
        const overrides = presetOverrides ?? (await askOverrides(document));
        return overrides ? start(document, overrides).id : undefined;
      },
    ),
    vscode.commands.registerCommand(commandDefinitions.stopRun.id, (target: Target) => stopTarget(target)),
    vscode.commands.registerCommand(commandDefinitions.resumeRun.id, async (target: Target) => {
      if (!requireTrust()) return undefined;
      const summary = await pickRun(
        target,
        (run) => (run.state === 'stopped' || run.state === 'failed') && !controller.owns(run.dir),
        'Run to resume',
      );
      if (!summary) return undefined;
      const label = path.basename(summary.dir);
      const workspaceFolder =
        vscode.workspace.getWorkspaceFolder(vscode.Uri.file(summary.dir))?.uri.fsPath ??
        path.dirname(path.dirname(summary.dir));
      const request = controller.enqueue({
        label,
        configFile: summary.status.configFile,
        start: { kind: 'resume', runDir: summary.dir },
        cacheFolder: path.join(workspaceFolder, '.synthpair', 'cache'),
      });
      output.info(`${label}: resuming after epoch ${summary.status.epoch}`);
      showProgress(request);
      return request.id;
    }),
    vscode.commands.registerCommand(commandDefinitions.revealRunFolder.id, async (target: Target) => {
      // A study's trial is a run the catalog lists apart from the experiments' runs.
      const dir =
        isNode(target) && target.kind === 'trial'
          ? target.trial.dir
          : (await pickRun(target, () => true, 'Run folder to reveal'))?.dir;
      if (!dir) return;
      const uri = vscode.Uri.file(dir);
      const inWorkspace = vscode.workspace.getWorkspaceFolder(uri) !== undefined;
      await vscode.commands.executeCommand(inWorkspace ? 'revealInExplorer' : 'revealFileInOS', uri);
    }),
    vscode.commands.registerCommand(
      commandDefinitions.deleteRun.id,
      async (target: Target, options?: { confirmed?: boolean }) => {
        const summary = await pickRun(
          target,
          (run) => run.livePid === undefined && !controller.owns(run.dir),
          'Run to delete',
        );
        if (!summary) return false;
        if (summary.livePid !== undefined || controller.owns(summary.dir)) {
          void vscode.window.showWarningMessage(
            `SynthPair: ${path.basename(summary.dir)} is training; stop it before deleting it.`,
          );
          return false;
        }
        if (options?.confirmed !== true) {
          const remove = 'Delete';
          const choice = await vscode.window.showWarningMessage(
            `Delete the run ${path.basename(summary.dir)}?`,
            {
              modal: true,
              detail: `Its folder ${summary.dir} — checkpoints, metrics, analyses — is removed for good.`,
            },
            remove,
          );
          if (choice !== remove) return false;
        }
        await vscode.workspace.fs.delete(vscode.Uri.file(summary.dir), { recursive: true, useTrash: false });
        output.info(`deleted ${summary.dir}`);
        await catalog.refresh();
        return true;
      },
    ),
    vscode.commands.registerCommand(
      commandDefinitions.compareRuns.id,
      async (target?: Target, selection?: RunsNode[]) => {
        let runs = (selection ?? [])
          .filter((node): node is Extract<RunsNode, { kind: 'run' }> => node.kind === 'run')
          .map((node) => node.summary);
        if (runs.length < 2) {
          const preselected = isNode(target) && target.kind === 'run' ? target.summary.dir : undefined;
          const picked = await vscode.window.showQuickPick(
            catalog.runs.map((run) => ({
              label: path.basename(run.dir),
              description: `${run.state}${run.lastEval ? ` · ${describeEvaluation(run.lastEval)}` : ''}`,
              picked: run.dir === preselected,
              run,
            })),
            { canPickMany: true, placeHolder: 'Runs to compare (two or more)' },
          );
          if (!picked) return undefined;
          runs = picked.map((item) => item.run);
        }
        if (runs.length < 2) {
          void vscode.window.showInformationMessage('SynthPair: choose at least two runs to compare.');
          return undefined;
        }
        const compared = await Promise.all(
          runs.map(async (summary) => ({
            summary,
            config: JSON.parse(await readFile(path.join(summary.dir, 'config.json'), 'utf8')) as unknown,
          })),
        );
        // A read-only document of its own scheme: nothing to save or to be asked about on close.
        const uri = vscode.Uri.from({ scheme: comparisonScheme, path: `/comparison-${++comparisons}.md` });
        comparisonReports.set(uri.path, compareRunsMarkdown(compared));
        const document = await vscode.workspace.openTextDocument(uri);
        await vscode.commands.executeCommand('markdown.showPreview', uri);
        return document;
      },
    ),
    vscode.commands.registerCommand(commandDefinitions.refreshRuns.id, () => catalog.refresh()),
    vscode.workspace.registerTextDocumentContentProvider(comparisonScheme, {
      provideTextDocumentContent: (uri) => comparisonReports.get(uri.path),
    }),
  ];
}
