import assert from 'node:assert/strict';
import * as vscode from 'vscode';

const EXTENSION_ID = 'synthpair.synthpair';

describe('SynthPair activation', () => {
  it(`loads ${EXTENSION_ID} and activates it`, async () => {
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(extension, `${EXTENSION_ID} is not loaded in the extension host`);
    const api = (await extension.activate()) as { activationMs: number };
    assert.equal(extension.isActive, true);
    // Reported, not asserted: a timing depends on the machine (docs: "activation time").
    console.log(`    activation took ${api.activationMs.toFixed(1)} ms`);
  });
});

describe('integration harness', () => {
  // Proves that a command throwing inside the extension host reaches the test as a rejection instead of
  // being swallowed, so tests that execute SynthPair's commands see their failures.
  it('rejects executeCommand with the error a command throws', async () => {
    const commandId = 'synthpair.integrationTest.throwingCommand';
    const registration = vscode.commands.registerCommand(commandId, () => {
      throw new Error('deliberate failure from a test command');
    });
    try {
      await assert.rejects(Promise.resolve(vscode.commands.executeCommand(commandId)), {
        message: 'deliberate failure from a test command',
      });
    } finally {
      registration.dispose();
    }
  });
});
