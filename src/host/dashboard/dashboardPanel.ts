import path from 'node:path';
import * as vscode from 'vscode';
import { isExperimentFileName } from '../../shared/config/experiment/choices';
import { toWireError } from '../../shared/protocol/errors';
import { validateMessage } from '../../shared/protocol/validate';
import {
  type DashboardState,
  type DashboardTab,
  type DashboardToHost,
  dashboardState,
  dashboardToHost,
  type HostToDashboard,
  hostToDashboard,
  type PanelConfigKey,
  type WorkerState,
} from '../../shared/protocol/webview';
import { type AnalysisStep, AnalysisStepReader } from '../../shared/runFolder/analysisSteps';
import { runFileNames } from '../../shared/runFolder/runDirectory';
import type { RunSummary } from '../../shared/runFolder/runSummary';
import { commandDefinitions, contextKeys } from '../manifest/commandIds';
import type { RunCatalog } from '../runs/runCatalog';
import type { RunController } from '../runs/runController';
import { onRunsChanged } from '../runs/runsChanged';
import { completeWalkthroughStep } from '../walkthrough/walkthrough';
import { HostedWebview } from '../webview/hostedWebview';
import type { WebviewProtocol } from '../webview/webviewBridge';
import type { EngineService } from '../workers/engineService';
import { changedKeys, type PanelValues, readPanelValues, setConfigValue } from './configValues';
import { type EditToPixels, PairsSynthesis } from './pairsSynthesis';
import { analysisStepPairs, RunLogFeed, SkippedFilesFeed } from './runFeed';

export interface DashboardDependencies {
  extensionUri: vscode.Uri;
  engine: EngineService;
  catalog: RunCatalog;
  controller: RunController;
  output: vscode.LogOutputChannel;
  /** Where an export goes; the save dialog unless a test answers instead. */
  chooseExportTarget?: (suggested: vscode.Uri, format: 'png' | 'csv') => Thenable<vscode.Uri | undefined>;
}

/** How often a live run's curves and steps reach the webview at most. */
const liveIntervalMs = 500;

const isExperimentFile = (uri: vscode.Uri) => uri.scheme === 'file' && isExperimentFileName(uri.path);

const dashboardProtocol: WebviewProtocol<DashboardToHost, HostToDashboard> = {
  name: 'Dashboard',
  toHost: dashboardToHost,
  toWebview: hostToDashboard,
};

/**
 * The dashboard: one panel per window that shows the experiment of the active editor, like the Markdown
 * preview follows its document, or one experiment when locked. It reads the runs from disk and the config from
 * the editor's document (saved or not); the webview holds only what it is sent and its own view settings.
 */
export class DashboardPanel extends HostedWebview<DashboardToHost, HostToDashboard> {
  static readonly viewType = 'synthpair.dashboard';
  private static currentPanel: DashboardPanel | undefined;

  private configFile: string | undefined;
  private locked = false;
  private selectedRun: string | undefined;
  private newestRun: string | undefined;
  private overlaidRuns: string[] = [];
  private panelValues: PanelValues | undefined;
  private readonly logs = new RunLogFeed();
  private readonly skippedFiles = new SkippedFilesFeed();
  /** The selected run's analysis steps, read again only where its `analysis/` folder changed. */
  private analysisSteps: AnalysisStepReader | undefined;
  /** The steps last sent, of the run `analysisSteps` reads; undefined when the webview has none of them. */
  private sentSteps: readonly AnalysisStep[] | undefined;
  /**
   * The refreshes of the run data, one after another: each reads the logs on from where the previous one
   * stopped, and its messages must follow the previous one's.
   */
  private sendingRunData: Promise<void> = Promise.resolve();
  private readonly synthesis: PairsSynthesis;
  private ready = false;
  /** The pairs shown are a training run's analysis grid, to be redrawn by the worker once it stops. */
  private trainingShown = false;

  static get current(): DashboardPanel | undefined {
    return DashboardPanel.currentPanel;
  }

