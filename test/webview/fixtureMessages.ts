import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { analysisStepPairs } from '../../src/host/dashboard/runFeed';
import {
  type AnalysisArray,
  analysisManifest,
  type EvalRecord,
  evalRecord,
  type MetricsRecord,
  metricsRecord,
  runStatus,
} from '../../src/shared/protocol/runFiles';
import type { AnalysisStepRef, DashboardRun, HostToDashboard } from '../../src/shared/protocol/webview';
import type { SynthesisResultMessage } from '../../src/shared/protocol/worker';
import { type FixtureRun, fixtureAnalysisFolders, trainedFixtureRun } from '../support/fixtureRun';
import { assertBundleBuilt, launchChromium, origin } from './harness';

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

/** What a suite that drives the dashboard with the fixture run starts from, its bundle checked built. */
export async function fixtureDashboard(): Promise<{
  run: FixtureRun;
  steps: FixtureStep[];
  browser: Browser;
}> {
  assertBundleBuilt('dashboard');
  const run = await trainedFixtureRun();
  return { run, steps: await fixtureSteps(run.runDir), browser: await launchChromium() };
}

export function analysesMessage(runDir: string, steps: readonly FixtureStep[]): HostToDashboard {
  return {
    type: 'analyses',
    runDir,
    steps: steps.map(({ epoch, folderUri, manifest }) => ({ epoch, folderUri, manifest })),
  };
}

/** A run as the host lists it in a binding, from its run.json; named after its folder unless `label` says. */
export function listedRun(runDir: string, label = path.basename(runDir)): DashboardRun {
  const status = runStatus.parse(JSON.parse(readFileSync(path.join(runDir, 'run.json'), 'utf8')));
  return {
    runDir,
    label,
    state: status.state,
    epoch: status.epoch,
    epochs: status.epoch,
    startedAt: status.startedAt,
  };
}

/** The binding the host sends for a fixture run's experiment, that run shown; `runs` lists others beside it. */
export function bindingMessage(
  run: FixtureRun,
  options: { locked?: boolean; canRun?: boolean; runs?: DashboardRun[]; overlaidRuns?: string[] } = {},
): Extract<HostToDashboard, { type: 'binding' }> {
  return {
    type: 'binding',
    configFile: run.configFile,
    configLabel: path.basename(run.configFile),
    locked: options.locked ?? false,
    canRun: options.canRun ?? true,
    runs: options.runs ?? [listedRun(run.runDir)],
    selectedRun: run.runDir,
    overlaidRuns: options.overlaidRuns ?? [],
  };
}

export interface RunRecords {
  metrics: MetricsRecord[];
  evals: EvalRecord[];
}

/** The records of a run's metrics.jsonl and eval.jsonl. */
export function runRecords(runDir: string): RunRecords {
  const lines = (file: string) =>
    readFileSync(path.join(runDir, file), 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as unknown);
  return {
    metrics: lines('metrics.jsonl').map((record) => metricsRecord.parse(record)),
    evals: lines('eval.jsonl').map((record) => evalRecord.parse(record)),
  };
}

/**
 * The run's whole log as the host sends it when it starts to follow the run; `records` sends others in its
 * place, such as the few a live run has added since, which the host sends with `reset: false`.
 */
export function runMetricsMessage(
  runDir: string,
  options: { reset?: boolean; records?: RunRecords } = {},
): Extract<HostToDashboard, { type: 'runMetrics' }> {
  return {
    type: 'runMetrics',
    runDir,
    reset: options.reset ?? true,
    ...(options.records ?? runRecords(runDir)),
  };
}

/** The bytes of one of an analysis step's arrays as the engine wrote them. */
function arrayBytes(step: FixtureStep, name: string, dtype: AnalysisArray['dtype']): Buffer {
  const entry = step.manifest.arrays[name];
  if (!entry) throw new Error(`step ${step.epoch} has no ${name}`);
  if (entry.dtype !== dtype) throw new Error(`${name} of step ${step.epoch} is ${entry.dtype}, not ${dtype}`);
  return readFileSync(path.join(step.folder, entry.file));
}

export function floatArray(step: FixtureStep, name: string): Float32Array {
  const bytes = arrayBytes(step, name, 'float32');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

export function byteArray(step: FixtureStep, name: string): Uint8Array {
  return arrayBytes(step, name, 'uint8');
}

/**
 * The pair grid the worker would answer with no overrides: the analysis step's own pixels (synthesize with
 * the analysis's settings redraws them within 1/255, docs/run-directory.md), as the host shows a training run.
 */
export async function synthesisOfStep(step: FixtureStep, elapsedMs = 200): Promise<SynthesisResultMessage> {
  const grid = await analysisStepPairs(path.dirname(path.dirname(step.folder)), step);
  if (!grid) throw new Error('the fixture run has a decoder');
  return { ...grid, elapsedMs };
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
