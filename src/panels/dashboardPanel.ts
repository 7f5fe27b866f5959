import * as vscode from 'vscode';
import { toWireError } from '../protocol/errors';
import { describeForLog, validateMessage } from '../protocol/validate';
import {
  type DashboardToHost,
  dashboardToHost,
  type HostToDashboard,
  hostToDashboard,
  type WorkerState,
} from '../protocol/webview';
import type { EngineService } from '../workerHost/engineService';
import { renderWebviewHtml } from './webviewHtml';

export interface DashboardDependencies {
  extensionUri: vscode.Uri;
  engine: EngineService;
  output: vscode.LogOutputChannel;
}

/**
 * The dashboard webview: one panel per window, revived by its serializer after a reload. It owns no data
 * of its own; everything it shows comes from the engine service, and its UI state lives in the webview.
 */
export class DashboardPanel implements vscode.Disposable {
  static readonly viewType = 'synthpair.dashboard';
  private static currentPanel: DashboardPanel | undefined;

  private readonly disposables: vscode.Disposable[] = [];
  private readonly received = new vscode.EventEmitter<DashboardToHost>();
  private readonly posted = new vscode.EventEmitter<HostToDashboard>();
  /** Messages from the webview that passed validation; tests observe the conversation through these. */
  readonly onDidReceiveMessage = this.received.event;
  readonly onDidPostMessage = this.posted.event;

  static get current(): DashboardPanel | undefined {
    return DashboardPanel.currentPanel;
  }

  static createOrShow(dependencies: DashboardDependencies): DashboardPanel {
    const column = vscode.window.activeTextEditor ? vscode.ViewColumn.Beside : vscode.ViewColumn.One;
    if (DashboardPanel.currentPanel) {
      DashboardPanel.currentPanel.panel.reveal(column);
      return DashboardPanel.currentPanel;
    }
    const panel = vscode.window.createWebviewPanel(
      DashboardPanel.viewType,
      'SynthPair Dashboard',
      column,
      DashboardPanel.webviewOptions(dependencies.extensionUri),
    );
    return new DashboardPanel(panel, dependencies);
  }

  static revive(panel: vscode.WebviewPanel, dependencies: DashboardDependencies): DashboardPanel {
    DashboardPanel.currentPanel?.dispose();
    panel.webview.options = DashboardPanel.webviewOptions(dependencies.extensionUri);
    return new DashboardPanel(panel, dependencies);
  }

  private static webviewOptions(
    extensionUri: vscode.Uri,
  ): vscode.WebviewOptions & vscode.WebviewPanelOptions {
    return {
      enableScripts: true,
      localResourceRoots: [
        vscode.Uri.joinPath(extensionUri, 'dist', 'webview'),
        vscode.Uri.joinPath(extensionUri, 'media'),
      ],
    };
  }

  private constructor(
    readonly panel: vscode.WebviewPanel,
    private readonly dependencies: DashboardDependencies,
  ) {
    DashboardPanel.currentPanel = this;
    panel.iconPath = vscode.Uri.joinPath(dependencies.extensionUri, 'media', 'icon.png');
    panel.webview.html = this.html();
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      panel.webview.onDidReceiveMessage((raw: unknown) => this.onMessage(raw)),
      this.received,
      this.posted,
    );
    const onState = (state: WorkerState, detail?: string) =>
      void this.post({ type: 'workerState', state, ...(detail ? { detail } : {}) });
    dependencies.engine.on('state', onState);
    this.disposables.push({ dispose: () => dependencies.engine.off('state', onState) });
  }

  dispose(): void {
    if (DashboardPanel.currentPanel === this) {
      DashboardPanel.currentPanel = undefined;
    }
    this.panel.dispose();
    for (const disposable of this.disposables.splice(0)) {
      disposable.dispose();
    }
  }

  private html(): string {
    const webview = this.panel.webview;
    const asset = (...segments: string[]) =>
      webview.asWebviewUri(vscode.Uri.joinPath(this.dependencies.extensionUri, ...segments)).toString();
    return renderWebviewHtml({
      title: 'SynthPair Dashboard',
      cspSource: webview.cspSource,
      scriptUri: asset('dist', 'webview', 'dashboard.js'),
      styleUris: [asset('media', 'webview.css')],
    });
  }

  private async onMessage(raw: unknown): Promise<void> {
    const message = validateMessage(dashboardToHost, raw);
    if (!message.ok) {
      this.dependencies.output.warn(
        `Dashboard: refused malformed message (${message.reason}): ${describeForLog(raw)}`,
      );
      return;
    }
    this.received.fire(message.value);
    switch (message.value.type) {
      case 'ready':
        await this.post({ type: 'workerState', state: this.dependencies.engine.state });
        await this.sendBackendReport(false);
        return;
      case 'refreshBackend':
        await this.sendBackendReport(true);
        return;
      case 'showOutput':
        this.dependencies.output.show(true);
        return;
    }
  }

  private async sendBackendReport(restart: boolean): Promise<void> {
    try {
      const report = await this.dependencies.engine.backendReport({ restart });
      await this.post({ type: 'backendReport', report });
    } catch (error) {
      await this.post({ type: 'backendError', error: toWireError(error) });
    }
  }

  private async post(message: HostToDashboard): Promise<void> {
    // Validating our own messages keeps the webview's contract honest when either side changes.
    const checked = validateMessage(hostToDashboard, message);
    if (!checked.ok) {
      this.dependencies.output.error(`Dashboard: not sending an invalid message (${checked.reason})`);
      return;
    }
    this.posted.fire(checked.value);
    await this.panel.webview.postMessage(checked.value);
  }
}
