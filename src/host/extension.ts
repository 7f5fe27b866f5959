import * as vscode from 'vscode';
import { experimentFileGlob } from '../shared/config/experiment/choices';
import { studyFileGlob } from '../shared/config/study/definitions';
import { registerOpenDashboardCommand } from './dashboard/dashboardCommands';
import { type DashboardDependencies, DashboardPanel } from './dashboard/dashboardPanel';
import { ExperimentCodeLensProvider } from './experimentFile/codeLens';
import { registerConfigDiagnostics } from './experimentFile/configDiagnostics';
import { ProbeHoverProvider } from './experimentFile/probeHover';
import { type HeatmapEditor, HeatmapEditorProvider } from './heatmapEditor/heatmapEditor';
import { contextKeys } from './manifest/commandIds';
import { runsViewId } from './manifest/contributions';
import { registerNewExperimentCommand } from './newExperiment/newExperimentCommand';
import { showErrorWithOutput } from './output';
import { RunCatalog } from './runs/runCatalog';
import { registerRunCommands } from './runs/runCommands';
import { RunController } from './runs/runController';
import { RunsTreeProvider } from './runs/runsTree';
import { TrainingStatusBar } from './runs/trainingStatus';
import { readRunSettings, readWorkerLaunchOptions } from './settings/readSettings';
import { StudyCatalog } from './studies/studyCatalog';
import { StudyCli } from './studies/studyCli';
import { StudyCodeLensProvider } from './studies/studyCodeLens';
import { registerStudyCommands } from './studies/studyCommands';
import { StudyDiagnostics } from './studies/studyDiagnostics';
import { StudyPanel, type StudyPanelDependencies } from './studies/studyPanel';
import { completeWalkthroughStep, openWalkthroughOnce } from './walkthrough/walkthrough';
import { registerBackendInfoCommand } from './workers/backendInfoCommand';
import { EngineService } from './workers/engineService';

/** What `activate` returns: the services other extensions and the integration tests talk to. */
export interface SynthPairApi {
  engine: EngineService;
  controller: RunController;
  catalog: RunCatalog;
  runsTree: RunsTreeProvider;
  statusBar: TrainingStatusBar;
  currentDashboard(): DashboardPanel | undefined;
  /** The open SynthPair: Heatmap editors, oldest first. */
  heatmapEditors(): readonly HeatmapEditor[];
  output: vscode.LogOutputChannel;
  /** The workspace's study files and their trials, and the `synthpair study` processes this window runs. */
  studies: StudyCatalog;
  studyCli: StudyCli;
  /** Where the output of `synthpair study` goes. */
  studyOutput: vscode.LogOutputChannel;
  /** The open study panel of a study file. */
  studyPanel(studyFile: string): StudyPanel | undefined;
  /** How long `activate` took, as the output channel reports it. */
  activationMs: number;
}

let stopRuns: (() => Promise<void>) | undefined;
let stopStudies: (() => Promise<void>) | undefined;

