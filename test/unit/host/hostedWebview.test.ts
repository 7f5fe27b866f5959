import assert from 'node:assert/strict';
import type * as HostedWebviewModule from '../../../src/host/webview/hostedWebview';
import {
  type DashboardToHost,
  dashboardToHost,
  type HostToDashboard,
  hostToDashboard,
} from '../../../src/shared/protocol/webview';
import { FakeEventEmitter, FakeUri, substituteVscode } from '../../support/fakeVscode';

/** Just enough of the `vscode` API for the webview base. */
const fakeVscode = { EventEmitter: FakeEventEmitter, Uri: FakeUri };

const cspSource = 'https://webview.synthpair.test';

/** A panel as VS Code hands it over: no options, no page, and a webview that records what it is sent. */
function fakePanel() {
  const fromWebview = new FakeEventEmitter<unknown>();
  const disposed = new FakeEventEmitter<void>();
  const sent: unknown[] = [];
  const webview = {
    options: {} as { enableScripts?: boolean; localResourceRoots?: readonly FakeUri[] },
    html: '',
    cspSource,
    asWebviewUri: (uri: FakeUri) => ({ toString: () => `${cspSource}${uri.fsPath}` }),
    postMessage: async (message: unknown) => {
      sent.push(message);
      return true;
    },
    onDidReceiveMessage: fromWebview.event,
  };
  let isDisposed = false;
  const panel = {
    webview,
    iconPath: undefined as FakeUri | undefined,
    onDidDispose: disposed.event,
    // As in VS Code, a panel disposes once; the base disposes it again when told it was closed.
    dispose: () => {
      if (isDisposed) return;
      isDisposed = true;
      disposed.fire();
    },
  };
  return { panel, sent, fromWebview, disposed };
}

type FakePanel = ReturnType<typeof fakePanel>['panel'];
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('hosted webview: the base of the dashboard and the heat-map editor', () => {
  let restoreVscode: () => void;
  const extensionUri = new FakeUri('/ext');
  const warnings: string[] = [];
  const output = {
    warn: (line: string) => warnings.push(line),
    error: (line: string) => warnings.push(line),
  };
  let open: (
    panel: FakePanel,
    resourceRoots?: FakeUri[],
  ) => InstanceType<ReturnType<typeof defineTestWebview>>;

  /** The base, with a handler that keeps what it is given and the protected members made reachable. */
  function defineTestWebview(Base: typeof HostedWebviewModule.HostedWebview) {
    return class TestWebview extends Base<DashboardToHost, HostToDashboard> {
      readonly handled: DashboardToHost[] = [];
      constructor(panel: FakePanel, resourceRoots?: FakeUri[]) {
        super(panel as never, {
          protocol: { name: 'Dashboard', toHost: dashboardToHost, toWebview: hostToDashboard },
          extensionUri: extensionUri as never,
          output: output as never,
          bundle: 'dashboard',
          title: 'SynthPair <Dashboard>',
          ...(resourceRoots ? { resourceRoots: resourceRoots as never } : {}),
        });
      }
      protected async handle(message: DashboardToHost): Promise<void> {
        this.handled.push(message);
      }
      send(message: HostToDashboard): Promise<void> {
        return this.post(message);
      }
      allow(folder: string): void {
        this.allowResourcesOf(folder);
      }
    };
  }

  before(() => {
    restoreVscode = substituteVscode(fakeVscode);
    const { HostedWebview } =
      require('../../../src/host/webview/hostedWebview') as typeof HostedWebviewModule;
    const TestWebview = defineTestWebview(HostedWebview);
    open = (panel, resourceRoots) => new TestWebview(panel, resourceRoots);
  });

  after(() => restoreVscode());

  beforeEach(() => {
    warnings.length = 0;
  });

  it('runs its bundle under the CSP, reading only the extension’s assets and the folders it is given', () => {
    const { panel } = fakePanel();
    open(panel, [new FakeUri('/workspace')]);
    assert.equal(panel.webview.options.enableScripts, true);
    assert.deepEqual(
      panel.webview.options.localResourceRoots?.map((root) => root.fsPath),
      ['/ext/dist/webview', '/ext/media', '/workspace'],
    );
    assert.equal(panel.iconPath?.fsPath, '/ext/media/icon.png');
    const html = panel.webview.html;
    assert.match(html, /Content-Security-Policy/);
    assert.match(
      html,
      /<script nonce="[^"]+" src="https:\/\/webview\.synthpair\.test\/ext\/dist\/webview\/dashboard\.js"/,
    );
    assert.match(html, /href="https:\/\/webview\.synthpair\.test\/ext\/media\/webview\.css"/);
    assert.match(html, /href="https:\/\/webview\.synthpair\.test\/ext\/dist\/webview\/dashboard\.css"/);
    assert.match(html, /<title>SynthPair &lt;Dashboard&gt;<\/title>/);
  });

  it('handles and reports the webview’s messages the protocol allows, and refuses the others', async () => {
    const { panel, fromWebview } = fakePanel();
    const webview = open(panel);
    const reported: DashboardToHost[] = [];
    webview.onDidReceiveMessage((message) => reported.push(message));
    fromWebview.fire({ type: 'setLocked', locked: true });
    fromWebview.fire({ type: 'setLocked', locked: 'yes' });
    await settle();
    assert.deepEqual(webview.handled, [{ type: 'setLocked', locked: true }]);
    assert.deepEqual(reported, webview.handled);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /^Dashboard: refused malformed message \(locked: /);
  });

  it('posts only what the protocol allows to the webview, and reports and remembers it', async () => {
    const { panel, sent } = fakePanel();
    const webview = open(panel);
    const reported: HostToDashboard[] = [];
    webview.onDidPostMessage((message) => reported.push(message));
    await webview.send({ type: 'workerState', state: 'ready' });
    await webview.send({ type: 'workerState', state: 'asleep' } as unknown as HostToDashboard);
    assert.deepEqual(sent, [{ type: 'workerState', state: 'ready' }]);
    assert.deepEqual(reported, sent);
    assert.deepEqual(webview.lastPosted, { type: 'workerState', state: 'ready' });
    assert.equal(warnings.length, 1);
  });

  it('lets the webview read a folder outside its roots once it is asked to', () => {
    const { panel } = fakePanel();
    const webview = open(panel, [new FakeUri('/workspace')]);
    webview.allow('/workspace/.synthpair/runs/a');
    webview.allow('/elsewhere/runs/b');
    webview.allow('/elsewhere/runs/b');
    assert.deepEqual(
      panel.webview.options.localResourceRoots?.map((root) => root.fsPath),
      ['/ext/dist/webview', '/ext/media', '/workspace', '/elsewhere/runs/b'],
    );
    assert.equal(panel.webview.options.enableScripts, true);
  });

  it('stops listening to the webview once its panel is closed', async () => {
    const { panel, fromWebview, disposed } = fakePanel();
    const webview = open(panel);
    assert.equal(fromWebview.listenerCount, 1);
    panel.dispose();
    assert.equal(fromWebview.listenerCount, 0);
    assert.equal(disposed.listenerCount, 0);
    fromWebview.fire({ type: 'ready' });
    await settle();
    assert.deepEqual(webview.handled, []);
  });
});
