import * as z from 'zod/mini';
import { backendReport } from './backend';
import { wireError } from './worker';
import './zodLocale';

export const workerState = z.enum(['stopped', 'starting', 'ready', 'crashed']);
export type WorkerState = z.infer<typeof workerState>;

/** Messages the extension host posts to the dashboard webview. */
export const hostToDashboard = z.discriminatedUnion('type', [
  z.object({ type: z.literal('backendReport'), report: backendReport }),
  z.object({ type: z.literal('backendError'), error: wireError }),
  z.object({ type: z.literal('workerState'), state: workerState, detail: z.optional(z.string()) }),
]);
export type HostToDashboard = z.infer<typeof hostToDashboard>;

/** Messages the dashboard webview posts to the extension host. */
export const dashboardToHost = z.discriminatedUnion('type', [
  z.object({ type: z.literal('ready') }),
  z.object({ type: z.literal('refreshBackend') }),
  z.object({ type: z.literal('showOutput') }),
]);
export type DashboardToHost = z.infer<typeof dashboardToHost>;

/** What the dashboard persists with `vscode.setState`, restored after a window reload. */
export const dashboardState = z.object({
  report: z.optional(backendReport),
});
export type DashboardState = z.infer<typeof dashboardState>;
