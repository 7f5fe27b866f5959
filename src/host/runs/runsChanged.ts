import type * as vscode from 'vscode';
import type { RunCatalog } from './runCatalog';
import type { RunController } from './runController';

/**
 * Calls `redraw` after the catalog or the controller changed, at most once every `intervalMs`: progress
 * arrives with every step, and a view redraws a few times a second at most.
 */
export function onRunsChanged(
  catalog: RunCatalog,
  controller: RunController,
  redraw: () => void,
  intervalMs: number,
): vscode.Disposable & { schedule(): void } {
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    timer ??= setTimeout(() => {
      timer = undefined;
      redraw();
    }, intervalMs);
  };
  controller.on('changed', schedule);
  const subscription = catalog.onDidChange(schedule);
  return {
    schedule,
    dispose: () => {
      clearTimeout(timer);
      controller.off('changed', schedule);
      subscription.dispose();
    },
  };
}
