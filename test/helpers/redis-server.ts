/**
 * A real redis-server for tests: started on a free 127.0.0.1 port in a temporary directory,
 * stopped (and its directory removed) by stop(). No mocks of Redis. Where redis-server is not
 * installed, `redisAvailable()` says why, and suites skip with a visible line (never fail):
 * `apt-get install -y redis-server` (Debian) installs it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServerOptions {
  password?: string;
  appendonly?: boolean;
  /** Reuse this port and directory (a restart of the same server). */
  port?: number;
  dir?: string;
}

export interface RedisServer {
  readonly port: number;
  readonly dir: string;
  readonly url: string;
  readonly process: ChildProcess;
  /** SIGTERM (or the given signal), then wait for exit; `keepDir` keeps the data for a restart. */
  stop(signal?: NodeJS.Signals, keepDir?: boolean): Promise<void>;
}

let availability: string | null | undefined;
/** null when redis-server can be run, else the reason it cannot. */
export function redisUnavailableReason(): string | null {
  if (availability !== undefined) return availability;
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  availability = r.error !== undefined || r.status !== 0 ? `redis-server is not installed (${r.error?.message ?? `exit ${r.status}`}); apt-get install -y redis-server` : null;
  return availability;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export async function startRedis(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const reason = redisUnavailableReason();
  if (reason !== null) throw new Error(reason);
  const port = opts.port ?? (await freePort());
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'sabstate-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no', '--logfile', ''];
  args.push('--appendonly', opts.appendonly === true ? 'yes' : 'no');
  if (opts.password !== undefined) args.push('--requirepass', opts.password);
  const proc = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout!.on('data', (d) => { log += String(d); });
  proc.stderr!.on('data', (d) => { log += String(d); });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited at start (code ${proc.exitCode}):\n${log}`);
    if (/Ready to accept connections/.test(log) && (await canConnect(port))) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`redis-server did not start within 30 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const auth = opts.password === undefined ? '' : `:${encodeURIComponent(opts.password)}@`;
  return {
    port,
    dir,
    url: `redis://${auth}127.0.0.1:${port}`,
    process: proc,
    async stop(signal: NodeJS.Signals = 'SIGTERM', keepDir = false) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill(signal);
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      if (!keepDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
