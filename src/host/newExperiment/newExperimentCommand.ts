import path from 'node:path';
import * as vscode from 'vscode';
import { experimentFileSuffix } from '../../shared/config/experiment/choices';
import { commandDefinitions } from '../manifest/commandIds';
import {
  experimentNameProblem,
  NewExperimentError,
  planNewExperiment,
  writeNewExperiment,
} from './newExperiment';

/**
 * New Experiment: asks for a name, writes a commented `<name>.synthpair.json` into the workspace folder and,
 * when the workspace has no data a config points at, a small generated example dataset beside it; then opens
 * the file. Returns the config's path (for tests), or undefined when the user backed out.
 */
export function registerNewExperimentCommand(output: vscode.LogOutputChannel): vscode.Disposable {
  return vscode.commands.registerCommand(
    commandDefinitions.newExperiment.id,
    async (presetName?: string): Promise<string | undefined> => {
      const folders = vscode.workspace.workspaceFolders ?? [];
      if (folders.length === 0) {
        void vscode.window.showInformationMessage(
          'SynthPair: open a folder first; the experiment is written into it.',
        );
        return undefined;
      }
      const folder =
        folders.length === 1
          ? folders[0]
          : await vscode.window.showWorkspaceFolderPick({ placeHolder: 'Folder for the new experiment' });
      if (!folder) return undefined;
      const name =
        presetName ??
        (await vscode.window.showInputBox({
          title: 'SynthPair: New Experiment',
          prompt: `Name of the experiment: the file becomes <name>${experimentFileSuffix}`,
          value: 'experiment',
          validateInput: (value) => experimentNameProblem(value.trim()),
        }));
      if (name === undefined) return undefined;
      try {
        const plan = await planNewExperiment(folder.uri.fsPath, name.trim());
        const result = await vscode.window.withProgress(
          {
            location: vscode.ProgressLocation.Notification,
            title:
              plan.data.kind === 'example'
                ? `SynthPair: writing ${path.basename(plan.configPath)} and a generated example dataset`
                : `SynthPair: writing ${path.basename(plan.configPath)}`,
          },
          () => writeNewExperiment(plan),
        );
        output.info(`new experiment: ${result.written.join(', ')}`);
        await vscode.window.showTextDocument(vscode.Uri.file(result.configPath));
        const about =
          plan.data.kind === 'existing'
            ? `It trains on ${vscode.workspace.asRelativePath(plan.data.root)} (${plan.data.foundBy}).`
            : `It trains on a generated example dataset of ${result.dataset?.classes.length} species in ${vscode.workspace.asRelativePath(plan.data.root)} (CC0; see its README). Point data.root at your own images when you are ready.`;
        void vscode.window.showInformationMessage(
          `SynthPair: created ${path.basename(result.configPath)}. ${about}`,
        );
        return result.configPath;
      } catch (error) {
        if (error instanceof NewExperimentError) {
          void vscode.window.showErrorMessage(`SynthPair: ${error.message}`);
          return undefined;
        }
        throw error;
      }
    },
  );
}
