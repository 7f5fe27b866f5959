import * as vscode from 'vscode';
import type { ConfigDiagnostic } from '../../shared/config/experiment/parse';
import { isStudyFileName } from '../../shared/config/study/definitions';
import { parseStudyFile } from '../../shared/config/study/parse';

const severities: Record<ConfigDiagnostic['severity'], vscode.DiagnosticSeverity> = {
  error: vscode.DiagnosticSeverity.Error,
  warning: vscode.DiagnosticSeverity.Warning,
};

/**
 * Underlines what the JSON schema cannot say of an open `*.study.json`: two conditions of one name, a second
 * baseline, a key in `set` that the experiment does not have. The parser is the CLI's, so the editor and
 * `study run` report the same problems; it is quick enough to run in the extension host after each edit.
 */
export class StudyDiagnostics implements vscode.Disposable {
  private readonly collection = vscode.languages.createDiagnosticCollection('synthpair-study');
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly subscriptions: vscode.Disposable[];

  constructor(private readonly debounceMs = 200) {
    this.subscriptions = [
      vscode.workspace.onDidOpenTextDocument((document) => this.schedule(document, 0)),
      vscode.workspace.onDidChangeTextDocument(({ document, contentChanges }) => {
        if (contentChanges.length > 0) this.schedule(document, this.debounceMs);
      }),
      vscode.workspace.onDidCloseTextDocument((document) => this.forget(document.uri)),
    ];
    for (const document of vscode.workspace.textDocuments) this.schedule(document, 0);
  }

  dispose(): void {
    for (const subscription of this.subscriptions) subscription.dispose();
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.collection.dispose();
  }

  private schedule(document: vscode.TextDocument, delayMs: number): void {
    if (document.uri.scheme !== 'file' || !isStudyFileName(document.fileName)) return;
    const key = document.uri.toString();
    clearTimeout(this.timers.get(key));
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        this.collection.set(document.uri, diagnosticsOf(document));
      }, delayMs),
    );
  }

  private forget(uri: vscode.Uri): void {
    const key = uri.toString();
    clearTimeout(this.timers.get(key));
    this.timers.delete(key);
    this.collection.delete(uri);
  }
}

/** The parser's diagnostics, less the syntax errors, which VS Code's JSON language service reports itself. */
export function diagnosticsOf(document: vscode.TextDocument): vscode.Diagnostic[] {
  const { diagnostics } = parseStudyFile(document.getText());
  const isSyntaxError = (found: ConfigDiagnostic) =>
    found.path === '' && found.message.startsWith('not valid JSON');
  return diagnostics
    .filter((found) => !isSyntaxError(found))
    .map((found) => {
      const start = document.positionAt(found.offset);
      const end = document.positionAt(found.offset + found.length);
      const diagnostic = new vscode.Diagnostic(
        new vscode.Range(start, end),
        found.message,
        severities[found.severity],
      );
      diagnostic.source = 'SynthPair';
      if (found.path) diagnostic.code = found.path;
      return diagnostic;
    });
}
