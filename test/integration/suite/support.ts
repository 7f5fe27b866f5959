import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { SynthPairApi } from '../../../src/host/extension';
import type { RunEnding, RunRequest } from '../../../src/host/runs/runController';

const EXTENSION_ID = 'synthpair.synthpair';
/** Written by the runner next to the workspace's tiny dataset: trains in seconds. */
const tinyConfigName = 'tiny.synthpair.json';

export function extensionOf(): vscode.Extension<SynthPairApi> {
  const extension = vscode.extensions.getExtension<SynthPairApi>(EXTENSION_ID);
  assert.ok(extension, `${EXTENSION_ID} is not loaded in the extension host`);
  return extension;
}

export async function api(): Promise<SynthPairApi> {
  return extensionOf().activate();
}

export function workspaceFile(name: string): vscode.Uri {
  const folder = vscode.workspace.workspaceFolders?.[0];
  assert.ok(folder, 'the suite runs in a workspace folder');
  return vscode.Uri.joinPath(folder.uri, name);
}

export function tinyConfigUri(): vscode.Uri {
  return workspaceFile(tinyConfigName);
}

export function ended(
  synthpair: SynthPairApi,
  id: number,
  timeoutMs = 120_000,
): Promise<{ ending: RunEnding; runDir?: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`run ${id} did not end within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onEnded = (request: RunRequest, ending: RunEnding, runDir: string | undefined) => {
      if (request.id !== id) return;
      clearTimeout(timer);
      synthpair.controller.off('ended', onEnded);
      resolve({ ending, ...(runDir === undefined ? {} : { runDir }) });
    };
    synthpair.controller.on('ended', onEnded);
  });
}

export async function until<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  what: string,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export function finished(ending: RunEnding) {
  if (ending.kind !== 'finished') {
    throw new Error(
      `the run ended ${ending.kind}${ending.kind === 'failed' ? `: ${ending.error.message}` : ''}`,
    );
  }
  return ending.result;
}

/** The next event that `accept`s, e.g. a message a panel posts or receives. */
export function nextMessage<T>(
  event: vscode.Event<T>,
  accept: (message: T) => boolean,
  timeoutMs = 30_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      subscription.dispose();
      reject(new Error(`no matching message within ${timeoutMs} ms`));
    }, timeoutMs);
    const subscription = event((message) => {
      if (accept(message)) {
        clearTimeout(timer);
        subscription.dispose();
        resolve(message);
      }
    });
  });
}
