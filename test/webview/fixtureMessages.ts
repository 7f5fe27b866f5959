import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  type AnalysisManifest,
  analysisManifest,
  evalRecord,
  metricsRecord,
  runStatus,
} from '../../src/protocol/runFiles';
import type { AnalysisStepRef, HostToDashboard } from '../../src/protocol/webview';
import type { SynthesisResultMessage } from '../../src/protocol/worker';
import { type FixtureRun, fixtureAnalysisFolders } from '../support/fixtureRun';
import { origin } from './harness';

const root = path.join(__dirname, '..', '..');

export type FixtureStep = AnalysisStepRef & { folder: string };

/** The URL the harness serves a file of the repository under, as asWebviewUri would give it. */
export function webviewUri(file: string): string {
  return `${origin}/${path.relative(root, file).split(path.sep).join('/')}`;
}

/** A fixture run's analysis steps as the host sends them, with their folders on disk for the tests. */
export async function fixtureSteps(runDir: string): Promise<FixtureStep[]> {
  return (await fixtureAnalysisFolders(runDir)).map((folder) => {
    const manifest = analysisManifest.parse(
      JSON.parse(readFileSync(path.join(folder, 'analysis.json'), 'utf8')),
    );
    return { epoch: manifest.epoch, folderUri: webviewUri(folder), manifest, folder };
  });
}

export function analysesMessage(runDir: string, steps: readonly FixtureStep[]): HostToDashboard {
  return {
    type: 'analyses',
    runDir,
    steps: steps.map(({ epoch, folderUri, manifest }) => ({ epoch, folderUri, manifest })),
  };
}

/** The binding the host sends for a fixture run's experiment, that run shown. */
export function bindingMessage(
  run: FixtureRun,
  options: { locked?: boolean; canRun?: boolean; overlaidRuns?: string[] } = {},
): Extract<HostToDashboard, { type: 'binding' }> {
  const status = runStatus.parse(JSON.parse(readFileSync(path.join(run.runDir, 'run.json'), 'utf8')));
  return {
    type: 'binding',
    configFile: run.configFile,
    configLabel: path.basename(run.configFile),
    locked: options.locked ?? false,
    canRun: options.canRun ?? true,
    runs: [
      {
        runDir: run.runDir,
        label: path.basename(run.runDir),
        state: status.state,
        epoch: status.epoch,
        epochs: status.epoch,
        startedAt: status.startedAt,
      },
    ],
    selectedRun: run.runDir,
    overlaidRuns: options.overlaidRuns ?? [],
  };
}

export function runMetricsMessage(runDir: string): Extract<HostToDashboard, { type: 'runMetrics' }> {
  const lines = (file: string) =>
    readFileSync(path.join(runDir, file), 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as unknown);
  return {
    type: 'runMetrics',
    runDir,
    reset: true,
    metrics: lines('metrics.jsonl').map((record) => metricsRecord.parse(record)),
    evals: lines('eval.jsonl').map((record) => evalRecord.parse(record)),
  };
}

function arrayBase64(step: FixtureStep, name: string): string {
  const entry = step.manifest.arrays[name];
  if (!entry) throw new Error(`step ${step.epoch} has no ${name}`);
  return readFileSync(path.join(step.folder, entry.file)).toString('base64');
}

/**
 * The pair grid the worker would answer with no overrides: the analysis step's own pixels (synthesize with
 * the analysis's settings redraws them within 1/255, docs/run-directory.md).
 */
export function synthesisOfStep(step: FixtureStep, elapsedMs = 200): SynthesisResultMessage {
  const manifest: AnalysisManifest = step.manifest;
  const perturb = manifest.perturb;
  if (!perturb) throw new Error('the fixture run has a decoder');
  return {
    cancelled: false,
    runDir: path.dirname(path.dirname(step.folder)),
    checkpoint: `epoch-${String(manifest.epoch).padStart(4, '0')}`,
    epoch: manifest.epoch,
    analysisEpoch: manifest.epoch,
    probes: manifest.probes.testPositions.length,
    imageSize: manifest.imageSize,
    samples: perturb.samples,
    dimensions: manifest.dimensions,
    masked: manifest.masked,
    variance: {
      quantile: manifest.variance.quantile,
      count: manifest.variance.count,
      threshold: manifest.variance.threshold,
    },
    gradcam: {
      quantile: manifest.gradcam.quantile,
      count: manifest.gradcam.count,
      threshold: manifest.gradcam.threshold,
      variant: manifest.gradcam.variant,
    },
    combine: manifest.combine,
    perturb: { mode: perturb.mode, strength: perturb.strength, fraction: perturb.fraction },
    originals: arrayBase64(step, 'probes.centre'),
    reconstructions: arrayBase64(step, 'reconstructions'),
    perturbed: arrayBase64(step, 'perturbed'),
    elapsedMs,
  };
}

/** The panel keys as a fresh experiment file holds them. */
export const defaultPanelValues = {
  'analysis.variance.quantile': 0.25,
  'analysis.gradcam.quantile': 0.25,
  'analysis.gradcam.variant': 'absolute',
  'analysis.combine': 'union',
  'analysis.probes.samples': 3,
  'perturb.mode': 'gaussian',
  'perturb.strength': 1,
  'perturb.fraction': 1,
} as const;
