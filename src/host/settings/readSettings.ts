import * as vscode from 'vscode';
import { settingDefinitions, settingsSection } from '../../shared/config/settings';
import { backendPreference } from '../../shared/protocol/backend';
import type { WorkerLaunchOptions } from '../../shared/protocol/worker';

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

/** How training workers are run and where their runs go, as the settings say now. */
export interface RunSettings {
  concurrency: number;
  workerMemoryMb: number;
  /** Empty: the extension host's own runtime. */
  nodeExecutable: string;
  /** `synthpair.runsFolder` as written: relative paths are resolved against a workspace folder. */
  runsFolder: string;
}

export function readRunSettings(): RunSettings {
  const configuration = vscode.workspace.getConfiguration(settingsSection);
  const integer = (key: 'concurrency' | 'workerMemoryMb') => {
    const definition = settingDefinitions[key];
    const value = configuration.get<unknown>(key, definition.default);
    return typeof value === 'number' && Number.isInteger(value)
      ? Math.min(definition.maximum, Math.max(definition.minimum, value))
      : definition.default;
  };
  const text = (key: 'nodeExecutable' | 'runsFolder') => {
    const value = configuration.get<unknown>(key, settingDefinitions[key].default);
    return typeof value === 'string' ? value.trim() : settingDefinitions[key].default;
  };
  return {
    concurrency: integer('concurrency'),
    workerMemoryMb: integer('workerMemoryMb'),
    nodeExecutable: text('nodeExecutable'),
    runsFolder: text('runsFolder') || settingDefinitions.runsFolder.default,
  };
}

/** Whether SynthPair opens its walkthrough by itself on the first start in a workspace with an experiment. */
export function readShowWalkthrough(): boolean {
  const { default: fallback } = settingDefinitions.showWalkthrough;
  const value = vscode.workspace.getConfiguration(settingsSection).get<unknown>('showWalkthrough', fallback);
  return typeof value === 'boolean' ? value : fallback;
}
