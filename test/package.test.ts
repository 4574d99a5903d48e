// The package as users get it: `import ... from 'burrow'` from the repository itself
// (after `npm ci`, whose `prepare` builds dist/), and `burrow/testing`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

describe('package exports', () => {
  it("import { open } from 'burrow' resolves to the built library", async () => {
    const mod = (await import('burrow')) as Record<string, unknown>;
    assert.equal(typeof mod['open'], 'function');
    assert.equal(typeof mod['StreamRef'], 'function');
    assert.equal(typeof mod['BurrowError'], 'function');
  });

  it("burrow/testing exports the test servers", async () => {
    const mod = (await import('burrow/testing')) as Record<string, unknown>;
    for (const name of ['createTestPki', 'startOrigin', 'startScriptedServer', 'startConnectProxy', 'startH2ConnectProxy', 'startSocks5Server', 'startEchoServer']) {
      assert.equal(typeof mod[name], 'function', name);
    }
  });
});
