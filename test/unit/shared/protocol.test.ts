import assert from 'node:assert/strict';
import { describeWireError, RemoteError, toWireError } from '../../../src/shared/protocol/errors';
import { describeForLog, validateMessage } from '../../../src/shared/protocol/validate';
import { dashboardToHost, hostToDashboard } from '../../../src/shared/protocol/webview';
import {
  asPlainBytes,
  perturbedSynthesis,
  type SynthesisResultMessage,
  synthesisResult,
  workerMethods,
  workerRequest,
  workerToHost,
} from '../../../src/shared/protocol/worker';
import { pairGrid } from '../../support/pairGrid';
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

  describe('pair grids as bytes', () => {
    /** 2 probes of 4 × 4 pixels and 3 copies of each. */
    function grid(overrides: Partial<SynthesisResultMessage> = {}): SynthesisResultMessage {
      return pairGrid(
        { probes: 2, imageSize: 4, samples: 3 },
        { perturbed: new Uint8Array(3 * 2 * 4 * 4 * 3).fill(7), ...overrides },
      );
    }

    it('takes the pixels as Uint8Arrays, the same bytes on both borders', () => {
      const sent = grid();
      const checked = validateMessage(workerMethods.synthesize.result, sent);
      assert.ok(checked.ok, checked.ok ? '' : checked.reason);
      assert.ok(!checked.value.cancelled);
      assert.equal(checked.value.perturbed, sent.perturbed);
      const message = { type: 'synthesis', requestId: 4, version: 2, baseId: 1, result: sent };
      assert.ok(validateMessage(hostToDashboard, message).ok);
      // As VS Code delivers it to the webview: a structured clone.
      assert.ok(validateMessage(hostToDashboard, structuredClone(message)).ok);
    });

    it('carries a grid that reuses the base before it without originals and reconstructions, whole tiles still', () => {
      const { originals: _originals, reconstructions: _reconstructions, ...perturbed } = grid();
      const message = { type: 'synthesisSameBase', requestId: 5, version: 3, baseId: 1, result: perturbed };
      assert.ok(validateMessage(hostToDashboard, structuredClone(message)).ok);
      const torn = validateMessage(perturbedSynthesis, { ...perturbed, perturbed: new Uint8Array(10) });
      assert.ok(!torn.ok);
      assert.equal(torn.reason, 'perturbed: holds 10 bytes, not the 288 of 6 tiles of 4 × 4 × 3');
      // A whole grid must carry every array.
      assert.ok(!validateMessage(synthesisResult, perturbed).ok);
    });

    it('refuses pixels as base64 text, naming the key', () => {
      const checked = validateMessage(synthesisResult, {
        ...grid(),
        originals: Buffer.from(grid().originals).toString('base64'),
      });
      assert.ok(!checked.ok);
      assert.match(checked.reason, /^originals: expected the pixels as a plain Uint8Array/);
    });

    it('refuses a Node Buffer, which VS Code would post to a webview as JSON numbers', () => {
      const checked = validateMessage(synthesisResult, { ...grid(), perturbed: Buffer.alloc(3 * 2 * 48) });
      assert.ok(!checked.ok);
      assert.match(checked.reason, /^perturbed: expected the pixels as a plain Uint8Array/);
    });

    it('refuses arrays that do not hold whole tiles of the stated size, with both sizes', () => {
      for (const [field, overrides] of [
        ['perturbed', { samples: 4 }],
        ['originals', { originals: new Uint8Array(95) }],
        ['reconstructions', { reconstructions: new Uint8Array(0) }],
      ] as const) {
        const checked = validateMessage(synthesisResult, grid(overrides));
        assert.ok(!checked.ok, field);
        assert.match(
          checked.reason,
          new RegExp(`^${field}: holds \\d+ bytes, not the \\d+ of \\d+ tiles of 4 × 4 × 3$`),
        );
      }
      const checked = validateMessage(synthesisResult, grid({ samples: 4 }));
      assert.ok(!checked.ok);
      assert.equal(checked.reason, 'perturbed: holds 288 bytes, not the 384 of 8 tiles of 4 × 4 × 3');
    });

    it('views a Buffer’s bytes as a plain Uint8Array without copying them', () => {
      const file = Buffer.from([1, 2, 3, 4, 5]).subarray(1, 4);
      const bytes = asPlainBytes(file);
      assert.equal(Object.getPrototypeOf(bytes), Uint8Array.prototype);
      assert.deepEqual([...bytes], [2, 3, 4]);
      assert.equal(bytes.buffer, file.buffer);
      const plain = new Uint8Array(3);
      assert.equal(asPlainBytes(plain), plain);
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

  it('logs pixels by type and size, not byte by byte', () => {
    assert.equal(
      describeForLog({ perturbed: new Uint8Array(786_432), originals: Buffer.alloc(3) }),
      '{"perturbed":"Uint8Array(786432 bytes)","originals":"Buffer(3 bytes)"}',
    );
  });
});
