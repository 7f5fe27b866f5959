import * as vscode from 'vscode';
import { isExperimentFileName } from '../../shared/config/experiment/choices';
import type { ConfigDiagnosticMessage, WorkerParams, WorkerResult } from '../../shared/protocol/worker';

/** Who answers `diagnoseConfig`: the EngineService in the extension, a fake in tests. */
export interface ConfigDiagnosticsEngine {
  diagnoseConfig(params: WorkerParams<'diagnoseConfig'>): Promise<WorkerResult<'diagnoseConfig'>>;
}

export interface ConfigDiagnosticsOptions {
  /** Quiet time after the last edit before the worker is asked. */
  debounceMs?: number;
  /** Told when the worker could not answer; the document's old diagnostics are cleared then. */
  log?: (message: string) => void;
}

const severities: Record<ConfigDiagnosticMessage['severity'], vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
  information: vscode.DiagnosticSeverity.Information,
};

interface DocumentState {
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Counts the requests made for the document; only the answer to the newest is shown. */
  generation: number;
}

/**
 * Shows the engine worker's diagnostics of open `*.synthpair.json` files: those the JSON schema cannot
 * express, such as a data.root without images or a batch larger than the training split. The worker does
 * the work, since listing a data set walks folders and the extension host must stay responsive.
 */
export class ConfigDiagnostics implements vscode.Disposable {
  private readonly collection = vscode.languages.createDiagnosticCollection('synthpair');
  private readonly documents = new Map<string, DocumentState>();
  private readonly subscriptions: vscode.Disposable[];
  private readonly debounceMs: number;

  constructor(
    private readonly engine: ConfigDiagnosticsEngine,
    private readonly options: ConfigDiagnosticsOptions = {},
  ) {
    this.debounceMs = options.debounceMs ?? 300;
    this.subscriptions = [
      vscode.workspace.onDidOpenTextDocument((document) => this.schedule(document, 0)),
      vscode.workspace.onDidChangeTextDocument(({ document, contentChanges }) => {
        // A change of the dirty flag alone fires this too, with nothing new to check.
        if (contentChanges.length > 0) this.schedule(document, this.debounceMs);
      }),
      // The data set may have changed on disk since; saving is the natural moment to look again.
      vscode.workspace.onDidSaveTextDocument((document) => this.schedule(document, 0)),
      vscode.workspace.onDidCloseTextDocument((document) => this.forget(document.uri)),
    ];
    // Documents restored with the window were opened before this listened.
    for (const document of vscode.workspace.textDocuments) this.schedule(document, 0);
  }

  dispose(): void {
    for (const subscription of this.subscriptions) subscription.dispose();
    for (const state of this.documents.values()) clearTimeout(state.timer);
    this.documents.clear();
    this.collection.dispose();
  }

  private schedule(document: vscode.TextDocument, delayMs: number): void {
    // Other schemes (a diff's git: side, a remote file) are copies of a file or not files at all.
    if (document.uri.scheme !== 'file' || !isExperimentFileName(document.fileName)) return;
    const key = document.uri.toString();
    const state = this.documents.get(key) ?? { timer: undefined, generation: 0 };
    this.documents.set(key, state);
    clearTimeout(state.timer);
    state.timer = setTimeout(() => void this.diagnose(document, state), delayMs);
  }

  private async diagnose(document: vscode.TextDocument, state: DocumentState): Promise<void> {
    state.timer = undefined;
    const generation = ++state.generation;
    // A closed document's state is dropped, and one reopened since has a new state: either way this
    // answer is no longer wanted, as is one overtaken by a newer request.
    const current = () =>
      this.documents.get(document.uri.toString()) === state && state.generation === generation;
    try {
      const diagnostics = await this.engine.diagnoseConfig({
        configFile: document.fileName,
        text: document.getText(),
      });
      if (current()) this.collection.set(document.uri, diagnostics.map(toDiagnostic));
    } catch (error) {
      if (!current()) return;
      this.collection.delete(document.uri);
      this.options.log?.(
        `${document.fileName}: could not be checked: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  private forget(uri: vscode.Uri): void {
    const key = uri.toString();
    clearTimeout(this.documents.get(key)?.timer);
    this.documents.delete(key);
    this.collection.delete(uri);
  }
}

function toDiagnostic(message: ConfigDiagnosticMessage): vscode.Diagnostic {
  const { start, end } = message.range ?? {
    start: { line: 0, character: 0 },
    end: { line: 0, character: 0 },
  };
  const diagnostic = new vscode.Diagnostic(
    new vscode.Range(start.line, start.character, end.line, end.character),
    message.message,
    severities[message.severity],
  );
  diagnostic.source = 'SynthPair';
  if (message.keyPath) diagnostic.code = message.keyPath;
  return diagnostic;
}

/** Starts the diagnostics of experiment files; dispose to stop them and clear what they show. */
export function registerConfigDiagnostics(
  engine: ConfigDiagnosticsEngine,
  options?: ConfigDiagnosticsOptions,
): vscode.Disposable {
  return new ConfigDiagnostics(engine, options);
}
