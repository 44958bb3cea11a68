/**
 * A model folder's fingerprint: sha-256 over model_index.json and every file directly inside
 * each component folder dd3d loads (configs, weights, tokenizer vocabularies), in name order.
 * `queue add` records it in every job and a worker refuses a job whose fingerprint is not
 * its own model's, because an asset equals the local run's only with the same weights; paths
 * cannot tell (each machine has its own). Files are hashed in chunks, so multi-GB weights
 * are fine (slow: seconds per GB, once per process).
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openModelFolder } from '../io/diffusers.js';

const known = new Map<string, string>();

export function modelFingerprint(dir: string): string {
  const key = path.resolve(dir);
  const cached = known.get(key);
  if (cached) return cached;
  const folder = openModelFolder(dir);
  const hash = crypto.createHash('sha256');
  const add = (file: string, name: string) => {
    hash.update(`${name}\0`);
    const fd = fs.openSync(file, 'r');
    const chunk = Buffer.alloc(1 << 24);
    try {
      for (let n; (n = fs.readSync(fd, chunk, 0, chunk.length, null)) > 0;) hash.update(chunk.subarray(0, n));
    } finally {
      fs.closeSync(fd);
    }
  };
  const index = path.join(dir, 'model_index.json');
  if (fs.existsSync(index)) add(index, 'model_index.json');
  for (const name of [...folder.components.keys()].sort()) {
    const c = folder.components.get(name)!;
    for (const f of fs.readdirSync(c.dir).sort()) {
      const file = path.join(c.dir, f);
      if (!f.startsWith('.') && fs.statSync(file).isFile()) add(file, `${name}/${f}`);
    }
  }
  const digest = `sha256:${hash.digest('hex')}`;
  known.set(key, digest);
  return digest;
}
