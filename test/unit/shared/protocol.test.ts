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
