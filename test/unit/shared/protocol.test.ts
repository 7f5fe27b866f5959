import assert from 'node:assert/strict';
import { describeWireError, RemoteError, toWireError } from '../../../src/shared/protocol/errors';
import { describeForLog, validateMessage } from '../../../src/shared/protocol/validate';
import { dashboardToHost, hostToDashboard } from '../../../src/shared/protocol/webview';
import { workerMethods, workerRequest, workerToHost } from '../../../src/shared/protocol/worker';
import { sampleReport } from '../../support/sampleReport';

describe('protocol guards', () => {
  describe('worker requests', () => {
    it('accepts a request for a known method', () => {
      const checked = validateMessage(workerRequest, {
        kind: 'request',
        id: 3,
        method: 'ping',
        params: { payload: 'x' },
      });
      assert.ok(checked.ok);
    });

    for (const [label, message, path] of [
      ['an unknown method', { kind: 'request', id: 1, method: 'format-disk', params: {} }, 'method'],
      ['a negative id', { kind: 'request', id: -1, method: 'ping', params: {} }, 'id'],
      ['a fractional id', { kind: 'request', id: 1.5, method: 'ping', params: {} }, 'id'],
      ['a wrong kind', { kind: 'response', id: 1, method: 'ping', params: {} }, 'kind'],
    ] as const) {
      it(`refuses ${label} and names the offending key`, () => {
        const checked = validateMessage(workerRequest, message);
        assert.ok(!checked.ok);
        assert.match(checked.reason, new RegExp(`^${path}:`));
      });
    }

    it('refuses things that are not objects', () => {
      for (const junk of [null, undefined, 42, 'ping', []]) {
        const checked = validateMessage(workerRequest, junk);
        assert.ok(!checked.ok, `accepted ${String(junk)}`);
        assert.match(checked.reason, /^\(message\):/);
      }
    });

    it('refuses a message carrying a prototype key anywhere, naming where, which zod would drop unseen', () => {
      // JSON.parse, as the IPC channel does, makes `__proto__` an own key; an object literal would not.
      const arrived = (params: string) =>
        JSON.parse(`{ "kind": "request", "id": 4, "method": "synthesize", "params": ${params} }`);
      for (const [params, path] of [
        [
          '{ "runDir": "r", "overrides": { "__proto__": { "polluted": true } } }',
          'params.overrides.__proto__',
        ],
        ['{ "runDir": "r", "overrides": {}, "constructor": { "prototype": {} } }', 'params.constructor'],
        [
          '{ "runDir": "r", "overrides": { "list": [{ "prototype": 1 }] } }',
          'params.overrides.list.0.prototype',
        ],
      ] as const) {
        const checked = validateMessage(workerRequest, arrived(params));
        assert.ok(!checked.ok, params);
        assert.match(
          checked.reason,
          new RegExp(`^${path.replaceAll('.', '\\.')}: a key named \\w+ is refused`),
        );
      }
      const hostBound = JSON.parse(
        '{ "kind": "response", "id": 4, "ok": true, "result": { "__proto__": {} } }',
      );
      assert.ok(!validateMessage(workerToHost, hostBound).ok);
    });

    it('walks a deep or cyclic message without overflowing the stack or looping', () => {
      const nested = (bottom: unknown) => {
        let value = bottom;
        for (let level = 0; level < 100_000; level++) value = { next: value };
        return { kind: 'request', id: 1, method: 'ping', params: value };
      };
      assert.ok(validateMessage(workerRequest, nested('bottom')).ok);
      const buried = validateMessage(workerRequest, nested({ constructor: 'at the bottom' }));
      assert.ok(!buried.ok);
      assert.match(
        buried.reason,
        /^params\.next\.next.*….*\.next\.constructor: a key named constructor is refused/,
      );
      assert.ok(buried.reason.length < 200, buried.reason);
      const cyclic: Record<string, unknown> = { payload: 'x' };
      cyclic.self = cyclic;
      assert.ok(validateMessage(workerMethods.ping.params, cyclic).ok);
    });

    it('checks parameters per method', () => {
      assert.ok(validateMessage(workerMethods.ping.params, { payload: 'hello' }).ok);
      const checked = validateMessage(workerMethods.ping.params, { payload: 7 });
      assert.ok(!checked.ok);
      assert.match(checked.reason, /^payload:/);
    });
  });

  describe('worker to host', () => {
    it('accepts responses, errors and events', () => {
      for (const message of [
        { kind: 'response', id: 1, ok: true, result: { anything: 1 } },
        { kind: 'response', id: 1, ok: false, error: { message: 'boom', causes: ['disk full'] } },
        { kind: 'event', event: 'ready', pid: 10 },
        { kind: 'event', event: 'log', level: 'info', message: 'hi' },
        { kind: 'event', event: 'progress', requestId: 2, message: 'halfway', fraction: 0.5 },
      ]) {
        const checked = validateMessage(workerToHost, message);
        assert.ok(checked.ok, JSON.stringify(message));
      }
    });

    it('refuses an error response without a message and a progress fraction above one', () => {
      assert.ok(!validateMessage(workerToHost, { kind: 'response', id: 1, ok: false, error: {} }).ok);
      assert.ok(
        !validateMessage(workerToHost, {
          kind: 'event',
          event: 'progress',
          requestId: 1,
          message: 'x',
          fraction: 2,
        }).ok,
      );
      assert.ok(
        !validateMessage(workerToHost, { kind: 'event', event: 'log', level: 'loud', message: 'x' }).ok,
      );
    });

    it('validates a backend report as the backendInfo result', () => {
      assert.ok(validateMessage(workerMethods.backendInfo.result, sampleReport()).ok);
      const broken = { ...sampleReport(), selected: 'tpu' };
      const checked = validateMessage(workerMethods.backendInfo.result, broken);
      assert.ok(!checked.ok);
      assert.match(checked.reason, /^selected:/);
    });
  });

  describe('webview messages', () => {
    it('accepts what the dashboard may say and refuses anything else', () => {
      assert.ok(validateMessage(dashboardToHost, { type: 'ready' }).ok);
      assert.ok(validateMessage(dashboardToHost, { type: 'refreshBackend' }).ok);
      assert.ok(!validateMessage(dashboardToHost, { type: 'runShell', command: 'rm -rf /' }).ok);
      assert.ok(!validateMessage(dashboardToHost, '{"type":"ready"}').ok);
    });

    it('accepts what the host may post to the dashboard', () => {
      assert.ok(validateMessage(hostToDashboard, { type: 'backendReport', report: sampleReport() }).ok);
      assert.ok(
        validateMessage(hostToDashboard, { type: 'workerState', state: 'crashed', detail: 'SIGKILL' }).ok,
      );
      assert.ok(!validateMessage(hostToDashboard, { type: 'workerState', state: 'exploded' }).ok);
    });
  });

  describe('errors across the border', () => {
    it('keeps the chain of causes', () => {
      const error = new Error('cannot start backend', {
        cause: new Error('wasm failed', { cause: 'no file' }),
      });
      const wire = toWireError(error);
      assert.equal(wire.message, 'cannot start backend');
      assert.deepEqual(wire.causes, ['wasm failed', 'no file']);
      assert.equal(describeWireError(wire), 'cannot start backend (cause: wasm failed ← no file)');
      const rebuilt = new RemoteError(wire);
      assert.equal(rebuilt.message, 'cannot start backend');
      assert.equal(rebuilt.cause, 'wasm failed ← no file');
    });

    it('turns thrown non-errors into messages', () => {
      assert.deepEqual(toWireError('plain string'), { message: 'plain string' });
    });
  });

  it('shortens refused payloads for logs', () => {
    const text = describeForLog({ big: 'x'.repeat(1000) });
    assert.ok(text.length <= 201);
    assert.ok(text.endsWith('…'));
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    assert.equal(describeForLog(circular), '[object Object]');
  });
});
