import path from 'node:path';
import { selectBackend } from '../engine/backends/selectBackend';
import { DatasetError } from '../engine/data/datasets';
import { evaluateCheckpoint } from '../engine/training/evaluateCheckpoint';
import { ExperimentInputError, loadSavedConfig } from '../engine/training/experiment';
import type { ResolvedConfig } from '../shared/config/experiment/definitions';
import { overrideKey } from '../shared/config/experiment/parse';
import type { BackendPreference } from '../shared/protocol/backend';
import { describeEvaluation } from '../shared/runFolder/describe';
import { RunDirectory, RunDirectoryError } from '../shared/runFolder/runDirectory';
import { commandLog, isMachineReadable } from './output';
import { UsageError } from './runCommand';

export interface EvalCommandOptions {
  checkpoint?: string;
  set: string[];
  backend?: BackendPreference;
  json?: boolean;
  wasmDir: string;
  version: string;
}

/**
 * The config a run was saved with, `overrides` applied. The checkpoint fixes the model and what it was
 * trained on; only where the data now lives may change, and the keys under `alsoPrefixes` (`eval.`).
 */
export async function savedConfigWithOverrides(
  run: RunDirectory,
  overrides: readonly string[],
  doing: string,
  alsoPrefixes: readonly string[] = [],
): Promise<ResolvedConfig> {
  for (const assignment of overrides) {
    const key = overrideKey(assignment) ?? assignment;
    if (
      !alsoPrefixes.some((prefix) => key.startsWith(prefix)) &&
      key !== 'data.root' &&
      key !== 'data.layout'
    ) {
      const allowed = [...alsoPrefixes.map((prefix) => `${prefix}*`), 'data.root'];
      throw new UsageError(
        `${key}: cannot be changed when ${doing} a run; only ${allowed.join(', ')} and data.layout can`,
      );
    }
  }
  const config = await loadSavedConfig(run, overrides).catch((error: unknown) => {
    throw error instanceof ExperimentInputError ? new UsageError(error.message) : error;
  });
  // A root given on the command line is relative to where the command runs; the saved one is absolute.
  return { ...config, data: { ...config.data, root: path.resolve(config.data.root) } };
}

/** `synthpair eval`: measures a run's latest (or a named) checkpoint and prints the figures; returns the exit code. */
export async function evalCommand(runDir: string, options: EvalCommandOptions): Promise<number> {
  const run = await RunDirectory.open(runDir).catch((error: unknown) => {
    throw error instanceof RunDirectoryError ? new UsageError(error.message) : error;
  });
  const config = await savedConfigWithOverrides(run, options.set, 'evaluating', ['eval.']);
  const { report } = await selectBackend({
    preference: options.backend ?? config.backend,
    wasmDir: options.wasmDir,
    nativeModulePaths: [],
    synthpairVersion: options.version,
  });
  const machineReadable = isMachineReadable(options.json);
  const log = commandLog(machineReadable);
  log('info', `backend: ${report.selected}`);
  try {
    const { checkpoint, epoch, result } = await evaluateCheckpoint(
      config,
      run,
      { cacheFolder: path.join(process.cwd(), '.synthpair', 'cache'), ...options },
      log,
    );
    if (machineReadable) {
      process.stdout.write(`${JSON.stringify({ event: 'result', checkpoint, epoch, ...result })}\n`);
    } else {
      process.stdout.write(`${checkpoint} (epoch ${epoch}): ${describeEvaluation(result)}\n`);
    }
    return 0;
  } catch (error) {
    if (error instanceof DatasetError || error instanceof RunDirectoryError) {
      throw new UsageError(error.message);
    }
    throw error;
  }
}
