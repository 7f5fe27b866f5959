import assert from 'node:assert/strict';
import { createNonce, renderWebviewHtml } from '../../../src/host/webview/webviewHtml';

function policyOf(html: string): Map<string, string[]> {
  const content = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1];
  assert.ok(content, 'no Content-Security-Policy meta tag');
  return new Map(
    content.split(';').map((directive) => {
      const [name, ...sources] = directive.trim().split(/\s+/);
      return [name!, sources];
    }),
  );
}

describe('webview html', () => {
  const options = {
    title: 'Dash <board>',
    cspSource: 'https://file+.vscode-resource.vscode-cdn.net',
    scriptUri: 'https://file+.vscode-resource.vscode-cdn.net/ext/dist/webview/dashboard.js',
    styleUris: ['https://file+.vscode-resource.vscode-cdn.net/ext/media/webview.css'],
  };

  it('denies everything by default and lets only the nonce-carrying bundle run', () => {
    const html = renderWebviewHtml({ ...options, nonce: 'abc123' });
    const policy = policyOf(html);
    assert.deepEqual(policy.get('default-src'), ["'none'"]);
    assert.deepEqual(policy.get('script-src'), ["'nonce-abc123'"]);
    for (const sources of policy.values()) {
      assert.ok(!sources.includes("'unsafe-inline'"), 'unsafe-inline allowed');
      assert.ok(!sources.includes("'unsafe-eval'"), 'unsafe-eval allowed');
      assert.ok(
        !sources.some((source) => source === '*' || source === 'https:' || source === 'http:'),
        'remote sources allowed',
      );
    }
    assert.match(
      html,
      /<script nonce="abc123" src="https:\/\/file\+\.vscode-resource[^"]+dashboard\.js" defer><\/script>/,
    );
    assert.equal(html.match(/<script/g)?.length, 1);
  });

  it('uses a fresh nonce for every load', () => {
    const nonces = new Set(Array.from({ length: 50 }, () => createNonce()));
    assert.equal(nonces.size, 50);
    for (const nonce of nonces) {
      assert.match(nonce, /^[A-Za-z0-9_-]{24}$/);
    }
    const first = policyOf(renderWebviewHtml(options)).get('script-src');
    const second = policyOf(renderWebviewHtml(options)).get('script-src');
    assert.notDeepEqual(first, second);
  });

  it('escapes the title and resource addresses', () => {
    const html = renderWebviewHtml({ ...options, scriptUri: 'x" onload="alert(1)' });
    assert.match(html, /<title>Dash &lt;board&gt;<\/title>/);
    assert.ok(!html.includes('" onload="'));
  });
});
