import path from 'node:path';
import * as vscode from 'vscode';
import * as z from 'zod/mini';
import { studyFileSuffix } from '../../shared/config/study/definitions';
import {
  type HostToStudyPanel,
  hostToStudyPanel,
  type StudyPanelToHost,
  studyPanelToHost,
} from '../../shared/protocol/studyPanel';
import { validateMessage } from '../../shared/protocol/validate';
import { commandDefinitions } from '../manifest/commandIds';
import { HostedWebview } from '../webview/hostedWebview';
import type { WebviewProtocol } from '../webview/webviewBridge';
import { describeMissingRunFolder, hasRunFolder } from './describeStudy';
import type { StudyCatalog } from './studyCatalog';
import { studyPanelMessage } from './studyPanelMessage';
import type { StudyNode } from './studyTree';

export interface StudyPanelDependencies {
  extensionUri: vscode.Uri;
  studies: StudyCatalog;
  output: vscode.LogOutputChannel;
}

const studyPanelProtocol: WebviewProtocol<StudyPanelToHost, HostToStudyPanel> = {
  name: 'Study panel',
  toHost: studyPanelToHost,
  toWebview: hostToStudyPanel,
};

/** The webview keeps the last message it was sent as its state; every message names its study file. */
const revivedState = z.object({ studyFile: z.string() });

/**
 * A study's panel: its trials and its table, beside the study file. One panel per study file, which shows
 * that study only; it is sent the study again whenever the catalog reads a change of it.
 */
export class StudyPanel extends HostedWebview<StudyPanelToHost, HostToStudyPanel> {
  static readonly viewType = 'synthpair.study';
  private static readonly panels = new Map<string, StudyPanel>();
  private ready = false;
  private sent = '';

  /** The open panel of a study file. */
  static of(studyFile: string): StudyPanel | undefined {
    return StudyPanel.panels.get(studyFile);
  }

  static createOrShow(dependencies: StudyPanelDependencies, studyFile: string): StudyPanel {
    const open = StudyPanel.panels.get(studyFile);
    if (open) {
      open.panel.reveal(undefined, true);
      return open;
    }
    const panel = vscode.window.createWebviewPanel(StudyPanel.viewType, titleOf(studyFile), {
      viewColumn: vscode.ViewColumn.Beside,
      preserveFocus: true,
    });
    return new StudyPanel(panel, dependencies, studyFile);
  }

  /** Lets VS Code restore the panels after a reload, each on the study it showed. */
  static registerSerializer(dependencies: StudyPanelDependencies): vscode.Disposable {
    return vscode.window.registerWebviewPanelSerializer(StudyPanel.viewType, {
      deserializeWebviewPanel: async (panel, state: unknown) => {
        const checked = validateMessage(revivedState, state ?? {});
        if (!checked.ok || StudyPanel.panels.has(checked.value.studyFile)) {
          panel.dispose();
          return;
        }
        new StudyPanel(panel, dependencies, checked.value.studyFile);
      },
    });
  }

  private constructor(
    panel: vscode.WebviewPanel,
    private readonly dependencies: StudyPanelDependencies,
    readonly studyFile: string,
  ) {
    super(panel, {
      protocol: studyPanelProtocol,
      extensionUri: dependencies.extensionUri,
      output: dependencies.output,
      bundle: 'study',
      title: titleOf(studyFile),
    });
    StudyPanel.panels.set(studyFile, this);
    this.disposables.push(dependencies.studies.onDidChange(() => void this.sendStudy()));
  }

  override dispose(): void {
    if (StudyPanel.panels.get(this.studyFile) === this) StudyPanel.panels.delete(this.studyFile);
    super.dispose();
  }

  protected async handle(message: StudyPanelToHost): Promise<void> {
    const uri = vscode.Uri.file(this.studyFile);
    switch (message.type) {
      case 'ready':
        this.ready = true;
        // A reloaded webview has lost what it was sent.
        this.sent = '';
        await this.sendStudy();
        return;
      case 'runStudy':
        await vscode.commands.executeCommand(commandDefinitions.runStudy.id, uri);
        return;
      case 'cancelStudy':
        await vscode.commands.executeCommand(commandDefinitions.cancelStudy.id, uri);
        return;
      case 'exportTable':
        await vscode.commands.executeCommand(commandDefinitions.exportStudyTable.id, uri, message.format);
        return;
      case 'openTrial':
        await this.openTrial(message.trial);
        return;
      case 'openLog':
        await this.openLog(message.trial);
        return;
    }
  }

  private async sendStudy(): Promise<void> {
    if (!this.ready) return;
    const message = studyPanelMessage(this.studyFile, this.dependencies.studies.get(this.studyFile));
    // The catalog changes with any study; this panel is sent only what changed its own.
    const text = JSON.stringify(message);
    if (text === this.sent) return;
    this.sent = text;
    await this.post(message);
  }

  /** The trial as the Runs view's node of it, which the commands take. */
  private trialNode(id: string): Extract<StudyNode, { kind: 'trial' }> | undefined {
    const state = this.dependencies.studies.get(this.studyFile)?.state;
    const trial = state?.trials.find((candidate) => candidate.id === id);
    if (!state || !trial) return undefined;
    return { kind: 'trial', file: this.studyFile, trial, experimentFile: state.manifest.experimentFile };
  }

  private async openTrial(id: string): Promise<void> {
    const node = this.trialNode(id);
    if (!node) return;
    if (!hasRunFolder(node.trial)) {
      void vscode.window.showInformationMessage(`SynthPair: ${describeMissingRunFolder(node.trial)}.`);
      return;
    }
    await vscode.commands.executeCommand(commandDefinitions.openDashboard.id, node);
  }

  private async openLog(id: string): Promise<void> {
    const node = this.trialNode(id);
    // In the first group: the panel itself is beside the study file, and the log would cover it.
    if (node)
      await vscode.commands.executeCommand(commandDefinitions.openTrialLog.id, node, vscode.ViewColumn.One);
  }
}

function titleOf(studyFile: string): string {
  return `Study: ${path.basename(studyFile, studyFileSuffix)}`;
}
