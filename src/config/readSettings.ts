import * as vscode from 'vscode';
import { backendPreference } from '../protocol/backend';
import type { WorkerLaunchOptions } from '../protocol/worker';
import { settingDefinitions, settingsSection } from './settings';

export function readWorkerLaunchOptions(
  extensionUri: vscode.Uri,
  output: vscode.LogOutputChannel,
): WorkerLaunchOptions {
  const configuration = vscode.workspace.getConfiguration(settingsSection);
  const backend = backendPreference.safeParse(
    configuration.get('backend', settingDefinitions.backend.default),
  );
  if (!backend.success) {
    output.warn(
      `Setting ${settingsSection}.backend is not one of ${settingDefinitions.backend.enum.join(', ')}; using auto`,
    );
  }
  const paths = configuration.get<unknown>('nativeModulePaths', settingDefinitions.nativeModulePaths.default);
  return {
    backend: backend.success ? backend.data : 'auto',
    wasmDir: vscode.Uri.joinPath(extensionUri, 'dist', 'wasm').fsPath,
    nativeModulePaths: Array.isArray(paths)
      ? paths.filter((entry): entry is string => typeof entry === 'string')
      : [],
  };
}
