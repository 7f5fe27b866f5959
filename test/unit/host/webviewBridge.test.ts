import assert from 'node:assert/strict';
import { WebviewBridge, type WebviewProtocol } from '../../../src/host/webview/webviewBridge';
import {
  type HeatmapEditorToHost,
  type HostToHeatmapEditor,
  heatmapEditorToHost,
  hostToHeatmapEditor,
} from '../../../src/shared/protocol/heatmapEditor';
import {
  type DashboardToHost,
  dashboardToHost,
  type HostToDashboard,
  hostToDashboard,
} from '../../../src/shared/protocol/webview';

const dashboard: WebviewProtocol<DashboardToHost, HostToDashboard> = {
  name: 'Dashboard',
  toHost: dashboardToHost,
  toWebview: hostToDashboard,
};

const heatmapEditor: WebviewProtocol<HeatmapEditorToHost, HostToHeatmapEditor> = {
  name: 'Heatmap editor',
  toHost: heatmapEditorToHost,
  toWebview: hostToHeatmapEditor,
};

/** A bridge whose webview, handler, observers and log are arrays to look at. */
function bridgeOf<ToHost extends { type: string }, ToWebview extends { type: string }>(
  protocol: WebviewProtocol<ToHost, ToWebview>,
  handle: (message: ToHost) => Promise<void> | void = () => undefined,
) {
  const seen = {
    delivered: [] as unknown[],
    handled: [] as ToHost[],
    received: [] as ToHost[],
    posted: [] as ToWebview[],
    warnings: [] as string[],
    errors: [] as string[],
    /** What happened to each message, in order. */
    order: [] as string[],
  };
  const bridge = new WebviewBridge(protocol, {
    deliver: async (message) => {
      seen.delivered.push(message);
      return true;
    },
    handle: (message) => {
      seen.handled.push(message);
      seen.order.push(`handled ${message.type}`);
      return handle(message);
    },
    received: (message) => {
      seen.received.push(message);
      seen.order.push(`received ${message.type}`);
    },
    posted: (message) => {
      seen.posted.push(message);
      seen.order.push(`posted ${message.type}`);
    },
    log: { warn: (line) => seen.warnings.push(line), error: (line) => seen.errors.push(line) },
  });
  return { bridge, seen };
}

describe('webview bridge: what crosses between the host and a webview', () => {
  it('hands a message the protocol allows to its handler, after telling the observers', async () => {
    const { bridge, seen } = bridgeOf(dashboard);
    await bridge.receive({ type: 'selectRun', runDir: '/runs/a' });
    assert.deepEqual(seen.handled, [{ type: 'selectRun', runDir: '/runs/a' }]);
    assert.deepEqual(seen.received, seen.handled);
    assert.deepEqual(seen.order, ['received selectRun', 'handled selectRun']);
    assert.deepEqual(seen.warnings, []);
  });

  it('refuses what the protocol does not allow, naming the webview, the offending path and the message', async () => {
    const { bridge, seen } = bridgeOf(dashboard);
    await bridge.receive({ type: 'selectRun', runDir: 42 });
    await bridge.receive({ type: 'deleteEverything' });
    await bridge.receive('ready');
    await bridge.receive(undefined);
    assert.deepEqual(seen.handled, []);
    assert.deepEqual(seen.received, []);
    assert.equal(seen.warnings.length, 4);
    assert.match(
      seen.warnings[0]!,
      /^Dashboard: refused malformed message \(runDir: .+\): \{"type":"selectRun"/,
    );
    assert.match(seen.warnings[1]!, /deleteEverything/);
  });

  it('logs only the start of a large refused message', async () => {
    const { bridge, seen } = bridgeOf(dashboard);
    await bridge.receive({
      type: 'saveExport',
      suggestedName: 'x.png',
      format: 'png',
      base64: '!'.repeat(1e6),
    });
    assert.equal(seen.warnings.length, 1);
    assert.ok(seen.warnings[0]!.length < 500, `${seen.warnings[0]!.length} characters logged`);
  });

  it('checks each webview against its own protocol', async () => {
    const { bridge, seen } = bridgeOf(heatmapEditor);
    await bridge.receive({ type: 'ready' });
    await bridge.receive({ type: 'ready', configFile: null });
    assert.deepEqual(seen.handled, [{ type: 'ready', configFile: null }]);
    assert.match(seen.warnings[0]!, /^Heatmap editor: refused malformed message \(configFile: /);
  });

  it('logs a handler’s failure with the message’s type instead of rejecting', async () => {
    const { bridge, seen } = bridgeOf(dashboard, async () => {
      throw new Error('the document is gone');
    });
    await bridge.receive({ type: 'openConfig' });
    assert.deepEqual(seen.errors, ['Dashboard: openConfig failed: the document is gone']);
  });

  it('delivers a message the protocol allows, as the protocol reads it, and remembers it', async () => {
    const { bridge, seen } = bridgeOf(dashboard);
    assert.equal(bridge.lastPosted, undefined);
    const withStrayField = {
      type: 'showTab',
      tab: 'pairs',
      secret: 'not for the webview',
    } as HostToDashboard;
    await bridge.post(withStrayField);
    assert.deepEqual(seen.delivered, [{ type: 'showTab', tab: 'pairs' }]);
    assert.deepEqual(seen.posted, seen.delivered);
    assert.deepEqual(bridge.lastPosted, { type: 'showTab', tab: 'pairs' });
  });

  it('does not send a message that breaks the protocol, and says so', async () => {
    const { bridge, seen } = bridgeOf(heatmapEditor);
    await bridge.post({ type: 'noExperiment', image: 'bird.png' });
    await bridge.post({ type: 'noExperiment' } as HostToHeatmapEditor);
    assert.deepEqual(seen.delivered, [{ type: 'noExperiment', image: 'bird.png' }]);
    assert.deepEqual(seen.posted, seen.delivered);
    assert.deepEqual(bridge.lastPosted, { type: 'noExperiment', image: 'bird.png' });
    assert.equal(seen.errors.length, 1);
    assert.match(seen.errors[0]!, /^Heatmap editor: not sending an invalid message \(image: /);
  });
});
