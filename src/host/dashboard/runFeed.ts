import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  type AnalysisManifest,
  type EvalRecord,
  evalRecord,
  type MetricsRecord,
  metricsRecord,
} from '../../shared/protocol/runFiles';
import type { HostToDashboard } from '../../shared/protocol/webview';
import { asPlainBytes, type SynthesisResultMessage } from '../../shared/protocol/worker';
import type { AnalysisStep } from '../../shared/runFolder/analysisSteps';
import { readJsonLines } from '../../shared/runFolder/jsonLines';
import { runFileNames } from '../../shared/runFolder/runDirectory';

type RunMetricsMessage = Extract<HostToDashboard, { type: 'runMetrics' }>;

/** What was last sent of one run's logs, to send only what is new and notice when a resume rewrote them. */
interface SentLogs {
  metrics: number;
  evals: number;
  lastMetric?: MetricsRecord;
  lastEval?: EvalRecord;
}

/**
 * Turns a run folder's logs into dashboard messages: everything the first time a run is shown, afterwards only
 * the lines appended since. A resume truncates the logs after its checkpoint, and then the whole run is sent
 * again, since appending would splice two histories together.
 */
export class RunLogFeed {
  private readonly sent = new Map<string, SentLogs>();

  /** Forgets runs no longer shown, so showing one again sends all of it. */
  keepOnly(runDirs: readonly string[]): void {
    const kept = new Set(runDirs);
    for (const runDir of this.sent.keys()) {
      if (!kept.has(runDir)) this.sent.delete(runDir);
    }
  }

  /** The message that brings the webview up to date with `runDir`, or undefined when nothing changed. */
  async update(runDir: string): Promise<RunMetricsMessage | undefined> {
    const [metrics, evals] = await Promise.all([
      readJsonLines(path.join(runDir, runFileNames.metrics), metricsRecord),
      readJsonLines(path.join(runDir, runFileNames.eval), evalRecord),
    ]);
    const sent = this.sent.get(runDir);
    const next: SentLogs = {
      metrics: metrics.records.length,
      evals: evals.records.length,
      lastMetric: metrics.records.at(-1),
      lastEval: evals.records.at(-1),
    };
    this.sent.set(runDir, next);
    const continues =
      sent !== undefined &&
      continuesFrom(metrics.records, sent.metrics, sent.lastMetric) &&
      continuesFrom(evals.records, sent.evals, sent.lastEval);
    if (!continues) {
      return { type: 'runMetrics', runDir, reset: true, metrics: metrics.records, evals: evals.records };
    }
    if (next.metrics === sent.metrics && next.evals === sent.evals) return undefined;
    return {
      type: 'runMetrics',
      runDir,
      reset: false,
      metrics: metrics.records.slice(sent.metrics),
      evals: evals.records.slice(sent.evals),
    };
  }
}

/** Whether `records` still begins with the `count` records sent, judged by the last of them. */
function continuesFrom<T extends { time: string }>(
  records: readonly T[],
  count: number,
  last: T | undefined,
): boolean {
  if (records.length < count) return false;
  if (count === 0) return true;
  return records[count - 1]?.time === last?.time;
}

/**
 * The pair grid an analysis step drew while training, as a synthesis answer: what the pairs panel shows of a
 * run still being trained, which the worker does not redraw (its weights change under it). Undefined for a
 * run without a decoder.
 */
export async function analysisStepPairs(
  runDir: string,
  step: AnalysisStep,
): Promise<SynthesisResultMessage | undefined> {
  const { manifest } = step;
  const perturb = manifest.perturb;
  const files = ['probes.centre', 'reconstructions', 'perturbed'].map((name) => manifest.arrays[name]?.file);
  if (!perturb || files.some((file) => file === undefined)) return undefined;
  const [originals, reconstructions, perturbed] = await Promise.all(
    files.map(async (file) => asPlainBytes(await readFile(path.join(step.folder, file!)))),
  );
  const criterion = ({ quantile, count, threshold }: AnalysisManifest['variance']) => ({
    quantile,
    count,
    threshold,
  });
  return {
    cancelled: false,
    runDir,
    checkpoint: path.basename(step.folder),
    epoch: manifest.epoch,
    analysisEpoch: manifest.epoch,
    probes: manifest.probes.testPositions.length,
    imageSize: manifest.imageSize,
    samples: perturb.samples,
    dimensions: manifest.dimensions,
    masked: manifest.masked,
    variance: criterion(manifest.variance),
    gradcam: { ...criterion(manifest.gradcam), variant: manifest.gradcam.variant },
    combine: manifest.combine,
    perturb: { mode: perturb.mode, strength: perturb.strength, fraction: perturb.fraction },
    originals: originals!,
    reconstructions: reconstructions!,
    perturbed: perturbed!,
    elapsedMs: 0,
  };
}
