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
import { UsageError } from './runCommand';

export interface EvalCommandOptions {
  checkpoint?: string;
  set: string[];
  backend?: BackendPreference;
  json?: boolean;
  wasmDir: string;
  version: string;
}

/** The checkpoint fixes the model and what it was trained on; only how it is measured, and where the data now lives, may change. */
function isEvaluationOverride(key: string): boolean {
  return key.startsWith('eval.') || key === 'data.root' || key === 'data.layout';
}

async function savedConfigWithOverrides(run: RunDirectory, overrides: string[]): Promise<ResolvedConfig> {
  for (const assignment of overrides) {
    const key = overrideKey(assignment) ?? assignment;
    if (!isEvaluationOverride(key)) {
      throw new UsageError(
        `${key}: cannot be changed when evaluating a run; only eval.*, data.root and data.layout can`,
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
  const config = await savedConfigWithOverrides(run, options.set);
  const { report } = await selectBackend({
    preference: options.backend ?? config.backend,
    wasmDir: options.wasmDir,
    nativeModulePaths: [],
    synthpairVersion: options.version,
  });
  const machineReadable = options.json === true || process.stdout.isTTY !== true;
  const log = (level: 'info' | 'warn', message: string) => {
    if (machineReadable) {
      process.stdout.write(`${JSON.stringify({ event: 'log', level, message })}\n`);
    } else {
      process.stderr.write(`${level === 'warn' ? 'warning: ' : ''}${message}\n`);
    }
  };
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
