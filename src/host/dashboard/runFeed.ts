import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import {
  type AnalysisManifest,
  evalRecord,
  metricsRecord,
  skippedFiles,
} from '../../shared/protocol/runFiles';
import { validateMessage } from '../../shared/protocol/validate';
import type { HostToDashboard } from '../../shared/protocol/webview';
import { asPlainBytes, type SynthesisResultMessage } from '../../shared/protocol/worker';
import type { AnalysisStep } from '../../shared/runFolder/analysisSteps';
import { JsonLinesTail } from '../../shared/runFolder/jsonLines';
import { runFileNames } from '../../shared/runFolder/runDirectory';

type RunMetricsMessage = Extract<HostToDashboard, { type: 'runMetrics' }>;
type SkippedFilesMessage = Extract<HostToDashboard, { type: 'skippedFiles' }>;

/** Where the feed stands in one run's two logs. */
interface RunLogTails {
  metrics: JsonLinesTail<typeof metricsRecord>;
  evals: JsonLinesTail<typeof evalRecord>;
}

/**
 * Turns a run folder's logs into dashboard messages: everything the first time a run is shown, afterwards only
 * the lines appended since, read from where the previous update stopped. A resume rewrites the logs, and then
 * the whole run is sent again, since appending would splice two histories together.
 */
export class RunLogFeed {
  private readonly tails = new Map<string, RunLogTails>();

  /** Forgets runs no longer shown, so showing one again sends all of it. */
  keepOnly(runDirs: readonly string[]): void {
    const kept = new Set(runDirs);
    for (const runDir of this.tails.keys()) {
      if (!kept.has(runDir)) this.tails.delete(runDir);
    }
  }

  /** The message that brings the webview up to date with `runDir`, or undefined when nothing changed. */
  async update(runDir: string): Promise<RunMetricsMessage | undefined> {
    let tails = this.tails.get(runDir);
    if (!tails) {
      tails = {
        metrics: new JsonLinesTail(path.join(runDir, runFileNames.metrics), metricsRecord),
        evals: new JsonLinesTail(path.join(runDir, runFileNames.eval), evalRecord),
      };
      this.tails.set(runDir, tails);
    }
    let [metrics, evals] = await Promise.all([tails.metrics.read(), tails.evals.read()]);
    // A reset replaces all the webview holds of the run, so a log that only grew is sent whole with the other.
    if (metrics.restarted && !evals.restarted) evals = await tails.evals.readFromStart();
    if (evals.restarted && !metrics.restarted) metrics = await tails.metrics.readFromStart();
    if (metrics.restarted) {
      return { type: 'runMetrics', runDir, reset: true, metrics: metrics.records, evals: evals.records };
    }
    if (metrics.records.length === 0 && evals.records.length === 0) return undefined;
    return { type: 'runMetrics', runDir, reset: false, metrics: metrics.records, evals: evals.records };
  }
}

/**
 * The dashboard's word on the files a run left out of its data set. A run writes its skipped.json when it
 * loads its data, so the list is read again only when the file has changed since it was last sent, not on
 * every refresh of a live run.
 */
export class SkippedFilesFeed {
  private sent: string | undefined;

  /** Forgets what was sent, e.g. to a webview that reloaded. */
  reset(): void {
    this.sent = undefined;
  }

  /** The message for `runDir`, or undefined when the webview already has it. */
  async update(runDir: string): Promise<SkippedFilesMessage | undefined> {
    const listFile = path.join(runDir, runFileNames.skipped);
    const file = await stat(listFile).catch(() => undefined);
    // The run replaces the file by renaming a new one over it, which gives it a new inode.
    const version = `${runDir}|${file ? `${file.ino}:${file.size}:${file.mtimeMs}` : 'none'}`;
    if (version === this.sent) return undefined;
    this.sent = version;
    return { type: 'skippedFiles', runDir, listFile, count: file ? await listedFileCount(listFile) : 0 };
  }
}

/** How many files a skipped.json names; 0 when there is none, or it cannot be read as one. */
async function listedFileCount(listFile: string): Promise<number> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(listFile, 'utf8'));
  } catch {
    return 0;
  }
  const list = validateMessage(skippedFiles, parsed);
  return list.ok ? list.value.files.length : 0;
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
