import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { type BackendReport, backendNames } from '../../../src/shared/protocol/backend';
import type { DashboardToHost, HostToDashboard } from '../../../src/shared/protocol/webview';

import { api, nextMessage } from './support';

describe('SynthPair commands and engine worker', () => {
  it('contributes its commands to VS Code', async () => {
    await api();
    const commands = await vscode.commands.getCommands(true);
    for (const id of ['synthpair.showBackendInfo', 'synthpair.openDashboard']) {
      assert.ok(commands.includes(id), `${id} is not registered`);
    }
  });

  it('shows backend info selected by a real worker process', async () => {
    const { engine } = await api();
    const report = (await vscode.commands.executeCommand('synthpair.showBackendInfo')) as
      | BackendReport
      | undefined;
    assert.ok(report, 'the command reported no backend');
    // The install built the oneDNN addon (the test machine has a compiler and libdnnl-dev), so the worker
    // runs the native CPU kernels.
    const onednn = report.attempts.find((attempt) => attempt.name === 'onednn');
    assert.equal(report.selected, 'onednn', onednn?.reason);
    assert.ok(report.onednn?.nativeKernels.includes('Conv2DBackpropFilter'));
    assert.deepEqual(
      report.attempts.map((attempt) => attempt.name),
      [...backendNames],
    );
    assert.equal(report.attempts.filter((attempt) => attempt.outcome === 'selected').length, 1);
    assert.equal(engine.state, 'ready');
    assert.notEqual(engine.workerPid, process.pid);
  });

  it('round-trips a request through the worker', async () => {
    const { engine } = await api();
    const reply = await engine.ping('round trip');
    assert.equal(reply.payload, 'round trip');
    assert.equal(reply.pid, engine.workerPid);
  });

  it('reports a crashed worker and starts a fresh one only when asked again', async () => {
    const { engine } = await api();
    const before = await engine.ping('before');
    const crashed = new Promise<Error>((resolve) => engine.once('crashed', resolve));
    process.kill(before.pid, 'SIGKILL');
    const error = await crashed;
    assert.match(error.message, /killed by SIGKILL/);
    assert.equal(engine.state, 'crashed');
    const after = await engine.ping('after');
    assert.notEqual(after.pid, before.pid);
  });

  it('follows the synthpair.backend setting when the worker starts', async () => {
    const { engine } = await api();
    const configuration = vscode.workspace.getConfiguration('synthpair');
    await configuration.update('backend', 'cpu', vscode.ConfigurationTarget.Global);
    try {
      const report = await engine.backendReport({ restart: true });
      assert.equal(report.selected, 'cpu');
      assert.equal(report.preference, 'cpu');
    } finally {
      await configuration.update('backend', undefined, vscode.ConfigurationTarget.Global);
      await engine.backendReport({ restart: true });
    }
  });

  it('opens the dashboard, which asks for and receives the backend report', async () => {
    const synthpair = await api();
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await vscode.commands.executeCommand('synthpair.openDashboard');
    const dashboard = synthpair.currentDashboard();
    assert.ok(dashboard, 'no dashboard panel');
    const ready = nextMessage<DashboardToHost>(
      dashboard.onDidReceiveMessage,
      (message) => message.type === 'ready',
    );
    const report = nextMessage<HostToDashboard>(
      dashboard.onDidPostMessage,
      (message) => message.type === 'backendReport',
    );
    await ready;
    const posted = await report;
    assert.equal(posted.type, 'backendReport');
    assert.equal(dashboard.panel.viewType, 'synthpair.dashboard');
    assert.equal(dashboard.panel.title, 'SynthPair Dashboard');
    await vscode.commands.executeCommand('synthpair.openDashboard');
    assert.equal(
      synthpair.currentDashboard(),
      dashboard,
      'a second panel was opened instead of revealing the first',
    );
    dashboard.dispose();
    assert.equal(synthpair.currentDashboard(), undefined);
  });
});
