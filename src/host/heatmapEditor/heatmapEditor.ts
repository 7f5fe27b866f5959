import path from 'node:path';
import * as vscode from 'vscode';
import {
  type HeatmapEditorToHost,
  type HeatmapExperiment,
  type HeatmapRun,
  type HostToHeatmapEditor,
  heatmapEditorToHost,
  hostToHeatmapEditor,
} from '../../shared/protocol/heatmapEditor';
import { commandDefinitions, contextKeys } from '../manifest/commandIds';
import { heatmapEditorViewType } from '../manifest/contributions';
import type { RunCatalog } from '../runs/runCatalog';
import type { RunController } from '../runs/runController';
import { onRunsChanged } from '../runs/runsChanged';
import { completeWalkthroughStep } from '../walkthrough/walkthrough';
import { HostedWebview } from '../webview/hostedWebview';
import type { WebviewProtocol } from '../webview/webviewBridge';
import type { EngineService } from '../workers/engineService';
import { type ExperimentDataRoot, experimentsHoldingImage, latestTrainedRun } from './imageExperiments';

export interface HeatmapEditorDependencies {
  extensionUri: vscode.Uri;
  engine: EngineService;
  catalog: RunCatalog;
  controller: RunController;
  output: vscode.LogOutputChannel;
}

/** How often run changes (every logged step of a live run) are looked at, at most. */
const changeIntervalMs = 500;

const heatmapEditorProtocol: WebviewProtocol<HeatmapEditorToHost, HostToHeatmapEditor> = {
  name: 'Heatmap editor',
  toHost: heatmapEditorToHost,
  toWebview: hostToHeatmapEditor,
};

/**
 * "SynthPair: Heatmap", offered by Open With on the images of a data set: the image with the Grad-CAM of the
 * latest checkpoint of the experiment whose `data.root` holds it. The worker computes the maps; the webview
 * only draws them and keeps its view settings in its state, so VS Code can resolve the editor again after a
 * reload without the webview being kept alive while hidden.
 */
export class HeatmapEditorProvider implements vscode.CustomReadonlyEditorProvider {
  static readonly viewType = heatmapEditorViewType;
  private readonly open = new Set<HeatmapEditor>();
  /** The catalog's first read, awaited once: an editor restored at start-up may resolve before it is done. */
  private catalogRead: Promise<void> | undefined;

  constructor(private readonly dependencies: HeatmapEditorDependencies) {}

  static register(dependencies: HeatmapEditorDependencies): {
    provider: HeatmapEditorProvider;
    registration: vscode.Disposable;
  } {
    const provider = new HeatmapEditorProvider(dependencies);
    const registration = vscode.window.registerCustomEditorProvider(
      HeatmapEditorProvider.viewType,
      provider,
      {
        supportsMultipleEditorsPerDocument: true,
      },
    );
    return { provider, registration };
  }

  /** The editors open now, newest last; tests observe their messages. */
  get editors(): readonly HeatmapEditor[] {
    return [...this.open];
  }

  openCustomDocument(uri: vscode.Uri): vscode.CustomDocument {
    return { uri, dispose: () => undefined };
  }

  async resolveCustomEditor(document: vscode.CustomDocument, panel: vscode.WebviewPanel): Promise<void> {
    this.catalogRead ??= this.dependencies.catalog.refresh();
    const editor = new HeatmapEditor(document.uri, panel, this.dependencies, this.catalogRead);
    this.open.add(editor);
    panel.onDidDispose(() => this.open.delete(editor));
    completeWalkthroughStep(contextKeys.walkthroughHeatmapOpened);
  }
}

/** One open heat-map editor: finds the experiment and run for its image and asks the worker for the maps. */
export class HeatmapEditor extends HostedWebview<HeatmapEditorToHost, HostToHeatmapEditor> {
  private ready = false;
  /** The experiment the webview asked for, when several hold the image. */
  private preferred: string | undefined;
  /** What was last shown or asked of the worker, so unchanged runs do not recompute. */
  private shownKey = '';
  private refreshing: Promise<void> = Promise.resolve();
  private refreshQueued = false;
  private forceNext = false;

  constructor(
    readonly uri: vscode.Uri,
    panel: vscode.WebviewPanel,
    private readonly dependencies: HeatmapEditorDependencies,
    private readonly catalogRead: Promise<void>,
  ) {
    super(panel, {
      protocol: heatmapEditorProtocol,
      extensionUri: dependencies.extensionUri,
      output: dependencies.output,
      bundle: 'heatmapEditor',
      title: `SynthPair: Heatmap of ${path.basename(uri.fsPath)}`,
    });
    const changes = onRunsChanged(
      dependencies.catalog,
      dependencies.controller,
      () => this.refresh(false),
      changeIntervalMs,
    );
    this.disposables.push(
      changes,
      vscode.workspace.onDidGrantWorkspaceTrust(() => this.refresh(false)),
    );
  }

