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
import { type PretrainedStart, torchvisionImagenetWeights } from './template';

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
      // A preset name is a caller that wants the quick start without questions.
      const start =
        presetName === undefined ? await pickStart(folder.uri.fsPath) : { kind: 'random' as const };
      if (!start) return undefined;
      try {
        const plan = await planNewExperiment(
          folder.uri.fsPath,
          name.trim(),
          start.kind === 'pretrained' ? start.pretrained : undefined,
        );
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

type Start = { kind: 'random' } | { kind: 'pretrained'; pretrained: PretrainedStart };

/** What the new experiment's encoder starts from; undefined when the user backed out. */
async function pickStart(workspaceFolder: string): Promise<Start | undefined> {
  const choices: (vscode.QuickPickItem & { start: () => Promise<Start | undefined> })[] = [
    {
      label: '$(circle-outline) Random weights',
      detail: 'A small conv net at 48 px, SimCLR: trains on a laptop CPU in minutes. The quick start.',
      start: async () => ({ kind: 'random' }),
    },
    {
      label: '$(cloud-download) ImageNet-pretrained ResNet-50 (torchvision)',
      detail: "The paper's start: 224 px, MoCo v2, 100 epochs. 98 MB download; a day or more on a CPU.",
      start: async () => ({
        kind: 'pretrained',
        pretrained: { arch: 'resnet50', init: torchvisionImagenetWeights.resnet50 },
      }),
    },
    {
      label: '$(file) Weights file on this machine…',
      detail: ".pth, .pt or .safetensors of a ResNet-18 or ResNet-50 in torchvision's layout, at 224 px.",
      start: () => pickWeightsFile(workspaceFolder),
    },
  ];
  const chosen = await vscode.window.showQuickPick(choices, {
    title: 'SynthPair: New Experiment',
    placeHolder: 'Start the encoder from',
  });
  return chosen?.start();
}

async function pickWeightsFile(workspaceFolder: string): Promise<Start | undefined> {
  const [file] =
    (await vscode.window.showOpenDialog({
      title: 'Weights to start the encoder from',
      canSelectMany: false,
      filters: { 'PyTorch or safetensors weights': ['pth', 'pt', 'safetensors'] },
    })) ?? [];
  if (!file) return undefined;
  const arch = await vscode.window.showQuickPick(
    [
      { label: 'ResNet-50', arch: 'resnet50' as const },
      { label: 'ResNet-18', arch: 'resnet18' as const },
    ],
    {
      title: 'SynthPair: New Experiment',
      placeHolder: `The architecture ${path.basename(file.fsPath)} holds`,
    },
  );
  if (!arch) return undefined;
  // Relative to the config, which is written into the workspace folder, when the file is inside it.
  const relative = path.relative(workspaceFolder, file.fsPath);
  const init = relative.startsWith('..') || path.isAbsolute(relative) ? file.fsPath : relative;
  return { kind: 'pretrained', pretrained: { arch: arch.arch, init } };
}
