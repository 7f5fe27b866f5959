import * as vscode from 'vscode';
import { experimentFileGlob } from '../../shared/config/experiment/choices';
import type { contextKeys } from '../manifest/commandIds';
import { walkthroughId } from '../manifest/walkthrough';
import { readShowWalkthrough } from '../settings/readSettings';

/** The context keys the walkthrough's steps complete on: every one of SynthPair's but the busy experiments. */
export type WalkthroughStepKey = Exclude<
  (typeof contextKeys)[keyof typeof contextKeys],
  typeof contextKeys.busyConfigs
>;

const reached = new Set<WalkthroughStepKey>();

/**
 * Checks off a step of the first-run walkthrough: its completion event reads this context key. Once per
 * window, as the events that call it (every logged step, every painted grid) repeat.
 */
export function completeWalkthroughStep(key: WalkthroughStepKey): void {
  if (reached.has(key)) return;
  reached.add(key);
  void vscode.commands.executeCommand('setContext', key, true);
}

/** globalState key: the walkthrough opens by itself once per user, not once per window or workspace. */
const openedKey = 'walkthrough.opened';

/** Run folders and installed packages hold no experiment a person wrote. */
const notExperiments = '**/{node_modules,.synthpair}/**';

/**
 * On the first activation in a workspace that holds an experiment, opens that experiment (unless one is open
 * already) with the walkthrough beside it, which is where a new user starts. VS Code opens an extension's
 * walkthrough by itself only when the extension is installed from the gallery in that session. Its own
 * setting for that, `workbench.welcomePage.walkthroughs.openOnInstall`, is machine-scoped, so a remote
 * extension host (code-server, Remote-SSH) never sees the user's value: `synthpair.showWalkthrough` decides.
 */
export async function openWalkthroughOnce(context: vscode.ExtensionContext): Promise<boolean> {
  // Extension tests drive the workbench themselves.
  if (context.extensionMode === vscode.ExtensionMode.Test) return false;
  if (context.globalState.get<boolean>(openedKey)) return false;
  if (!readShowWalkthrough()) return false;
  const experiments = await vscode.workspace.findFiles(experimentFileGlob, notExperiments);
  if (experiments.length === 0) return false;
  // Remembered before opening anything, so a failure below cannot open it again at every start.
  await context.globalState.update(openedKey, true);
  const shown = vscode.window.visibleTextEditors.some((editor) =>
    experiments.some((file) => file.toString() === editor.document.uri.toString()),
  );
  if (!shown) {
    await vscode.window.showTextDocument(shallowestFirst(experiments)[0]!, {
      preview: false,
      viewColumn: vscode.ViewColumn.One,
    });
  }
  await vscode.commands.executeCommand(
    'workbench.action.openWalkthrough',
    `${context.extension.id}#${walkthroughId}`,
    true,
  );
  return true;
}

/** The experiment nearest the workspace root, then by path: the workspace's main one, chosen the same each time. */
function shallowestFirst(files: readonly vscode.Uri[]): vscode.Uri[] {
  const depth = (file: vscode.Uri) => file.path.split('/').length;
  return [...files].sort((a, b) => depth(a) - depth(b) || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
