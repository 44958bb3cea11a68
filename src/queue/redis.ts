/**
 * Connections to Redis for `dd3d queue`, with the two behaviours the commands need:
 *
 * - `client` (add, status): fail fast. The first connection must be ready within
 *   CONNECT_DEADLINE_MS or the command ends with one line naming the URL and the cause;
 *   afterwards a dropped connection fails the pending command instead of queueing it.
 * - `worker`: the same fast failure at start (a typo in --redis should not wait forever),
 *   but once connected, outages are ridden out: ioredis reconnects forever with backoff and
 *   queues commands meanwhile (BullMQ requires maxRetriesPerRequest: null for workers), so a
 *   Redis restart costs a pause, not the worker.
 *
 * Passwords never appear in messages (`redactUrl`).
 */
import { Redis, type RedisOptions } from 'ioredis';
import { Dd3dError } from '../core/errors.js';

/** How long a command waits for the first connection before giving up. */
export const CONNECT_DEADLINE_MS = 5000;

export type ConnectionRole = 'client' | 'worker';

const URL_HELP = 'expected redis://[user:password@]host[:port][/db] (rediss:// for TLS)';

/** The URL for messages: the password replaced by "***". */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

/** Checks the shape of a Redis URL before any connection: a one-line error naming the flag. */
export function checkRedisUrl(url: string, flag = '--redis'): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Dd3dError(`${flag} ${url}: not a URL; ${URL_HELP}`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Dd3dError(`${flag} ${redactUrl(url)}: ${URL_HELP}`);
  if (!u.hostname) throw new Dd3dError(`${flag} ${redactUrl(url)}: no host; ${URL_HELP}`);
  const db = u.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db)) throw new Dd3dError(`${flag} ${redactUrl(url)}: the database must be a number (/0, /1, …)`);
}

/**
 * A ready ioredis client, or a one-line Dd3dError within about CONNECT_DEADLINE_MS.
 * `onConnectionEvent` hears later disconnects and reconnects (worker role), for the log.
 */
export async function connectRedis(url: string, role: ConnectionRole, onConnectionEvent?: (event: 'lost' | 'back', detail: string) => void): Promise<Redis> {
  checkRedisUrl(url);
  let ready = false;
  let lastError = '';
  const options: RedisOptions = {
    lazyConnect: true,
    connectTimeout: 3000,
    // workers: null, as BullMQ requires (commands wait for the reconnect); clients: fail the command
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    enableOfflineQueue: role === 'worker',
    // before the first ready, one attempt (connect() rejects on the first failure anyway);
    // after it, workers reconnect forever, clients not at all
    retryStrategy: (times) => (ready && role === 'worker' ? Math.min(100 * 2 ** Math.min(times, 5), 2000) : null),
  };
  const client = new Redis(url, options);
  // without a listener an 'error' event would crash the process
  client.on('error', (e: Error) => {
    const message = oneLine(e.message);
    if (ready && message !== lastError) onConnectionEvent?.('lost', message);
    lastError = message;
  });
  client.on('ready', () => {
    if (ready && lastError) onConnectionEvent?.('back', redactUrl(url));
    lastError = '';
  });
  let timer: NodeJS.Timeout | undefined;
  const attempt = (async () => {
    await client.connect();
    await client.ping();
  })();
  // after a timeout the attempt still settles; nobody awaits it then
  attempt.catch(() => undefined);
  try {
    await Promise.race([
      attempt,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out')), CONNECT_DEADLINE_MS);
      }),
    ]);
  } catch (e) {
    client.disconnect();
    let cause = lastError || oneLine((e as Error).message);
    // something answered, but not in Redis's protocol (an HTTP server, a proxy)
    if (/RESP|Protocol error/i.test(cause)) cause = `not a Redis server? ${cause}`;
    throw new Dd3dError(`--redis ${redactUrl(url)}: cannot reach Redis (${cause})`);
  } finally {
    clearTimeout(timer);
  }
  ready = true;
  return client;
}

/** Runs a client's Redis work; a connection lost meanwhile becomes one line instead of a stack. */
export async function redisCall<T>(url: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof Dd3dError) throw e;
    const m = (e as Error).message ?? String(e);
    if (isConnectionError(m)) {
      throw new Dd3dError(`--redis ${redactUrl(url)}: lost the connection to Redis (${oneLine(m)})`);
    }
    throw e;
  }
}

export const oneLine = (s: string): string => s.split('\n')[0]!.trim();

/** Messages of a lost or refused connection (ioredis's and the socket's), as opposed to a command's own error. */
export const isConnectionError = (message: string): boolean =>
  /Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|max retries|Stream isn't writeable|enableOfflineQueue/i.test(message);
