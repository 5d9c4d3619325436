/**
 * A real redis-server on a free 127.0.0.1 port in a temporary directory, stopped (and its
 * directory removed) by stop(): the one launcher of the repository, used by the tests
 * (test/redis-*.test.ts, test/bench-peers.test.ts), the Redis demo (examples/redis/main.ts) and
 * the benchmarks (bench/peers/redis-store.ts, bench/workers/order-path-redis-engine.ts). Not
 * shipped (package.json `files` lists dist only). No mocks of Redis. Where redis-server is not
 * installed, `redisUnavailableReason()` says why, and suites skip with a visible line (never
 * fail): `apt-get install -y redis-server` (Debian) installs it.
 *
 * `tls`: the server also listens with TLS on `tlsPort` (`--tls-port`, certificates made by
 * `openssl` in the server's directory: a self-signed CA and a server certificate for 127.0.0.1);
 * `tlsUnavailableReason()` says why it cannot (openssl missing, a redis-server built without TLS).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServerOptions {
  /** The binary (default: redis-server from PATH). */
  bin?: string;
  password?: string;
  /** Also listen with TLS (tlsPort, rediss://); the CA certificate is `caFile`. */
  tls?: boolean;
  /**
   * A one-node Redis Cluster: `--cluster-enabled yes`, every slot assigned to this node
   * (CLUSTER ADDSLOTSRANGE 0 16383) before startRedis resolves. The server then enforces the
   * cluster's rules (CROSSSLOT: a command's or a script's keys in one hash slot).
   */
  cluster?: boolean;
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
  /** redis-server's version (INFO-free: from --version). */
  readonly version: string;
  /** With `tls`: the TLS port, its rediss:// URL (password included) and the CA certificate's path. */
  readonly tlsPort?: number;
  readonly tlsUrl?: string;
  readonly caFile?: string;
  /** SIGTERM (or the given signal), then wait for exit; `keepDir` keeps the data for a restart. */
  stop(signal?: NodeJS.Signals, keepDir?: boolean): Promise<void>;
}

const availability = new Map<string, { reason: string | null; version: string }>();
function probe(bin: string): { reason: string | null; version: string } {
  let a = availability.get(bin);
  if (a === undefined) {
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    const reason = r.error !== undefined || r.status !== 0 ? `${bin} is not installed (${r.error?.message ?? `exit ${r.status}`}); apt-get install -y redis-server` : null;
    a = { reason, version: /v=(\S+)/.exec(r.stdout ?? '')?.[1] ?? '?' };
    availability.set(bin, a);
  }
  return a;
}
/** null when redis-server (or `bin`) can be run, else the reason it cannot. */
export function redisUnavailableReason(bin = 'redis-server'): string | null {
  return probe(bin).reason;
}

/**
 * null when openssl can make the certificates of a TLS server, else why not. Whether this
 * redis-server was built with TLS shows at start: a build without it refuses `--tls-port`
 * ("Bad directive"), and startRedis({ tls: true }) throws a NoTlsError.
 */
export function tlsUnavailableReason(bin = 'redis-server'): string | null {
  const r = redisUnavailableReason(bin);
  if (r !== null) return r;
  const o = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  if (o.error !== undefined || o.status !== 0) return `openssl is not installed (${o.error?.message ?? `exit ${o.status}`})`;
  return null;
}

/** startRedis({ tls: true }) on a redis-server built without TLS. */
export class NoTlsError extends Error {}

/** Makes a self-signed CA and a server certificate for 127.0.0.1 in `dir` (openssl). */
function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const f = (n: string): string => join(dir, n);
  const run = (args: string[]): void => {
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.error?.message ?? r.stderr}`);
  };
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=sabstate test CA']);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1']);
  writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  run(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('server.crt'), '-days', '2', '-extfile', f('ext.cnf')]);
  return { ca: f('ca.crt'), cert: f('server.crt'), key: f('server.key') };
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

/** Sends one command (RESP, after AUTH when a password is given) and resolves to the raw reply. */
function command(port: number, password: string | undefined, cmd: string[]): Promise<string> {
  const resp = (a: string[]): string => `*${a.length}\r\n${a.map((x) => `$${Buffer.byteLength(x)}\r\n${x}\r\n`).join('')}`;
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    const want = password === undefined ? 1 : 2;
    s.on('data', (d) => {
      out += String(d);
      // a reply is complete when the last one's length is in: simple replies end with \r\n, bulk ones with their length
      const replies = out.split(/\r\n(?=[+\-$:*])/).length;
      const m = /\$(\d+)\r\n/.exec(out.slice(out.lastIndexOf('$')));
      const bulkDone = m === null || out.length >= out.lastIndexOf('$') + m[0].length + Number(m[1]) + 2;
      if (replies >= want && out.endsWith('\r\n') && bulkDone) {
        s.destroy();
        if (/^-|\r\n-/.test(out)) reject(new Error(`${cmd.join(' ')}: ${out.trim()}`));
        else resolve(out);
      }
    });
    s.once('error', reject);
    s.write((password === undefined ? '' : resp(['AUTH', password])) + resp(cmd));
  });
}

export async function startRedis(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const bin = opts.bin ?? 'redis-server';
  const reason = redisUnavailableReason(bin);
  if (reason !== null) throw new Error(reason);
  const port = opts.port ?? (await freePort());
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'sabstate-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no', '--logfile', ''];
  args.push('--appendonly', opts.appendonly === true ? 'yes' : 'no');
  if (opts.password !== undefined) args.push('--requirepass', opts.password);
  let tls: { port: number; ca: string } | undefined;
  if (opts.tls === true) {
    const c = makeCertificates(dir);
    tls = { port: await freePort(), ca: c.ca };
    args.push('--tls-port', String(tls.port), '--tls-cert-file', c.cert, '--tls-key-file', c.key, '--tls-ca-cert-file', c.ca, '--tls-auth-clients', 'no');
  }
  if (opts.cluster === true) args.push('--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'));
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout!.on('data', (d) => { log += String(d); });
  proc.stderr!.on('data', (d) => { log += String(d); });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) {
      rmSync(dir, { recursive: true, force: true });
      if (tls !== undefined && /tls-port/.test(log) && /Bad directive|not supported/i.test(log)) throw new NoTlsError(`${bin} was built without TLS support`);
      throw new Error(`${bin} exited at start (code ${proc.exitCode}):\n${log}`);
    }
    if (/Ready to accept connections/.test(log) && (await canConnect(port))) break;
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`redis-server did not start within 30 s:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  if (opts.cluster === true) {
    await command(port, opts.password, ['CLUSTER', 'ADDSLOTSRANGE', '0', '16383']);
    while (!/cluster_state:ok/.test(await command(port, opts.password, ['CLUSTER', 'INFO']))) {
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error('the one-node cluster did not reach cluster_state:ok within 30 s');
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  const auth = opts.password === undefined ? '' : `:${encodeURIComponent(opts.password)}@`;
  return {
    port,
    dir,
    url: `redis://${auth}127.0.0.1:${port}`,
    process: proc,
    version: probe(bin).version,
    ...(tls === undefined ? {} : { tlsPort: tls.port, tlsUrl: `rediss://${auth}127.0.0.1:${tls.port}`, caFile: tls.ca }),
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
