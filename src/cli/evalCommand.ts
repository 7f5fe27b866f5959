import path from 'node:path';
import { selectBackend } from '../engine/backends/selectBackend';
import { DatasetError } from '../engine/data/datasets';
import { loadSplits } from '../engine/data/splits';
import { evaluate, evaluationSettingsOf } from '../engine/training/evaluate';
import type { BackendPreference } from '../shared/protocol/backend';
import { describeEvaluation } from '../shared/runFolder/describe';
import { encoderSourceOf } from './encoderSource';
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
 * `synthpair eval`: measures a run's latest (or a named) checkpoint, or the encoder an experiment file starts
 * from before any training, and prints the figures; returns the exit code.
 */
export async function evalCommand(source: string, options: EvalCommandOptions): Promise<number> {
  const { config, method: buildMethod } = await encoderSourceOf(source, {
    ...options,
    doing: 'evaluating',
    alsoPrefixes: ['eval.'],
  });
  const { report } = await selectBackend({
    preference: options.backend ?? config.backend,
    wasmDir: options.wasmDir,
    nativeModulePaths: [],
    synthpairVersion: options.version,
  });
  const machineReadable = isMachineReadable(options.json);
  const log = commandLog(machineReadable);
  log('info', `backend: ${report.selected}`);
  const { method, about, label } = await buildMethod(log);
  try {
    const splits = await loadSplits(config.data, path.join(process.cwd(), '.synthpair', 'cache'), log);
    log('info', `evaluating ${label}`);
    const result = await evaluate(method.encoder, splits.train, splits.test, evaluationSettingsOf(config));
    if (machineReadable) {
      process.stdout.write(`${JSON.stringify({ event: 'result', ...about, ...result })}\n`);
    } else {
      process.stdout.write(`${label}: ${describeEvaluation(result)}\n`);
    }
    return 0;
  } catch (error) {
    if (error instanceof DatasetError) throw new UsageError(error.message);
    throw error;
  } finally {
    method.dispose();
  }
}
