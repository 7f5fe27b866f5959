import type { SelectedBackend } from '../engine/backends/selectBackend';
import type { WorkerMethod, WorkerParams, WorkerResult } from '../protocol/worker';

export interface WorkerContext {
  backend(): Promise<SelectedBackend>;
  progress(message: string, fraction?: number): void;
}

export type WorkerHandlers = {
  [M in WorkerMethod]: (params: WorkerParams<M>, context: WorkerContext) => Promise<WorkerResult<M>>;
};

export function createHandlers(): WorkerHandlers {
  return {
    ping: async ({ payload }) => ({ payload, pid: process.pid }),
    backendInfo: async (_params, context) => {
      context.progress('Selecting a TF.js backend');
      return (await context.backend()).report;
    },
  };
}
