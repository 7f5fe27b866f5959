import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  type EvalRecord,
  evalRecord,
  type MetricsRecord,
  metricsRecord,
  type RunStatus,
} from '../protocol/runFiles';
import { readLastJsonLine } from './jsonLines';
import { RunDirectory } from './runDirectory';

/**
 * What a list of runs shows of one run, read from its folder alone, so runs started by the CLI, by another
 * window or before a reload look the same as the ones this process trains.
 */
export interface RunSummary {
  dir: string;
  status: RunStatus;
  /**
   * The state to show: a `running` run whose process has died (killed, or its window closed) is `stopped`,
   * which is also what a resume makes of it.
   */
  state: RunStatus['state'];
  /** The process still training it. */
  livePid: number | undefined;
  /** `train.epochs` of its config. */
  epochs: number | undefined;
  lastMetrics: MetricsRecord | undefined;
  lastEval: EvalRecord | undefined;
}

export async function readRunSummary(dir: string): Promise<RunSummary> {
  const run = await RunDirectory.open(dir);
  const status = run.current;
  const { livePid } = run;
  const [epochs, lastMetrics, lastEval] = await Promise.all([
    configuredEpochs(run.file('config')),
    readLastJsonLine(run.file('metrics'), metricsRecord),
    readLastJsonLine(run.file('eval'), evalRecord),
  ]);
  return {
    dir,
    status,
    state: status.state === 'running' && livePid === undefined ? 'stopped' : status.state,
    livePid,
    epochs,
    lastMetrics,
    lastEval,
  };
}

async function configuredEpochs(configFile: string): Promise<number | undefined> {
  try {
    const epochs = (JSON.parse(await readFile(configFile, 'utf8')) as { train?: { epochs?: unknown } }).train
      ?.epochs;
    return typeof epochs === 'number' ? epochs : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Every run directly inside `runsFolder`, newest first. Folders that are not runs, or whose run.json cannot
 * be read right now (being replaced, foreign), are passed over: the next change lists them again; so are
 * hidden ones, where a new run is assembled before it appears under its name.
 */
export async function listRuns(runsFolder: string): Promise<RunSummary[]> {
  const entries = await readdir(runsFolder, { withFileTypes: true }).catch(() => []);
  const candidates = entries
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith('.'))
    .map((entry) => path.join(runsFolder, entry.name));
  const summaries = await Promise.all(
    candidates.map(async (dir) => {
      try {
        return await readRunSummary(dir);
      } catch {
        return undefined;
      }
    }),
  );
  return summaries
    .filter((summary): summary is RunSummary => summary !== undefined)
    .sort((a, b) => b.status.startedAt.localeCompare(a.status.startedAt));
}