export function activate(context: vscode.ExtensionContext): SynthPairApi {
  const activationStarted = performance.now();
  const output = vscode.window.createOutputChannel('SynthPair', { log: true });
  const workerScript = vscode.Uri.joinPath(context.extensionUri, 'dist', 'worker.js').fsPath;
  const launchOptions = () => readWorkerLaunchOptions(context.extensionUri, output);
  const engine = new EngineService({
    workerScript,
    launchOptions,
    log: (level, message) => output[level === 'debug' ? 'debug' : level](`worker: ${message}`),
  });
  engine.on('crashed', (error) => {
    output.error(`${error.message}. Last output of the worker:\n${error.lastLines.join('\n') || '(none)'}`);
    const tail = error.lastLines.slice(-3).join(' | ');
    void showErrorWithOutput(`${error.message}.${tail ? ` Last output: ${tail}` : ''}`, output);
  });

  const controller = new RunController({
    workerScript,
    launchOptions,
    runtime: () => {
      const settings = readRunSettings();
      return {
        concurrency: settings.concurrency,
        heapMb: settings.workerMemoryMb,
        ...(settings.nodeExecutable ? { execPath: settings.nodeExecutable } : {}),
      };
    },
    log: (level, message) => output[level === 'debug' ? 'debug' : level](message),
  });
  stopRuns = () => controller.dispose();
  const catalog = new RunCatalog();
  const studies = new StudyCatalog();
  // The trials are runs too: the catalog reads their folders, so the dashboard can show them.
  const studyFolders = studies.onDidChange(() => catalog.setStudyFolders(studies.studyFolders()));
  const studyOutput = vscode.window.createOutputChannel('SynthPair Studies', { log: true });
  const studyCli = new StudyCli({
    cliScript: vscode.Uri.joinPath(context.extensionUri, 'dist', 'cli.js').fsPath,
    launch: () => {
      const { backend } = launchOptions();
      // The Node that runs the workers runs the CLI and so the trials it starts.
      const node = readRunSettings().nodeExecutable || process.execPath;
      return { node, ...(backend === 'auto' ? {} : { backend }) };
    },
    log: (level, message) => studyOutput[level](message),
  });
  stopStudies = () => studyCli.dispose();
  const runsTree = new RunsTreeProvider(catalog, controller, studies);
  const treeView = vscode.window.createTreeView(runsViewId, {
    treeDataProvider: runsTree,
    canSelectMany: true,
    showCollapseAll: true,
  });
  const statusBar = new TrainingStatusBar(controller);
  const codeLens = new ExperimentCodeLensProvider(catalog, controller);
  const studyCodeLens = new StudyCodeLensProvider(studies);
  // 'changed' fires with every step; the context key and the badge change only when runs start or end.
  let busy = '';
  controller.on('changed', () => {
    if (controller.running.some((run) => run.progress !== undefined)) {
      completeWalkthroughStep(contextKeys.walkthroughTrained);
    }
    const configs = controller.busyConfigs();
    const training = controller.running.length;
    const key = `${training}|${configs.join('|')}`;
    if (key === busy) return;
    busy = key;
    void vscode.commands.executeCommand('setContext', contextKeys.busyConfigs, configs);
    treeView.badge = training > 0 ? { value: training, tooltip: `${training} training` } : undefined;
  });

  const webviewDependencies: DashboardDependencies = {
    extensionUri: context.extensionUri,
    engine,
    catalog,
    controller,
    output,
  };
  const heatmapEditors = HeatmapEditorProvider.register(webviewDependencies);
  const studyPanelDependencies: StudyPanelDependencies = {
    extensionUri: context.extensionUri,
    studies,
    output,
  };
  context.subscriptions.push(
    output,
    { dispose: () => engine.dispose() },
    catalog,
    runsTree,
    treeView,
    statusBar,
    codeLens,
    vscode.languages.registerCodeLensProvider({ pattern: experimentFileGlob }, codeLens),
    registerOpenDashboardCommand(webviewDependencies),
    DashboardPanel.registerSerializer(webviewDependencies),
    registerBackendInfoCommand(engine, output),
    ...registerRunCommands({ catalog, controller, output }),
    registerNewExperimentCommand(output),
    registerConfigDiagnostics(engine, { log: (message) => output.warn(message) }),
    heatmapEditors.registration,
    vscode.languages.registerHoverProvider({ pattern: experimentFileGlob }, new ProbeHoverProvider(catalog)),
    studies,
    studyFolders,
    studyOutput,
    studyCodeLens,
    vscode.languages.registerCodeLensProvider({ pattern: studyFileGlob }, studyCodeLens),
    new StudyDiagnostics(),
    StudyPanel.registerSerializer(studyPanelDependencies),
    ...registerStudyCommands({
      studies,
      cli: studyCli,
      output: studyOutput,
      openPanel: (studyFile) => StudyPanel.createOrShow(studyPanelDependencies, studyFile),
    }),
  );
  const activationMs = performance.now() - activationStarted;
  output.info(`activated in ${activationMs.toFixed(1)} ms`);
  openWalkthroughOnce(context).then(
    (opened) => {
      if (opened) output.info('opened the Get Started walkthrough (once for this user)');
    },
    (error: unknown) => output.warn(`could not open the Get Started walkthrough: ${String(error)}`),
  );
  return {
    activationMs,
    engine,
    controller,
    catalog,
    runsTree,
    statusBar,
    currentDashboard: () => DashboardPanel.current,
    heatmapEditors: () => heatmapEditors.provider.editors,
    output,
    studies,
    studyCli,
    studyOutput,
    studyPanel: (studyFile) => StudyPanel.of(studyFile),
  };
}

/**
 * Runs stop after their step and record `stopped`, so closing the window never leaves a run to repair; so do
 * the trials of the local studies this window started, which Run Study resumes.
 */
export async function deactivate(): Promise<void> {
  await Promise.all([stopRuns?.(), stopStudies?.()]);
}