  /** Shows the dashboard beside the active editor, bound to `configFile` or else to the active experiment. */
  static createOrShow(dependencies: DashboardDependencies, configFile?: string): DashboardPanel {
    const column = vscode.window.activeTextEditor ? vscode.ViewColumn.Beside : vscode.ViewColumn.One;
    const target = configFile ?? activeExperimentFile();
    if (DashboardPanel.currentPanel) {
      const current = DashboardPanel.currentPanel;
      current.panel.reveal(column, true);
      if (target && target !== current.configFile) void current.bind(target);
      return current;
    }
    const panel = vscode.window.createWebviewPanel(DashboardPanel.viewType, 'SynthPair Dashboard', {
      viewColumn: column,
      preserveFocus: true,
    });
    return new DashboardPanel(panel, dependencies, { configFile: target ?? null });
  }

  /** Lets VS Code restore the panel after a reload. */
  static registerSerializer(dependencies: DashboardDependencies): vscode.Disposable {
    return vscode.window.registerWebviewPanelSerializer(DashboardPanel.viewType, {
      deserializeWebviewPanel: async (panel, state: unknown) => {
        DashboardPanel.revive(panel, dependencies, state);
      },
    });
  }

  /** A panel VS Code restores after a reload, with the state its webview last saved. */
  static revive(
    panel: vscode.WebviewPanel,
    dependencies: DashboardDependencies,
    state: unknown,
  ): DashboardPanel {
    DashboardPanel.currentPanel?.dispose();
    const checked = validateMessage(dashboardState, state ?? {});
    return new DashboardPanel(panel, dependencies, checked.ok ? checked.value : {});
  }

