import * as vscode from 'vscode';

/** Shows an error whose details are in the SynthPair output channel, with a button that opens it. */
export async function showErrorWithOutput(message: string, output: vscode.OutputChannel): Promise<void> {
  const choice = await vscode.window.showErrorMessage(message, 'Show Output');
  if (choice === 'Show Output') {
    output.show();
  }
}
