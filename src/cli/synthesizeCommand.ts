import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { selectBackend } from '../engine/backends/selectBackend';
import { pairGridPng } from '../engine/synthesis/pairs';
import {
  describeSynthesis,
  locateSources,
  RunSynthesizer,
  type Synthesis,
  synthesisConfig,
} from '../engine/synthesis/synthesizer';
import { ExperimentInputError } from '../engine/training/experiment';
import type { BackendPreference } from '../shared/protocol/backend';
import { UsageError } from './runCommand';

export interface SynthesizeCommandOptions {
  set: string[];
  out: string;
  backend?: BackendPreference;
  json?: boolean;
  wasmDir: string;
  version: string;
}

/** The run folder is only read: a grid written into it would be a file no run step accounts for. */
function outsideRun(runDir: string, out: string): string {
  const file = path.resolve(out);
  const relative = path.relative(path.resolve(runDir), file);
  if (relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative))) {
    throw new UsageError(
      `${file}: inside the run folder ${runDir}, which synthesize only reads; choose another --out`,
    );
  }
  return file;
}

function describeThreshold(threshold: number | null): string {
  return threshold === null ? 'none' : `≤ ${threshold.toPrecision(3)}`;
}

function summary(synthesis: Synthesis, dimensions: number): string[] {
  const { mask, settings, timings } = synthesis;
  const { perturb } = settings;
  return [
    `mask: ${mask.count} of ${dimensions} dimensions (${settings.combine} of ${mask.variance.count} by variance ${describeThreshold(mask.variance.threshold)} at q ${settings.variance.quantile}, ${mask.gradcam.count} by ${settings.gradcam.variant} Grad-CAM importance ${describeThreshold(mask.gradcam.threshold)} at q ${settings.gradcam.quantile})`,
    `perturb: ${perturb.mode}, strength ${perturb.strength}, fraction ${perturb.fraction}, ${settings.samples} copies per probe`,
    `time: mask ${timings.maskMs.toFixed(1)} ms, pairs ${timings.pairsMs.toFixed(0)} ms`,
  ];
}

/**
 * `synthpair synthesize`: redraws a run's probe pairs from its latest checkpoint and analysis with changed
 * perturbation or mask settings, writes the pair grid and prints the mask; returns the exit code.
 */
export async function synthesizeCommand(runDir: string, options: SynthesizeCommandOptions): Promise<number> {
  const out = outsideRun(runDir, options.out);
  const asUsageError = (error: unknown): never => {
    throw error instanceof ExperimentInputError ? new UsageError(error.message) : error;
  };
  // Everything that can refuse the run or the overrides is checked before the backend starts and the run loads.
  const sources = await locateSources(runDir).catch(asUsageError);
  try {
    synthesisConfig(sources.config, options.set);
  } catch (error) {
    asUsageError(error);
  }
  const { report } = await selectBackend({
    preference: options.backend ?? sources.config.backend,
    wasmDir: options.wasmDir,
    nativeModulePaths: [],
    synthpairVersion: options.version,
  });
  const loading = performance.now();
  const synthesizer = await RunSynthesizer.fromSources(sources).catch(asUsageError);
  try {
    const loadMs = performance.now() - loading;
    let synthesis: Synthesis;
    try {
      synthesis = await synthesizer.synthesize(options.set);
    } catch (error) {
      return asUsageError(error);
    }
    await writeFile(out, await pairGridPng(synthesizer.probeImages, synthesis.pairs));
    const { settings, timings } = synthesis;
    if (options.json === true || process.stdout.isTTY !== true) {
      const result = {
        event: 'result',
        out,
        backend: report.selected,
        ...describeSynthesis(synthesizer, synthesis),
        probes: synthesizer.probes,
        imageSize: synthesizer.imageSize,
        samples: settings.samples,
        timings: { loadMs, ...timings },
      };
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } else {
      process.stdout.write(
        [
          `${out}: ${synthesizer.probes} probes × ${settings.samples} copies from ${synthesizer.sources.checkpoint} (epoch ${synthesizer.checkpointEpoch}), mask of the analysis after epoch ${synthesizer.analysisEpoch}, on ${report.selected}`,
          ...summary(synthesis, synthesizer.dimensions),
          `loaded the run in ${loadMs.toFixed(0)} ms`,
        ].join('\n') + '\n',
      );
    }
    return 0;
  } finally {
    synthesizer.dispose();
  }
}
