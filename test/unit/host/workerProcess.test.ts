import assert from 'node:assert/strict';
import { type ChildProcess, fork, type Serializable, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WorkerCrashedError, WorkerProcess } from '../../../src/host/workers/workerProcess';
import { RemoteError } from '../../../src/shared/protocol/errors';
import { validateMessage } from '../../../src/shared/protocol/validate';
import {
  type WorkerLaunchOptions,
  workerLaunchEnvVar,
  workerToHost,
} from '../../../src/shared/protocol/worker';
import { repoRoot as root } from '../../support/paths';

const workerScript = path.join(root, 'dist', 'worker.js');
const launch: WorkerLaunchOptions = {
  backend: 'cpu',
  wasmDir: path.join(root, 'dist', 'wasm'),
  nativeModulePaths: [],
};

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) {
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return condition();
}

describe('engine worker process (bundled dist/worker.js)', function () {
  this.timeout(60_000);
  const workers: WorkerProcess[] = [];
  const logs: string[] = [];

  function startWorker(options: Partial<WorkerLaunchOptions> = {}): WorkerProcess {
    const worker = new WorkerProcess({
      script: workerScript,
      launch: { ...launch, ...options },
      log: (level, message) => logs.push(`${level}: ${message}`),
    });
    workers.push(worker);
    return worker;
  }

  before(() => {
    if (!existsSync(workerScript)) {
      throw new Error('dist/worker.js is missing: run `npm run build` first');
    }
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop()));
    logs.length = 0;
  });

  it('answers a request with its id and reports its state', async () => {
    const worker = startWorker();
    const states: string[] = [];
    worker.on('state', (state) => states.push(state));
    const reply = await worker.request('ping', { payload: 'hello' });
    assert.equal(reply.payload, 'hello');
    assert.equal(reply.pid, worker.pid);
    assert.notEqual(reply.pid, process.pid);
    assert.deepEqual(states, ['starting', 'ready']);
    const replies = await Promise.all(['a', 'b', 'c'].map((payload) => worker.request('ping', { payload })));
    assert.deepEqual(
      replies.map((entry) => entry.payload),
      ['a', 'b', 'c'],
    );
  });

  it('reports the backend it selected, with progress', async () => {
    const worker = startWorker({ backend: 'cpu' });
    const progress: string[] = [];
    const report = await worker.request(
      'backendInfo',
      {},
      { onProgress: (message) => progress.push(message) },
    );
    assert.equal(report.selected, 'cpu');
    assert.equal(report.preference, 'cpu');
    assert.deepEqual(
      report.attempts.map((attempt) => [attempt.name, attempt.outcome]),
      [
        ['node-gpu', 'not-tried'],
        ['webgpu', 'not-tried'],
        ['onednn', 'not-tried'],
        ['node', 'not-tried'],
        ['wasm', 'not-tried'],
        ['cpu', 'selected'],
      ],
    );
    assert.deepEqual(progress, ['Selecting a TF.js backend']);
  });

  it('turns an invalid request into an error response instead of crashing', async () => {
    const worker = startWorker();
    await assert.rejects(
      worker.request('ping', { payload: 12 } as unknown as { payload: string }),
      (error: unknown) =>
        error instanceof RemoteError && /invalid parameters for ping: payload:/.test(error.message),
    );
    assert.equal((await worker.request('ping', { payload: 'still alive' })).payload, 'still alive');
  });

  it('refuses malformed messages on the raw channel with a logged reason', async () => {
    const child = fork(workerScript, [], {
      env: { ...process.env, [workerLaunchEnvVar]: JSON.stringify(launch) },
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    });
    const messages: unknown[] = [];
    child.on('message', (message) => messages.push(message));
    try {
      await waitFor(
        () => messages.some((message) => (message as { event?: string }).event === 'ready'),
        10_000,
      );
      child.send({ kind: 'request', id: 7, method: 'rm -rf', params: {} });
      child.send('not even an object');
      assert.ok(
        await waitFor(
          () => messages.filter((message) => (message as { event?: string }).event === 'log').length >= 2,
          10_000,
        ),
      );
      const response = messages.find((message) => (message as { kind?: string }).kind === 'response') as {
        id: number;
        ok: boolean;
        error: { message: string };
      };
      assert.equal(response.id, 7);
      assert.equal(response.ok, false);
      assert.match(response.error.message, /malformed request: method:/);
      const refusals = messages
        .filter((message) => (message as { level?: string }).level === 'warn')
        .map((message) => (message as { message: string }).message);
      assert.ok(refusals.some((text) => /refused malformed request 7 \(method:/.test(text)));
      assert.ok(
        refusals.some((text) => /refused a message without a usable request id.*\(\(message\):/.test(text)),
      );
    } finally {
      child.kill('SIGKILL');
    }
  });

  describe('what reaches the worker on the raw channel', () => {
    let child: ChildProcess;
    const messages: unknown[] = [];

    /** Everything the worker sends must be what the host accepts, refusals included. */
    function assertAllValid(): void {
      for (const message of messages) {
        const checked = validateMessage(workerToHost, message);
        assert.ok(
          checked.ok,
          `the worker sent ${JSON.stringify(message)}: ${checked.ok ? '' : checked.reason}`,
        );
      }
    }

    const warnings = () =>
      messages
        .filter((message) => (message as { level?: string }).level === 'warn')
        .map((message) => (message as { message: string }).message);

    /** Sends one message and waits for the warning it must cause; requests are answered before the next is read. */
    async function sendAndAwaitWarning(message: unknown): Promise<string> {
      const before = warnings().length;
      child.send(message as Serializable);
      assert.ok(await waitFor(() => warnings().length > before, 20_000), 'no warning was logged');
      return warnings().at(-1)!;
    }

    beforeEach(async () => {
      messages.length = 0;
      child = fork(workerScript, [], {
        env: { ...process.env, [workerLaunchEnvVar]: JSON.stringify(launch) },
        stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      });
      child.on('message', (message) => messages.push(message));
      assert.ok(
        await waitFor(
          () => messages.some((message) => (message as { event?: string }).event === 'ready'),
          20_000,
        ),
      );
    });

    afterEach(() => {
      child.kill('SIGKILL');
    });

    it('logs a request without a usable id, and sends no reply the host would refuse', async () => {
      for (const id of [-1, 2.5, '3', null]) {
        const warning = await sendAndAwaitWarning({
          kind: 'request',
          id,
          method: 'ping',
          params: { payload: 'x' },
        });
        assert.match(
          warning,
          /^refused a message without a usable request id, a non-negative integer \(id: /,
        );
      }
      const noId = await sendAndAwaitWarning({ kind: 'request', method: 'ping', params: { payload: 'x' } });
      assert.match(noId, /^refused a message without a usable request id/);
      // The worker answers in order, so the reply to this ping comes after any reply to those above.
      child.send({ kind: 'request', id: 9, method: 'ping', params: { payload: 'after' } });
      assert.ok(
        await waitFor(() => messages.some((message) => (message as { id?: number }).id === 9), 20_000),
      );
      assert.deepEqual(
        messages
          .filter((message) => (message as { kind?: string }).kind === 'response')
          .map((message) => (message as { id: number }).id),
        [9],
      );
      assertAllValid();
    });

    it('refuses and logs prototype keys in a request, answering its id', async () => {
      const requests = [
        '{ "kind": "request", "id": 11, "method": "ping", "params": { "payload": "x", "constructor": "y" } }',
        '{ "kind": "request", "id": 12, "method": "synthesize", "params": { "runDir": "r", "overrides": { "__proto__": { "polluted": true } } } }',
      ];
      for (const text of requests) {
        const request = JSON.parse(text) as { id: number };
        const warning = await sendAndAwaitWarning(request);
        assert.match(warning, new RegExp(`^refused malformed request ${request.id} \\(params\\.`));
        assert.ok(
          await waitFor(
            () => messages.some((message) => (message as { id?: number }).id === request.id),
            20_000,
          ),
        );
        const reply = messages.find((message) => (message as { id?: number }).id === request.id) as {
          ok: boolean;
          error: { message: string };
        };
        assert.equal(reply.ok, false);
        assert.match(
          reply.error.message,
          /^malformed request: params\.(constructor|overrides\.__proto__): a key named/,
        );
      }
      assertAllValid();
    });
  });

  it('ends a request whose answer it refuses, rather than leaving it waiting', async () => {
    // The engine's own worker answers well; a stand-in that speaks the protocol answers badly on purpose.
    const folder = mkdtempSync(path.join(os.tmpdir(), 'synthpair-bad-worker-'));
    const script = path.join(folder, 'badWorker.js');
    writeFileSync(
      script,
      `process.on('message', (request) => {
         const answers = {
           prototype: { kind: 'response', id: request.id, ok: true, result: JSON.parse('{"payload":"x","pid":1,"__proto__":{"polluted":true}}') },
           shape: { kind: 'response', id: request.id, ok: 'yes' },
         };
         process.send(answers[request.params.payload]);
       });
       process.send({ kind: 'event', event: 'ready', pid: process.pid });`,
    );
    const worker = new WorkerProcess({
      script,
      launch,
      log: (level, message) => logs.push(`${level}: ${message}`),
    });
    workers.push(worker);
    await assert.rejects(
      worker.request('ping', { payload: 'prototype' }),
      /^Error: refused a malformed ping answer from the worker: result\.__proto__: a key named __proto__ is refused/,
    );
    await assert.rejects(
      worker.request('ping', { payload: 'shape' }),
      /^Error: refused a malformed ping answer from the worker: \(message\): Invalid input$/,
    );
    assert.equal(logs.filter((line) => line.startsWith('warn: refused malformed worker message')).length, 2);
  });

  it('reports a crash with the last lines and does not restart by itself', async () => {
    const worker = startWorker();
    await worker.request('ping', { payload: 'before' });
    const crashed = once(worker, 'crashed') as Promise<[WorkerCrashedError]>;
    const pid = worker.pid!;
    const pending = worker.request('backendInfo', {});
    process.kill(pid, 'SIGKILL');
    await assert.rejects(
      pending,
      (error: unknown) => error instanceof WorkerCrashedError && /SIGKILL/.test(error.message),
    );
    const [error] = await crashed;
    assert.match(error.message, /was killed by SIGKILL/);
    assert.ok(Array.isArray(error.lastLines));
    assert.equal(worker.state, 'crashed');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(worker.pid, undefined, 'the worker was restarted without a request');
    const reply = await worker.request('ping', { payload: 'after' });
    assert.notEqual(reply.pid, pid);
  });

  it('ends its whole process tree on stop', async () => {
    const worker = startWorker();
    const { pid } = await worker.request('ping', { payload: 'x' });
    await worker.stop();
    assert.equal(worker.state, 'stopped');
    assert.ok(await waitFor(() => !isAlive(pid), 5000));
  });

  it('exits when its parent dies', async () => {
    const folder = mkdtempSync(path.join(os.tmpdir(), 'synthpair-parent-'));
    mkdirSync(folder, { recursive: true });
    const parentScript = path.join(folder, 'parent.js');
    writeFileSync(
      parentScript,
      `const { fork } = require('node:child_process');
       const child = fork(${JSON.stringify(workerScript)}, [], {
         env: { ...process.env, ${workerLaunchEnvVar}: ${JSON.stringify(JSON.stringify(launch))} },
         stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
       });
       child.on('message', (m) => { if (m.event === 'ready') console.log(child.pid); });`,
    );
    const parent = spawn(process.execPath, [parentScript], { stdio: ['ignore', 'pipe', 'inherit'] });
    const [chunk] = (await once(parent.stdout!, 'data')) as [Buffer];
    const workerPid = Number(chunk.toString().trim());
    assert.ok(isAlive(workerPid));
    parent.kill('SIGKILL');
    assert.ok(await waitFor(() => !isAlive(workerPid), 5000), 'the worker outlived its parent');
  });
});
