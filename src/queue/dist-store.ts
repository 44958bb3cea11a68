/**
 * Distribution files travel through Redis by content: `queue add` stores the file's bytes
 * once under its sha-256 and every job of the run names that hash. A job thus carries the
 * distribution (not a path on the adder's machine) without a copy per job: a distribution is
 * 0.2–0.6 MB, and a run is up to thousands of jobs. A worker fetches the bytes, checks the
 * hash, and keeps them in a private temporary file, because the asset threads load
 * distributions from a path (asset-worker.ts). The files live in `<tmp>/dd3d-queue-dists-<pid>`:
 * a worker killed outright cannot remove its folder, so each worker removes those of dead
 * processes when it first needs its own.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Redis } from 'ioredis';
import { Dd3dError } from '../core/errors.js';
import { pidAlive } from '../io/output-guard.js';

export const distKey = (queue: string, sha256: string): string => `dd3d:${queue}:dist:${sha256}`;

export const sha256Hex = (bytes: Uint8Array): string => crypto.createHash('sha256').update(bytes).digest('hex');

/** Stores the bytes under their hash (a no-op when already there); returns the hash. */
export async function putDistribution(redis: Redis, queue: string, bytes: Buffer): Promise<string> {
  const sha = sha256Hex(bytes);
  await redis.set(distKey(queue, sha), bytes, 'NX');
  return sha;
}

/** A worker's local copies of distributions, one file per hash, removed by `dispose`. */
export class DistributionCache {
  private dir: string | null = null;
  private readonly files = new Map<string, string>();

  constructor(
    private readonly redis: Redis,
    private readonly queue: string,
  ) {}

  /** The path of the distribution with this hash, fetched from Redis on first use. */
  async file(sha256: string): Promise<string> {
    const known = this.files.get(sha256);
    if (known) return known;
    const bytes = await this.redis.getBuffer(distKey(this.queue, sha256));
    if (!bytes) throw new Dd3dError(`distribution sha256:${sha256.slice(0, 12)}… is not in Redis (was Redis flushed? run "dd3d queue add" again)`);
    if (sha256Hex(bytes) !== sha256) throw new Dd3dError(`distribution sha256:${sha256.slice(0, 12)}… in Redis does not match its hash`);
    const file = path.join(this.folder(), `${sha256}.json`);
    fs.writeFileSync(file, bytes);
    this.files.set(sha256, file);
    return file;
  }

  dispose(): void {
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private folder(): string {
    if (this.dir) return this.dir;
    for (const name of fs.readdirSync(os.tmpdir())) {
      const pid = /^dd3d-queue-dists-(\d+)$/.exec(name)?.[1];
      if (pid && !pidAlive(Number(pid))) fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
    }
    this.dir = path.join(os.tmpdir(), `dd3d-queue-dists-${process.pid}`);
    fs.mkdirSync(this.dir, { recursive: true });
    return this.dir;
  }
}
