import assert from 'node:assert/strict';
import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WorkerCrashedError, WorkerProcess } from '../../../src/host/workers/workerProcess';
import { RemoteError } from '../../../src/shared/protocol/errors';
import { type WorkerLaunchOptions, workerLaunchEnvVar } from '../../../src/shared/protocol/worker';
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
      assert.ok(refusals.some((text) => /refused malformed request \(method:/.test(text)));
      assert.ok(refusals.some((text) => /refused malformed request \(\(message\):/.test(text)));
    } finally {
      child.kill('SIGKILL');
    }
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
