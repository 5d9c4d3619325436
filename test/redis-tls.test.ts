// The AsyncEngine conformance suite (test/conformance.ts) over TLS with a password: a real
// redis-server listening on `--tls-port` with a certificate signed by a self-signed CA that
// `openssl` makes in the server's temporary directory (support/redis-server.ts), reached at
// rediss://:password@127.0.0.1:<tlsPort> with `tls: { ca }`. Then what must fail, and how: a
// wrong password, a CA the client does not trust, a refused connection: each ERR_CONNECTION, and
// no credential in the message, the stack, the JSON of the error, or stats(). Skipped with a
// visible line where redis-server or openssl is missing, or redis-server was built without TLS.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { skipRedisSuite } from './helpers/redis-skip.ts';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SabStateError, createRedisEngine, type AsyncEngine } from '../src/index.ts';
import { CONFORMANCE_GENERAL, conformance } from './conformance.ts';
import { NoTlsError, type RedisServer, freePort, startRedis, tlsUnavailableReason } from '../support/redis-server.ts';

const PASSWORD = 'tls-p@ss:w0rd{x}';

const skip = (reason: string): void => skipRedisSuite('redis over TLS', reason);

/** The error `p` rejects with (fails if it resolves). */
async function failure(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.unreachable('expected a rejection');
  return undefined;
}

/** Asserts that `e` is ERR_CONNECTION and that no secret appears anywhere in it. */
function connectionErrorWithout(e: unknown, secrets: string[]): void {
  assert.ok(e instanceof SabStateError && e.code === 'ERR_CONNECTION', `expected ERR_CONNECTION, got ${String(e)}`);
  const text = `${(e as Error).message}\n${(e as Error).stack}\n${JSON.stringify(e)}\n${String((e as { cause?: unknown }).cause ?? '')}`;
  for (const s of secrets) assert.not.ok(text.includes(s), `the error carries a credential (${s.length} chars): ${text}`);
}

const why = tlsUnavailableReason();
let server: RedisServer | undefined;
if (why !== null) skip(why);
else {
  try {
    server = await startRedis({ password: PASSWORD, tls: true });
  } catch (e) {
    if (!(e instanceof NoTlsError)) throw e;
    skip(e.message);
  }
}

if (server !== undefined) {
  const srv = server;
  const ca = readFileSync(srv.caFile!);
  const url = srv.tlsUrl!;
  assert.ok(url.startsWith('rediss://'), url);
  conformance('Redis over TLS (rediss://) with a password', async () => {
    const opts = { url, tls: { ca }, keyPrefix: `tls:${randomBytes(6).toString('hex')}:`, lockTtlMs: 5000, general: CONFORMANCE_GENERAL };
    const a = await createRedisEngine(opts);
    const b = await createRedisEngine(opts);
    return { a, b, close: async () => { await a.close(); await b.close(); } };
  });

  const s = suite('redis over TLS: failures keep the credentials out');
  const secrets = [PASSWORD, encodeURIComponent(PASSWORD)];

  s('the engine talks TLS (stats say rediss://, no password)', async () => {
    const e: AsyncEngine = await createRedisEngine({ url, tls: { ca }, keyPrefix: 'tls-stats:' });
    try {
      await e.departed.mark('d', 1);
      assert.is(await e.departed.has('d'), true);
      const stats = JSON.stringify(await e.stats());
      assert.match(stats, `rediss://127.0.0.1:${srv.tlsPort}`);
      for (const x of secrets) assert.not.ok(stats.includes(x), 'stats carry the password');
    } finally {
      await e.close();
    }
  });

  s('a wrong password over TLS: ERR_CONNECTION, neither password in the error', async () => {
    const wrong = 'Wr0ng-tls-Secret';
    const e = await failure(createRedisEngine({ url: `rediss://:${wrong}@127.0.0.1:${srv.tlsPort}`, tls: { ca }, keyPrefix: 'x:' }));
    connectionErrorWithout(e, [wrong, ...secrets]);
  });

  s('a CA the client does not trust: ERR_CONNECTION, no password in the error', async () => {
    const e = await failure(createRedisEngine({ url, keyPrefix: 'x:' }));
    connectionErrorWithout(e, secrets);
  });

  s('a refused connection (nothing listens): ERR_CONNECTION, no password in the error', async () => {
    const port = await freePort();
    const e = await failure(createRedisEngine({ url: `rediss://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${port}`, tls: { ca }, keyPrefix: 'x:' }));
    connectionErrorWithout(e, secrets);
    assert.match((e as Error).message, `127.0.0.1:${port}`);
  });

  s('plain TCP to the TLS port: ERR_CONNECTION, no password in the error', async () => {
    const e = await failure(createRedisEngine({ url: `redis://:${encodeURIComponent(PASSWORD)}@127.0.0.1:${srv.tlsPort}`, keyPrefix: 'x:' }));
    connectionErrorWithout(e, secrets);
  });

  s('options.tls needs a rediss:// URL', async () => {
    const e = await failure(createRedisEngine({ url: srv.url, tls: { ca } }));
    assert.instance(e, TypeError);
  });

  const stop = suite('redis over TLS: stop');
  stop('stop the server', async () => {
    await srv.stop();
  });
  s.run();
  stop.run();
}
