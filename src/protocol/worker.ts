import * as z from 'zod/mini';
import { backendPreference, backendReport } from './backend';
import './zodLocale';

/**
 * Every request the host may send to the engine worker, with the shape of its parameters and of its
 * result. Both sides validate against these schemas, so adding a method here is the whole contract.
 */
export const workerMethods = {
  ping: {
    params: z.object({ payload: z.string() }),
    result: z.object({ payload: z.string(), pid: z.int() }),
  },
  backendInfo: {
    params: z.object({}),
    result: backendReport,
  },
} as const;

export type WorkerMethod = keyof typeof workerMethods;
export type WorkerParams<M extends WorkerMethod> = z.infer<(typeof workerMethods)[M]['params']>;
export type WorkerResult<M extends WorkerMethod> = z.infer<(typeof workerMethods)[M]['result']>;

/** Request ids are the host's counter: non-negative integers. */
const requestId = z.int().check(z.nonnegative());

const methodName = z.enum(Object.keys(workerMethods) as [WorkerMethod, ...WorkerMethod[]]);

export const workerRequest = z.object({
  kind: z.literal('request'),
  id: requestId,
  method: methodName,
  params: z.unknown(),
});
export type WorkerRequest = z.infer<typeof workerRequest>;

/** An error as it crosses the process border: a message a user can read and the chain of causes. */
export const wireError = z.object({
  message: z.string(),
  name: z.optional(z.string()),
  causes: z.optional(z.array(z.string())),
  stack: z.optional(z.string()),
});
export type WireError = z.infer<typeof wireError>;

const successResponse = z.object({
  kind: z.literal('response'),
  id: requestId,
  ok: z.literal(true),
  result: z.unknown(),
});
const errorResponse = z.object({
  kind: z.literal('response'),
  id: requestId,
  ok: z.literal(false),
  error: wireError,
});

export const logLevel = z.enum(['debug', 'info', 'warn', 'error']);
export type LogLevel = z.infer<typeof logLevel>;

export const workerEvent = z.discriminatedUnion('event', [
  z.object({ kind: z.literal('event'), event: z.literal('ready'), pid: z.int() }),
  z.object({ kind: z.literal('event'), event: z.literal('log'), level: logLevel, message: z.string() }),
  z.object({
    kind: z.literal('event'),
    event: z.literal('progress'),
    requestId,
    message: z.string(),
    /** Fraction done in [0, 1] when known. */
    fraction: z.optional(z.number().check(z.gte(0), z.lte(1))),
  }),
]);

export const workerToHost = z.union([successResponse, errorResponse, workerEvent]);
export type WorkerToHost = z.infer<typeof workerToHost>;

/** Options the host passes when it forks the worker, through the environment. */
export const workerLaunchOptions = z.object({
  backend: backendPreference,
  /** Folder holding the tfjs-backend-wasm binaries. */
  wasmDir: z.string(),
  /** Extra folders searched for the optional native TF.js packages. */
  nativeModulePaths: z.array(z.string()),
});
export type WorkerLaunchOptions = z.infer<typeof workerLaunchOptions>;
export const workerLaunchEnvVar = 'SYNTHPAIR_WORKER_OPTIONS';