  private constructor(
    panel: vscode.WebviewPanel,
    private readonly dependencies: DashboardDependencies,
    restored: Pick<DashboardState, 'configFile' | 'locked' | 'selectedRun'>,
  ) {
    super(panel, {
      protocol: dashboardProtocol,
      extensionUri: dependencies.extensionUri,
      output: dependencies.output,
      bundle: 'dashboard',
      title: 'SynthPair Dashboard',
      // Analysis arrays are fetched straight from the run folders, which live in the workspace.
      resourceRoots: (vscode.workspace.workspaceFolders ?? []).map((folder) => folder.uri),
    });
    DashboardPanel.currentPanel = this;
    this.configFile = restored.configFile ?? undefined;
    this.locked = restored.locked ?? false;
    this.selectedRun = restored.selectedRun ?? undefined;
    this.synthesis = new PairsSynthesis({
      synthesize: (params) => dependencies.engine.synthesize(params),
      post: (message) => void this.post(message),
      log: (message) => dependencies.output.info(`Dashboard: ${message}`),
    });
    this.updateTitle();
    const onState = (state: WorkerState, detail?: string) =>
      void this.post({ type: 'workerState', state, ...(detail ? { detail } : {}) });
    dependencies.engine.on('state', onState);
    const runsChanged = onRunsChanged(
      dependencies.catalog,
      dependencies.controller,
      () => void this.refreshRuns(),
      liveIntervalMs,
    );
    this.disposables.push(
      this.synthesis,
      runsChanged,
      { dispose: () => dependencies.engine.off('state', onState) },
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        if (!this.locked && editor && isExperimentFile(editor.document.uri)) {
          void this.bind(editor.document.uri.fsPath);
        }
      }),
      vscode.workspace.onDidChangeTextDocument((event) => {
        if (event.contentChanges.length > 0 && event.document.uri.fsPath === this.configFile) {
          this.readConfig(event.document, performance.now());
        }
      }),
    );
  }

  /** The experiment file shown, if any. */
  get boundConfigFile(): string | undefined {
    return this.configFile;
  }

  /** Every edit-to-pixels time measured in this panel, as the grids appear. */
  onDidRenderPairs(listener: (timing: EditToPixels) => void): vscode.Disposable {
    return new vscode.Disposable(this.synthesis.onDidRender(listener).dispose);
  }

  override dispose(): void {
    if (DashboardPanel.currentPanel === this) {
      DashboardPanel.currentPanel = undefined;
    }
    super.dispose();
  }

  /** Shows `configFile` and its newest run. */
  private async bind(configFile: string): Promise<void> {
    if (configFile === this.configFile) return;
    this.configFile = configFile;
    this.selectedRun = undefined;
    this.overlaidRuns = [];
    this.panelValues = undefined;
    this.synthesis.cancel();
    this.updateTitle();
    await this.sendEverything();
  }

  setLocked(locked: boolean): void {
    this.locked = locked;
    this.updateTitle();
    void this.sendBinding();
    // Unlocking follows the editor again, starting with the one that is active now.
    const active = activeExperimentFile();
    if (!locked && active) void this.bind(active);
  }

  async selectRun(runDir: string): Promise<void> {
    this.selectedRun = runDir;
    this.overlaidRuns = this.overlaidRuns.filter((dir) => dir !== runDir);
    this.synthesis.cancel();
    await this.sendEverything();
  }

  /** Opens the shown run's skipped.json, the list of every file it left out of its data set, in an editor. */
  async openSkippedList(): Promise<void> {
    if (!this.selectedRun) return;
    await vscode.window.showTextDocument(vscode.Uri.file(path.join(this.selectedRun, runFileNames.skipped)), {
      viewColumn: vscode.ViewColumn.One,
    });
  }

  showTab(tab: DashboardTab): Promise<void> {
    return this.post({ type: 'showTab', tab });
  }

  private updateTitle(): void {
    const name = this.configFile
      ? path.basename(this.configFile).replace(/\.synthpair\.json$/, '')
      : undefined;
    this.panel.title = name ? `SynthPair: ${name}${this.locked ? ' 🔒' : ''}` : 'SynthPair Dashboard';
  }

  /** The experiment's runs and its studies' trials, newest first: a trial is a run of the experiment too. */
  private runsOfConfig(): readonly RunSummary[] {
    const configFile = this.configFile;
    if (!configFile) return [];
    const { runs, trialRuns } = this.dependencies.catalog;
    return [...runs, ...trialRuns]
      .filter((run) => run.status.configFile === configFile)
      .sort((a, b) => b.status.startedAt.localeCompare(a.status.startedAt));
  }

  private async sendEverything(): Promise<void> {
    if (!this.ready) return;
    this.sentSteps = undefined;
    this.skippedFiles.reset();
    await this.sendBinding();
    if (this.configFile) {
      const document = await openDocument(this.configFile);
      if (document) this.readConfig(document, performance.now());
    }
    await this.sendRunData();
  }

  private async refreshRuns(): Promise<void> {
    if (!this.ready) return;
    const selected = this.selectedRun;
    await this.sendBinding();
    await this.sendRunData();
    // Another run shown, or the shown one has just stopped training: the worker can redraw it now.
    const stoppedTraining =
      this.trainingShown && this.selectedRun !== undefined && !this.isTraining(this.selectedRun);
    if (selected !== this.selectedRun || stoppedTraining) this.requestPairs(performance.now());
  }

  private async sendBinding(): Promise<void> {
    const runs = this.runsOfConfig();
    // Someone watching the newest run wants to see the next one as soon as it starts; a run picked from the
    // list stays picked.
    const wasNewest = this.selectedRun === this.newestRun;
    this.newestRun = runs[0]?.dir;
    if (!this.selectedRun || wasNewest || !runs.some((run) => run.dir === this.selectedRun)) {
      this.selectedRun = runs[0]?.dir;
    }
    this.overlaidRuns = this.overlaidRuns.filter((dir) => runs.some((run) => run.dir === dir));
    const folder = this.configFile
      ? vscode.workspace.getWorkspaceFolder(vscode.Uri.file(this.configFile))
      : undefined;
    await this.post({
      type: 'binding',
      configFile: this.configFile ?? null,
      configLabel: this.configFile
        ? folder
          ? path.relative(folder.uri.fsPath, this.configFile)
          : path.basename(this.configFile)
        : null,
      locked: this.locked,
      canRun: vscode.workspace.isTrusted,
      runs: runs.map((run) => ({
        runDir: run.dir,
        label: path.basename(run.dir),
        state: run.state,
        epoch: run.status.epoch,
        ...(run.epochs === undefined ? {} : { epochs: run.epochs }),
        startedAt: run.status.startedAt,
      })),
      selectedRun: this.selectedRun ?? null,
      overlaidRuns: this.overlaidRuns,
    });
  }

  private sendRunData(): Promise<void> {
    const sending = this.sendingRunData.then(() => this.readAndSendRunData());
    this.sendingRunData = sending.catch(() => undefined);
    return sending;
  }

  private async readAndSendRunData(): Promise<void> {
    const shown = [this.selectedRun, ...this.overlaidRuns].filter((dir): dir is string => dir !== undefined);
    this.logs.keepOnly(shown);
    for (const runDir of shown) {
      const update = await this.logs.update(runDir);
      if (update) await this.post(update);
    }
    const runDir = this.selectedRun;
    if (!runDir) return;
    const skipped = await this.skippedFiles.update(runDir);
    if (skipped) await this.post(skipped);
    const hadSteps = this.analysisSteps?.runDir === runDir && this.sentSteps !== undefined;
    const steps = await this.analysisStepsOf(runDir);
    if (steps === this.sentSteps) return;
    this.sentSteps = steps;
    // Run folders outside the workspace (`synthpair run --out`) become readable by the webview too.
    this.allowResourcesOf(runDir);
    await this.post({
      type: 'analyses',
      runDir,
      steps: steps.map((step) => ({
        epoch: step.epoch,
        folderUri: this.panel.webview.asWebviewUri(vscode.Uri.file(step.folder)).toString(),
        manifest: step.manifest,
      })),
    });
    // New steps mean a new checkpoint may be there too: the pairs follow the run as it trains.
    if (!hadSteps || steps.length > 0) this.requestPairs(performance.now());
  }

  /** The run's readable analysis steps; the same array as last time while none was added or replaced. */
  private analysisStepsOf(runDir: string): Promise<readonly AnalysisStep[]> {
    if (this.analysisSteps?.runDir !== runDir) {
      this.analysisSteps = new AnalysisStepReader(runDir);
      this.sentSteps = undefined;
    }
    return this.analysisSteps.read();
  }

  /** Whether a process trains the run now: the worker cannot redraw it, as its weights change under it. */
  private isTraining(runDir: string): boolean {
    const summary = this.dependencies.catalog.findRun(runDir);
    return this.dependencies.controller.owns(runDir) || summary?.livePid !== undefined;
  }

  /** A run being trained shows the grid its newest analysis step drew, and says when edits will apply. */
  private async showTrainingPairs(runDir: string): Promise<void> {
    this.synthesis.cancel();
    const newest = (await this.analysisStepsOf(runDir)).at(-1);
    const grid = newest ? await analysisStepPairs(runDir, newest) : undefined;
    if (runDir !== this.selectedRun) return;
    if (grid) this.synthesis.show(0, 0, grid);
    await this.post({
      type: 'synthesisState',
      requestId: 0,
      state: 'unavailable',
      message: grid
        ? `This run is being trained: the grid is the one its analysis after epoch ${grid.epoch} drew. Edits to perturb.* and analysis.* redraw it once training stops.`
        : 'This run is being trained and has no analysis step yet: its pairs appear after its first analysis (analysis.everyEpochs).',
    });
  }

  private readConfig(document: vscode.TextDocument, editedAt: number): void {
    const read = readPanelValues(document.getText());
    if (!read.ok) {
      if (this.panelValues) {
        void this.post({
          type: 'configValues',
          configFile: document.uri.fsPath,
          version: document.version,
          values: this.panelValues,
          problem: read.problem,
        });
      }
      return;
    }
    const changed = changedKeys(this.panelValues, read.values);
    this.panelValues = read.values;
    void this.post({
      type: 'configValues',
      configFile: document.uri.fsPath,
      version: document.version,
      values: read.values,
    });
    if (changed.length > 0) this.requestPairs(editedAt, document.version);
  }

  private requestPairs(editedAt: number, version = 0): void {
    const runDir = this.selectedRun;
    if (!runDir || !this.panelValues) return;
    this.trainingShown = this.isTraining(runDir);
    if (this.trainingShown) {
      void this.showTrainingPairs(runDir);
    } else {
      this.synthesis.schedule(runDir, this.panelValues, version, editedAt);
    }
  }

  /** Writes one key into the experiment file as an edit of its document: undoable, and the file turns dirty. */
  async editConfig(key: PanelConfigKey, value: string | number | boolean): Promise<boolean> {
    if (!this.configFile) return false;
    const document = await openDocument(this.configFile);
    if (!document) return false;
    const editor = vscode.window.visibleTextEditors.find((visible) => visible.document === document);
    const replacements = setConfigValue(document.getText(), key, value, {
      insertSpaces: editor ? editor.options.insertSpaces !== false : true,
      tabSize: typeof editor?.options.tabSize === 'number' ? editor.options.tabSize : 2,
      eol: document.eol === vscode.EndOfLine.CRLF ? '\r\n' : '\n',
    });
    if (replacements.length === 0) return true;
    const edit = new vscode.WorkspaceEdit();
    for (const replacement of replacements) {
      const range = new vscode.Range(
        document.positionAt(replacement.offset),
        document.positionAt(replacement.offset + replacement.length),
      );
      edit.replace(document.uri, range, replacement.content);
    }
    const applied = await vscode.workspace.applyEdit(edit);
    if (applied) {
      this.dependencies.output.info(
        `Dashboard: set ${key} to ${JSON.stringify(value)} in ${this.configFile}`,
      );
      if (key === 'analysis.variance.quantile' || key === 'analysis.gradcam.quantile') {
        completeWalkthroughStep(contextKeys.walkthroughThresholdEdited);
      }
    } else {
      this.dependencies.output.warn(`Dashboard: VS Code refused the edit of ${key} in ${this.configFile}`);
    }
    return applied;
  }

  protected async handle(value: DashboardToHost): Promise<void> {
    switch (value.type) {
      case 'ready':
        this.ready = true;
        // A reloaded webview has lost what it was sent.
        this.logs.keepOnly([]);
        this.synthesis.forgetSentBase();
        await this.post({ type: 'workerState', state: this.dependencies.engine.state });
        await this.sendEverything();
        await this.sendBackendReport(false);
        return;
      case 'refreshBackend':
        await this.sendBackendReport(true);
        return;
      case 'showOutput':
        this.dependencies.output.show(true);
        return;
      case 'selectRun':
        await this.selectRun(value.runDir);
        return;
      case 'overlayRuns':
        this.overlaidRuns = value.runDirs.filter((dir) => dir !== this.selectedRun);
        await this.sendBinding();
        await this.sendRunData();
        return;
      case 'setLocked':
        this.setLocked(value.locked);
        return;
      case 'runExperiment':
        if (this.configFile) {
          await vscode.commands.executeCommand(
            commandDefinitions.runExperiment.id,
            vscode.Uri.file(this.configFile),
          );
        }
        return;
      case 'openConfig':
        if (this.configFile) {
          await vscode.window.showTextDocument(vscode.Uri.file(this.configFile), {
            viewColumn: vscode.ViewColumn.One,
          });
        }
        return;
      case 'openSkippedList':
        await this.openSkippedList();
        return;
      case 'editConfig':
        await this.editConfig(value.key, value.value);
        return;
      case 'saveExport':
        await this.saveExport(value.suggestedName, value.format, value.base64);
        return;
      case 'pairsBaseMissing':
        this.dependencies.output.warn(
          `Dashboard: the webview lacked the images pair grid ${value.requestId} reused; sending the pairs whole`,
        );
        this.synthesis.forgetSentBase();
        this.requestPairs(performance.now());
        return;
      case 'synthesisRendered':
        completeWalkthroughStep(contextKeys.walkthroughPairsShown);
        this.synthesis.rendered(value.requestId, value.renderMs);
        return;
    }
  }

  /** Saves an export the webview made where the user chooses; the webview cannot write files itself. */
  async saveExport(suggestedName: string, format: 'png' | 'csv', base64: string): Promise<void> {
    const folder = this.configFile
      ? path.dirname(this.configFile)
      : vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const suggested = vscode.Uri.file(path.join(folder ?? '', path.basename(suggestedName)));
    const choose =
      this.dependencies.chooseExportTarget ??
      ((uri: vscode.Uri, kind: 'png' | 'csv') =>
        vscode.window.showSaveDialog({
          defaultUri: uri,
          filters: kind === 'png' ? { 'PNG image': ['png'] } : { 'CSV table': ['csv'] },
          title: `Export ${kind.toUpperCase()}`,
        }));
    const target = await choose(suggested, format);
    if (!target) return;
    await vscode.workspace.fs.writeFile(target, Buffer.from(base64, 'base64'));
    this.dependencies.output.info(`Dashboard: exported ${target.fsPath}`);
  }

  private async sendBackendReport(restart: boolean): Promise<void> {
    try {
      const report = await this.dependencies.engine.backendReport({ restart });
      await this.post({ type: 'backendReport', report });
    } catch (error) {
      await this.post({ type: 'backendError', error: toWireError(error) });
    }
  }
}

function activeExperimentFile(): string | undefined {
  const uri = vscode.window.activeTextEditor?.document.uri;
  return uri && isExperimentFile(uri) ? uri.fsPath : undefined;
}

async function openDocument(file: string): Promise<vscode.TextDocument | undefined> {
  try {
    return await vscode.workspace.openTextDocument(vscode.Uri.file(file));
  } catch {
    return undefined;
  }
}