  get imageFile(): string {
    return this.uri.fsPath;
  }

  protected async handle(message: HeatmapEditorToHost): Promise<void> {
    switch (message.type) {
      case 'ready':
        this.preferred = message.configFile ?? undefined;
        await this.catalogRead;
        this.ready = true;
        this.refresh(true);
        return;
      case 'selectExperiment':
        this.preferred = message.configFile;
        this.refresh(true);
        return;
      case 'retry':
        this.refresh(true);
        return;
      case 'runExperiment':
        await vscode.commands.executeCommand(
          commandDefinitions.runExperiment.id,
          vscode.Uri.file(message.configFile),
        );
        return;
      case 'openExperiment':
        await vscode.window.showTextDocument(vscode.Uri.file(message.configFile), {
          viewColumn: vscode.ViewColumn.Beside,
        });
        return;
    }
  }

  /**
   * Brings the webview up to date, one update at a time: the changes that arrive meanwhile are folded into
   * a single update after it, so answers never arrive out of order. `force` draws again even when the run's
   * checkpoint has not changed (a retry, another experiment, a reloaded page).
   */
  private refresh(force: boolean): void {
    if (!this.ready) return;
    this.forceNext ||= force;
    if (this.refreshQueued) return;
    this.refreshQueued = true;
    this.refreshing = this.refreshing.then(async () => {
      this.refreshQueued = false;
      const forced = this.forceNext;
      this.forceNext = false;
      try {
        await this.update(forced);
      } catch (error) {
        this.dependencies.output.error(`Heatmap editor: ${(error as Error).message}`);
      }
    });
  }

  private async update(force: boolean): Promise<void> {
    const { catalog, controller, engine } = this.dependencies;
    const image = vscode.workspace.asRelativePath(this.uri);
    const holders = await experimentsHoldingImage(this.imageFile, catalog.configs);
    if (holders.length === 0) {
      await this.show('noExperiment', { type: 'noExperiment', image }, force);
      return;
    }
    const experiments = holders.map(({ configFile }) => experimentOf(configFile));
    const chosen = await this.choose(holders);
    const about = { image, experiment: experimentOf(chosen.configFile), experiments };
    const trained = await latestTrainedRun(catalog.runs, chosen.configFile);
    if (!trained) {
      const training =
        controller.busyConfigs().includes(chosen.configFile) ||
        catalog.runs.some((run) => run.status.configFile === chosen.configFile && run.livePid !== undefined);
      const canRun = vscode.workspace.isTrusted;
      await this.show(
        `noRun|${chosen.configFile}|${training}|${canRun}|${experiments.length}`,
        { type: 'noRun', ...about, canRun, training },
        force,
      );
      return;
    }
    const { run: summary, checkpoint } = trained;
    const run: HeatmapRun = {
      runDir: summary.dir,
      label: path.basename(summary.dir),
      state: summary.state,
      live: summary.livePid !== undefined,
    };
    const key = `heatmap|${chosen.configFile}|${summary.dir}|${checkpoint}|${run.live}|${experiments.length}`;
    if (!force && key === this.shownKey) return;
    this.shownKey = key;
    await this.post({ type: 'computing', ...about, run });
    try {
      const heatmap = await engine.imageHeatmap({ runDir: summary.dir, imageFile: this.imageFile });
      await this.post({ type: 'heatmap', ...about, run, heatmap });
    } catch (error) {
      // The key stays: asked again once the run has another checkpoint, or when the person retries.
      await this.post({ type: 'error', ...about, run, message: (error as Error).message });
    }
  }

  /** The experiment the webview asked for, else the one whose newest trained run is the newest. */
  private async choose(holders: readonly ExperimentDataRoot[]): Promise<ExperimentDataRoot> {
    const preferred = holders.find(({ configFile }) => configFile === this.preferred);
    if (preferred) return preferred;
    const { runs } = this.dependencies.catalog;
    for (const run of runs) {
      const holder = holders.find(({ configFile }) => configFile === run.status.configFile);
      if (holder && (await latestTrainedRun([run], holder.configFile))) return holder;
    }
    return holders[0]!;
  }

  private async show(key: string, message: HostToHeatmapEditor, force: boolean): Promise<void> {
    if (!force && key === this.shownKey) return;
    this.shownKey = key;
    await this.post(message);
  }
}

function experimentOf(configFile: string): HeatmapExperiment {
  return { configFile, label: vscode.workspace.asRelativePath(configFile) };
}
