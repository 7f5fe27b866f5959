import * as vscode from 'vscode';
import { describeDuration } from '../../shared/runFolder/describe';
import { commandDefinitions } from '../manifest/commandIds';
import type { ActiveRun, RunController } from './runController';

/** `epoch 2/30 · step 61/1410 · 23 img/s · ETA 14 min` for a run this window trains. */
export function describeProgress(run: ActiveRun): string {
  const { progress } = run;
  if (!progress) return run.stopping ? 'stopping…' : (run.preparing ?? 'starting…');
  const parts = [
    `epoch ${progress.epoch}/${progress.epochs}`,
    `step ${progress.step}/${progress.totalSteps}`,
  ];
  if (progress.imagesPerSecond > 0) parts.push(`${progress.imagesPerSecond.toFixed(0)} img/s`);
  if (run.secondsPerStep !== undefined && progress.totalSteps > progress.step) {
    parts.push(`ETA ${describeDuration(1000 * run.secondsPerStep * (progress.totalSteps - progress.step))}`);
  }
  if (run.stopping) parts.push('stopping…');
  return parts.join(' · ');
}

/**
 * The status-bar item while this window trains: the first run's progress, how many more train or wait, and a
 * click that opens the dashboard.
 */
export class TrainingStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(
    'synthpair.training',
    vscode.StatusBarAlignment.Left,
    10,
  );
  private readonly update = () => this.render();

  constructor(private readonly controller: RunController) {
    this.item.name = 'SynthPair Training';
    this.item.command = commandDefinitions.openDashboard.id;
    controller.on('changed', this.update);
    this.render();
  }

  /** What the item says now, for tests. */
  get text(): string {
    return this.item.text;
  }

  dispose(): void {
    this.controller.off('changed', this.update);
    this.item.dispose();
  }

  private render(): void {
    const [first, ...others] = this.controller.running;
    const waiting = this.controller.queued.length;
    if (!first) {
      this.item.hide();
      return;
    }
    const more = [
      others.length > 0 ? `+${others.length} training` : '',
      waiting > 0 ? `${waiting} queued` : '',
    ]
      .filter(Boolean)
      .join(', ');
    this.item.text = `$(sync~spin) ${first.request.label}: ${describeProgress(first)}${more ? ` (${more})` : ''}`;
    this.item.tooltip = new vscode.MarkdownString(
      [
        ...this.controller.running.map((run) => `**${run.request.label}**: ${describeProgress(run)}`),
        ...this.controller.queued.map((request) => `${request.label}: queued`),
        '',
        'Click to open the dashboard.',
      ].join('\n\n'),
    );
    this.item.show();
  }
}
