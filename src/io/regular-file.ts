/**
 * The one way dd3d opens a file the user named: only regular files are read, and their size
 * is bounded before a byte is allocated. A FIFO would block the read forever, a device could
 * stream without end, a folder named `x.png`, a symlink loop or an unreadable file would
 * surface as a stack trace; each is instead a one-line Dd3dError naming the file.
 *
 * Conventions: `stat` (which follows symlinks, so a link to a regular file is fine) comes
 * before `open`, and the open is non-blocking, so even a file swapped for a FIFO between the
 * two cannot hang; the descriptor is checked again with fstat.
 */
import * as fs from 'node:fs';
import { Dd3dError, oneLine } from '../core/errors.js';

/** Default size bound of a file read whole: far above any image, JSON or .npz dd3d reads. */
export const MAX_READ_BYTES = 1024 * 1024 * 1024;

const REASONS: Record<string, string> = {
  ENOENT: 'file not found',
  ELOOP: 'a symbolic link loop',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOTDIR: 'a path component is not a folder',
  ENAMETOOLONG: 'name too long',
  EISDIR: 'is a folder',
};

/** "a folder", "a named pipe (FIFO)", …: what a non-regular file is, for messages. */
export function fileKind(s: fs.Stats): string {
  if (s.isFile()) return 'a file';
  if (s.isDirectory()) return 'a folder';
  if (s.isFIFO()) return 'a named pipe (FIFO)';
  if (s.isSocket()) return 'a socket';
  if (s.isCharacterDevice() || s.isBlockDevice()) return 'a device';
  return 'not a regular file';
}

function fsError(file: string, e: unknown): Dd3dError {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOENT') return new Dd3dError(`${file}: file not found`);
  const reason = (err.code && REASONS[err.code]) ?? String(err.message).split(',')[0];
  return new Dd3dError(`${file}: cannot read (${reason}${err.code && REASONS[err.code] ? `, ${err.code}` : ''})`);
}

/**
 * The stats of `file`, which must be a regular file (after symlinks) of at most `maxBytes`;
 * `what` names what was expected in the message ("an image", "a .npz file").
 */
export function checkRegularFile(file: string, what = 'a file', maxBytes = MAX_READ_BYTES): fs.Stats {
  let s: fs.Stats;
  try {
    s = fs.statSync(file);
  } catch (e) {
    throw fsError(file, e);
  }
  if (!s.isFile()) throw new Dd3dError(`${file}: expected ${what}, got ${fileKind(s)}`);
  if (s.size > maxBytes) throw new Dd3dError(`${file}: ${s.size} bytes, over the limit of ${maxBytes} bytes for ${what}`);
  return s;
}

/** Opens a checked regular file for reading (non-blocking, re-checked); the caller closes the descriptor. */
export function openRegularFile(file: string, what = 'a file', maxBytes = MAX_READ_BYTES): { fd: number; size: number } {
  checkRegularFile(file, what, maxBytes);
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    throw fsError(file, e);
  }
  const s = fs.fstatSync(fd);
  if (!s.isFile() || s.size > maxBytes) {
    fs.closeSync(fd);
    throw new Dd3dError(`${file}: expected ${what}, got ${s.isFile() ? `${s.size} bytes, over the limit of ${maxBytes}` : fileKind(s)}`);
  }
  return { fd, size: s.size };
}

/** Reads a whole regular file of at most `maxBytes` (see the module comment). */
export function readRegularFile(file: string, what = 'a file', maxBytes = MAX_READ_BYTES): Buffer {
  const { fd, size } = openRegularFile(file, what, maxBytes);
  try {
    const out = Buffer.allocUnsafe(size);
    let done = 0;
    while (done < size) {
      const got = fs.readSync(fd, out, done, Math.min(size - done, 1 << 30), done);
      if (got === 0) break;
      done += got;
    }
    return done === size ? out : out.subarray(0, done);
  } catch (e) {
    throw e instanceof Dd3dError ? e : fsError(file, e);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * A JSON file (a UTF-8 BOM tolerated), read as a regular file: unreadable, special or invalid
 * files are one-line errors naming them, and a FIFO named like a config cannot block the read.
 */
export function readJsonFile(file: string, maxBytes = MAX_READ_BYTES): unknown {
  let text = readRegularFile(file, 'a JSON file', maxBytes).toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    // both wordings: the tokenizers have always said "invalid JSON", the rest of dd3d "not valid JSON"
    throw new Dd3dError(`${file}: invalid JSON, the file is not valid JSON (${oneLine((err as Error).message)})`);
  }
}

/**
 * {@link readJsonFile}, or undefined for a file that is missing, special, over `maxBytes` or not
 * JSON: for the "is this folder dd3d's own?" checks, which must never throw or hang.
 */
export function tryReadJsonFile(file: string, maxBytes = MAX_READ_BYTES): unknown {
  try {
    return readJsonFile(file, maxBytes);
  } catch (e) {
    if (e instanceof Dd3dError) return undefined;
    throw e;
  }
}
