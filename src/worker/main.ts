import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type SelectedBackend, selectBackend } from '../engine/backends/selectBackend';
import { toWireError } from '../shared/protocol/errors';
import { describeForLog, validateMessage } from '../shared/protocol/validate';
import {
  type LogLevel,
  usableRequestId,
  type WorkerLaunchOptions,
  type WorkerMethod,
  type WorkerToHost,
  workerLaunchEnvVar,
  workerLaunchOptions,
  workerMethods,
  workerRequest,
} from '../shared/protocol/worker';
import { createHandlers, type WorkerContext } from './handlers';

function send(message: WorkerToHost): void {
  process.send?.(message);
}

function log(level: LogLevel, message: string): void {
  send({ kind: 'event', event: 'log', level, message });
}

function readLaunchOptions(): WorkerLaunchOptions {
  const raw = process.env[workerLaunchEnvVar];
  const parsed = validateMessage(workerLaunchOptions, raw ? JSON.parse(raw) : {});
  if (!parsed.ok) {
    throw new Error(`invalid ${workerLaunchEnvVar}: ${parsed.reason}`);
  }
  return parsed.value;
}

function packageVersion(): string {
  try {
    const manifest = JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as {
      version?: string;
    };
    return manifest.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function main(): void {
  if (!process.send) {
    console.error(
      'The SynthPair worker runs as a child process of the extension; use the synthpair CLI instead.',
    );
    process.exit(2);
  }
  // Without its parent there is nobody to report to, and an orphaned trainer would hold the CPU.
  process.on('disconnect', () => process.exit(0));

  const options = readLaunchOptions();
  let backendPromise: Promise<SelectedBackend> | undefined;
  const backend = () => {
    backendPromise ??= selectBackend({
      preference: options.backend,
      wasmDir: options.wasmDir,
      nativeModulePaths: options.nativeModulePaths,
      synthpairVersion: packageVersion(),
    });
    return backendPromise;
  };
  const handlers = createHandlers({
    version: packageVersion(),
    nativeModulePaths: options.nativeModulePaths,
  });

  process.on('message', async (raw: unknown) => {
    const request = validateMessage(workerRequest, raw);
    if (!request.ok) {
      const id = usableRequestId(raw);
      if (id === undefined) {
        // A reply must carry an id the host's protocol accepts, so this refusal can only be logged.
        log(
          'warn',
          `refused a message without a usable request id, a non-negative integer (${request.reason}): ${describeForLog(raw)}`,
        );
        return;
      }
      log('warn', `refused malformed request ${id} (${request.reason}): ${describeForLog(raw)}`);
      send({ kind: 'response', id, ok: false, error: { message: `malformed request: ${request.reason}` } });
      return;
    }
    const { id, method } = request.value;
    const params = validateMessage(workerMethods[method].params, request.value.params);
    if (!params.ok) {
      log('warn', `refused request ${id}: invalid parameters for ${method} (${params.reason})`);
      send({
        kind: 'response',
        id,
        ok: false,
        error: { message: `invalid parameters for ${method}: ${params.reason}` },
      });
      return;
    }
    try {
      const context: WorkerContext = {
        backend,
        log,
        progress: (message, details = {}) =>
          send({ kind: 'event', event: 'progress', requestId: id, message, ...details }),
      };
      const handler = handlers[method] as (params: unknown, context: WorkerContext) => Promise<unknown>;
      const result = await handler(params.value, context);
      send({ kind: 'response', id, ok: true, result: checkResult(method, result) });
    } catch (error) {
      send({ kind: 'response', id, ok: false, error: toWireError(error) });
    }
  });

  send({ kind: 'event', event: 'ready', pid: process.pid });
  // Start the backend at once so the first request does not pay for it.
  backend().then(
    ({ report }) => log('info', `backend ${report.selected} ready in ${report.startupMillis} ms`),
    (error: unknown) => log('error', `backend selection failed: ${toWireError(error).message}`),
  );
}

/** A result that does not match its schema is the engine's bug; fail here rather than in the host. */
function checkResult(method: WorkerMethod, result: unknown): unknown {
  const checked = validateMessage(workerMethods[method].result, result);
  if (!checked.ok) {
    throw new Error(`worker produced an invalid ${method} result: ${checked.reason}`);
  }
  return checked.value;
}

main();
