// The queue's Redis server: its URL, and the clients. bullmq and ioredis are optional peer
// dependencies, imported only here, only when a campaign command runs.
import { VsmmuError } from '../errors.ts';
import type { Redis } from 'ioredis';

export interface QueueAddress {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
}

/** redis://[[user]:password@]HOST:PORT[/DB] (the port is required: no guessing which server). */
export function parseQueueUrl(text: string): QueueAddress {
  const bad = (why: string): VsmmuError => new VsmmuError('EVSMMU_QUEUE_URL', `--queue ${JSON.stringify(text)}: ${why} (write redis://HOST:PORT, e.g. redis://127.0.0.1:6379)`);
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw bad('not a URL');
  }
  if (u.protocol !== 'redis:') throw bad(`the scheme is ${u.protocol.replace(/:$/, '')}, not redis`);
  if (u.hostname === '') throw bad('no host');
  if (u.port === '') throw bad('no port');
  if (u.search !== '' || u.hash !== '') throw bad('no query or fragment is taken');
  const path = u.pathname.replace(/^\//, '');
  if (!/^\d{0,2}$/.test(path)) throw bad(`the database is '${path}', not a number from 0 to 15`);
  const db = path === '' ? 0 : Number(path);
  if (db > 15) throw bad(`the database is ${db}, not a number from 0 to 15`);
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const out: QueueAddress = { host, port: Number(u.port), db };
  const username = decodeURIComponent(u.username);
  const password = decodeURIComponent(u.password);
  return { ...out, ...(username === '' ? {} : { username }), ...(password === '' ? {} : { password }) };
}

export type BullMq = typeof import('bullmq');

async function load(): Promise<{ bull: BullMq; Redis: typeof Redis }> {
  try {
    const [bull, io] = await Promise.all([import('bullmq'), import('ioredis')]);
    return { bull, Redis: io.Redis };
  } catch {
    throw new VsmmuError('EVSMMU_CAMPAIGN_DEPS', 'campaigns need the optional packages bullmq and ioredis: npm install bullmq ioredis');
  }
}

/** The ioredis options vsmmu sets (BullMQ's workers need maxRetriesPerRequest null: they block on the server). */
export interface ClientOptions {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
  readonly maxRetriesPerRequest: null;
  readonly connectTimeout: number;
}

export function redisOptions(a: QueueAddress): ClientOptions {
  return {
    host: a.host,
    port: a.port,
    db: a.db,
    ...(a.username === undefined ? {} : { username: a.username }),
    ...(a.password === undefined ? {} : { password: a.password }),
    maxRetriesPerRequest: null,
    connectTimeout: 5000,
  };
}

export interface Connection {
  readonly bull: BullMq;
  readonly address: QueueAddress;
  /** For vsmmu's own keys (results, counters). */
  readonly redis: Redis;
  close(): Promise<void>;
}

/**
 * Connects and pings once, failing fast with a coded error when the server does not answer
 * (ioredis alone would retry for ever); after that, ioredis reconnects as usual.
 */
export async function connect(url: string): Promise<Connection> {
  const address = parseQueueUrl(url);
  const { bull, Redis: RedisClass } = await load();
  const redis = new RedisClass({ ...redisOptions(address), lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 1 });
  let first: Error | undefined;
  redis.on('error', (e: Error) => void (first ??= e)); // reported by connect() below; a later loss is retried
  try {
    await redis.connect();
    await redis.ping();
  } catch (e) {
    redis.disconnect();
    const cause = first ?? e;
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new VsmmuError('EVSMMU_QUEUE_UNREACHABLE', `the queue at ${url} does not answer: ${why}`, { queue: url });
  }
  redis.options.retryStrategy = (times: number) => Math.min(200 * times, 2000);
  redis.options.maxRetriesPerRequest = null;
  return {
    bull,
    address,
    redis,
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
