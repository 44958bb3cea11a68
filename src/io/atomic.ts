import * as fs from 'node:fs';
import * as path from 'node:path';
import { Dd3dError } from '../core/errors.js';

/**
 * Writes chunks to a temporary name in the target's folder, then renames it into place, so
 * readers never see a half-written file and a crash or kill leaves the old file intact.
 */
export function writeFileAtomic(file: string, chunks: Uint8Array[] | Uint8Array | string): void {
  const parts = typeof chunks === 'string' ? [Buffer.from(chunks)] : chunks instanceof Uint8Array ? [chunks] : chunks;
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  let fd: number | undefined;
  try {
    fd = fs.openSync(tmp, 'wx');
    for (const b of parts) {
      for (let done = 0; done < b.length;) done += fs.writeSync(fd, b, done, Math.min(b.length - done, 1 << 30));
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== undefined) fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    const err = e as NodeJS.ErrnoException;
    throw err.code ? new Dd3dError(`${file}: cannot write (${err.message.split(',')[0]})`) : e;
  }
}
