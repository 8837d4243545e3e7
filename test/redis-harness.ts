// A real redis-server (Debian's `redis-server` package, installed by .ci/run) for
// the backplane suites: started per suite on a free 127.0.0.1 port, no
// persistence, its own temp dir. Typical use:
//
//   let redis: RedisServer;
//   beforeAll(async () => { redis = await startRedis(); });
//   afterAll(async () => { await redis?.stop(); });
//
// `kill()` ends it by its pid (SIGKILL, as an outage does) and `start()` brings
// it back on the same port, empty: what a restarted cache without persistence is.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One redis-server process under test. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** The pid of the current process, or undefined while it is down. */
  readonly pid: number | undefined;
  /** Kills it with SIGKILL and waits until the port refuses connections. */
  kill(): Promise<void>;
  /** Starts it again on the same port (after `kill`); resolves once it answers PING. */
  start(): Promise<void>;
  /** Stops it and removes its directory. Idempotent. */
  stop(): Promise<void>;
}

/** The path of the redis-server binary: $REDIS_SERVER, else the one on PATH. */
export const REDIS_SERVER_BIN = process.env.REDIS_SERVER ?? 'redis-server';

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

// Sends PING over a raw socket; true on +PONG.
async function answersPing(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`redis harness: timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** Starts a redis-server on a free 127.0.0.1 port. */
export async function startRedis(): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'agentbus-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let stderr = '';

  const launch = async (): Promise<void> => {
    stderr = '';
    const proc = spawn(
      REDIS_SERVER_BIN,
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    proc.stderr?.on('data', (chunk: Buffer) => {
      if (stderr.length < 4096) stderr += chunk.toString();
    });
    const failed = new Promise<never>((_, reject) => {
      proc.once('error', (error) =>
        reject(new Error(`redis harness: cannot run ${REDIS_SERVER_BIN} (install Debian's redis-server, or set REDIS_SERVER): ${error.message}`)),
      );
      proc.once('exit', (code) => reject(new Error(`redis harness: redis-server exited with ${code} before answering PING\n${stderr}`)));
    });
    failed.catch(() => undefined);
    child = proc;
    // A worker that exits without running afterAll (a timeout, process.exit) takes its server along.
    const reap = () => proc.kill('SIGKILL');
    process.once('exit', reap);
    proc.once('exit', () => process.off('exit', reap));
    await Promise.race([waitFor(() => answersPing(port), `redis-server on port ${port}`, 10_000), failed]);
  };

  const kill = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGKILL');
    await exited;
    await waitFor(async () => !(await answersPing(port)), `port ${port} to close`, 5_000);
  };

  await launch();
  let stopped = false;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return child?.pid;
    },
    kill,
    async start() {
      if (child !== undefined) throw new Error('redis harness: start() while redis-server is running; kill() it first');
      await launch();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
