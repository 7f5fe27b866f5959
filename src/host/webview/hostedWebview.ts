import path from 'node:path';
import * as vscode from 'vscode';
import { WebviewBridge, type WebviewProtocol } from './webviewBridge';
import { renderWebviewHtml } from './webviewHtml';

export interface HostedWebviewOptions<ToHost, ToWebview> {
  protocol: WebviewProtocol<ToHost, ToWebview>;
  extensionUri: vscode.Uri;
  output: vscode.LogOutputChannel;
  /** The webview's entry point in scripts/build.mjs, built into dist/webview with the CSS its imports emit. */
  bundle: 'dashboard' | 'heatmapEditor' | 'study';
  /** The page's title, which screen readers announce; the tab's title is the panel's. */
  title: string;
  /** Folders the webview may load files from besides the extension's scripts and styles. */
  resourceRoots?: readonly vscode.Uri[];
}

/**
 * A SynthPair webview in a panel, the dashboard's or a custom editor's: it runs only its own bundle under a
 * policy that allows no inline or remote code, reads only the folders it is given, and exchanges with the
 * host only the messages its protocol allows, either way.
 */
export abstract class HostedWebview<ToHost extends { type: string }, ToWebview extends { type: string }>
  implements vscode.Disposable
{
  protected readonly disposables: vscode.Disposable[] = [];
  private readonly received = new vscode.EventEmitter<ToHost>();
  private readonly posted = new vscode.EventEmitter<ToWebview>();
  /** Messages from the webview that passed validation, and those sent to it; tests observe both. */
  readonly onDidReceiveMessage = this.received.event;
  readonly onDidPostMessage = this.posted.event;
  private readonly bridge: WebviewBridge<ToHost, ToWebview>;

  protected constructor(
    readonly panel: vscode.WebviewPanel,
    options: HostedWebviewOptions<ToHost, ToWebview>,
  ) {
    const { extensionUri, bundle } = options;
    const webview = panel.webview;
    webview.options = {
      enableScripts: true,
      localResourceRoots: [
        vscode.Uri.joinPath(extensionUri, 'dist', 'webview'),
        vscode.Uri.joinPath(extensionUri, 'media'),
        ...(options.resourceRoots ?? []),
      ],
    };
    panel.iconPath = vscode.Uri.joinPath(extensionUri, 'media', 'icon.png');
    const asset = (...segments: string[]) =>
      webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, ...segments)).toString();
    webview.html = renderWebviewHtml({
      title: options.title,
      cspSource: webview.cspSource,
      scriptUri: asset('dist', 'webview', `${bundle}.js`),
      styleUris: [asset('media', 'webview.css'), asset('dist', 'webview', `${bundle}.css`)],
    });
    this.bridge = new WebviewBridge(options.protocol, {
      deliver: (message) => webview.postMessage(message),
      handle: (message) => this.handle(message),
      received: (message) => this.received.fire(message),
      posted: (message) => this.posted.fire(message),
      log: options.output,
    });
    this.disposables.push(
      panel.onDidDispose(() => this.dispose()),
      webview.onDidReceiveMessage((raw: unknown) => void this.bridge.receive(raw)),
      this.received,
      this.posted,
    );
  }

  /** The message last sent to the webview. */
  get lastPosted(): ToWebview | undefined {
    return this.bridge.lastPosted;
  }

  dispose(): void {
    this.panel.dispose();
    for (const disposable of this.disposables.splice(0)) disposable.dispose();
  }

  /** Acts on a message from the webview that the protocol allows; a failure is logged. */
  protected abstract handle(message: ToHost): Promise<void>;

  protected post(message: ToWebview): Promise<void> {
    return this.bridge.post(message);
  }

  /** Lets the webview load files below `folder` too, such as a run folder outside the workspace. */
  protected allowResourcesOf(folder: string): void {
    const options = this.panel.webview.options;
    const roots = options.localResourceRoots ?? [];
    if (roots.some((root) => isInside(folder, root.fsPath))) return;
    this.panel.webview.options = { ...options, localResourceRoots: [...roots, vscode.Uri.file(folder)] };
  }
}

function isInside(file: string, folder: string): boolean {
  const relative = path.relative(folder, file);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}
