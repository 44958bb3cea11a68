/**
 * numpy .npy / .npz reader (DreamDistribution saves its learned prompt distributions as npz).
 *
 * An npz is a zip of .npy files, stored or deflated. We read the zip's central directory
 * ourselves rather than pulling in a zip library: the subset numpy writes is small. numpy
 * marks every entry zip64 (force_zip64), which only changes the local headers we skip;
 * real zip64 sizes and offsets in the central directory are handled too.
 *
 * Returned data by stored dtype (`dtype` keeps the numpy descr, e.g. '<f8'):
 *   '<f8' -> Float64Array (full precision; `toFloat32` for compute)   '<f4' -> Float32Array
 *   '<i4', '<i8' -> Int32Array ('<i8' must fit in int32)               '|b1', '|u1' -> Uint8Array
 *   '<U{n}' -> string[] (UTF-32LE, fixed width, trailing NULs stripped)
 *
 * Sizes are checked before anything is allocated, so a zip bomb cannot exhaust memory: an
 * entry's size in the directory must agree with the shape its .npy header declares (read by
 * inflating only the first compressed bytes) and stay under MAX_NPZ_ENTRY_BYTES, and the full
 * inflate is capped at that size whatever the directory claims.
 */
import { constants as zlibConstants, inflateRawSync } from 'node:zlib';
import { Dd3dError } from '../core/errors.js';
import { readRegularFile } from './regular-file.js';

/**
 * Largest .npy entry read: an official DreamDistribution result holds 0.6 MB per class and
 * array (77 × 1024 float64), so this allows ~200 classes while keeping a hostile file's peak
 * memory low.
 */
export const MAX_NPZ_ENTRY_BYTES = 128 * 1024 * 1024;
/** Largest .npz file read: two arrays at the entry limit, plus slack for a stored one. */
export const MAX_NPZ_FILE_BYTES = 512 * 1024 * 1024;

export type NpyData = Float64Array | Float32Array | Int32Array | Uint8Array | string[];

export interface NpyArray {
  /** numpy dtype descr as stored, e.g. '<f8', '|b1', '<U7'. */
  dtype: string;
  shape: number[];
  /** C order. */
  data: NpyData;
}

let crcTable: Uint32Array | undefined;
/** CRC-32 (zip/zlib polynomial); zlib.crc32 only exists from Node 20.15. */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  csize: number;
  usize: number;
  offset: number;
}

function centralDirectory(label: string, buf: Uint8Array): ZipEntry[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  // The end record sits in the last 22 bytes plus an optional comment of up to 64 KiB.
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (dv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Dd3dError(`${label}: not an npz/zip file, or truncated (no end-of-central-directory record)`);
  let count = dv.getUint16(eocd + 10, true);
  let cdOffset = dv.getUint32(eocd + 16, true);
  if ((count === 0xffff || cdOffset === 0xffffffff) && eocd >= 20 && dv.getUint32(eocd - 20, true) === 0x07064b50) {
    const z = Number(dv.getBigUint64(eocd - 12, true));
    if (dv.getUint32(z, true) !== 0x06064b50) throw new Dd3dError(`${label}: corrupt zip64 end-of-central-directory record`);
    count = Number(dv.getBigUint64(z + 32, true));
    cdOffset = Number(dv.getBigUint64(z + 48, true));
  }

  const entries: ZipEntry[] = [];
  const utf8 = new TextDecoder();
  for (let p = cdOffset, i = 0; i < count; i++) {
    if (dv.getUint32(p, true) !== 0x02014b50) throw new Dd3dError(`${label}: corrupt zip central directory (entry ${i})`);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const e: ZipEntry = {
      name: utf8.decode(buf.subarray(p + 46, p + 46 + nameLen)),
      flags: dv.getUint16(p + 8, true),
      method: dv.getUint16(p + 10, true),
      crc: dv.getUint32(p + 16, true),
      csize: dv.getUint32(p + 20, true),
      usize: dv.getUint32(p + 24, true),
      offset: dv.getUint32(p + 42, true),
    };
    // zip64 extra field: 8-byte values, present only for the fields saturated at 0xffffffff.
    for (let x = p + 46 + nameLen; x + 4 <= p + 46 + nameLen + extraLen;) {
      const id = dv.getUint16(x, true);
      const size = dv.getUint16(x + 2, true);
      if (id === 0x0001) {
        let q = x + 4;
        const next = () => Number(dv.getBigUint64((q += 8) - 8, true));
        if (e.usize === 0xffffffff) e.usize = next();
        if (e.csize === 0xffffffff) e.csize = next();
        if (e.offset === 0xffffffff) e.offset = next();
      }
      x += 4 + size;
    }
    entries.push(e);
    p += 46 + nameLen + extraLen + dv.getUint16(p + 32, true);
  }
  return entries;
}

/** The .npy header at the start of `bytes`: its length in bytes and the data size its shape and dtype declare. */
function npyDeclaredSize(bytes: Uint8Array, where: string): number | null {
  if (bytes.length < 10) return null;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6]!;
  const [hlen, hstart] = major === 1 ? [dv.getUint16(8, true), 10] : [bytes.length >= 12 ? dv.getUint32(8, true) : 0, 12];
  if (hstart + hlen > bytes.length) return null;
  const { count, itemSize, start } = parseNpyHeader(bytes, where);
  return start + count * itemSize;
}

function entryBytes(label: string, buf: Uint8Array, e: ZipEntry): Uint8Array {
  const where = `${label}: entry "${e.name}"`;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (dv.getUint32(e.offset, true) !== 0x04034b50) throw new Dd3dError(`${where}: corrupt zip (bad local header)`);
  if (e.flags & 1) throw new Dd3dError(`${where}: encrypted zip entries are not supported`);
  if (e.usize > MAX_NPZ_ENTRY_BYTES) throw new Dd3dError(`${where}: ${e.usize} bytes uncompressed, over the limit of ${MAX_NPZ_ENTRY_BYTES} bytes per array`);
  const start = e.offset + 30 + dv.getUint16(e.offset + 26, true) + dv.getUint16(e.offset + 28, true);
  if (start + e.csize > buf.length) throw new Dd3dError(`${where}: truncated (data runs past the end of the file)`);
  const raw = buf.subarray(start, start + e.csize);
  let out: Uint8Array;
  if (e.method === 0) {
    if (e.csize !== e.usize) throw new Dd3dError(`${where}: stored entry of ${e.csize} bytes, the directory says ${e.usize}`);
    out = raw;
  } else if (e.method === 8) {
    // the header first, from a prefix: the shape it declares must match the directory's size
    // before the whole entry is inflated
    // (deflate expands at most ~1032×, so 512 compressed bytes stay under the 1 MB limit)
    const head = inflate(raw.subarray(0, 512), 1 << 20, where, true);
    const declared = npyDeclaredSize(head, where);
    if (declared !== null && declared !== e.usize) {
      throw new Dd3dError(`${where}: the array's header declares ${declared} bytes, the zip directory ${e.usize}; the file is corrupt`);
    }
    out = inflate(raw, e.usize, where, false);
  } else throw new Dd3dError(`${where}: compression method ${e.method} is not supported (only stored and deflate)`);
  if (out.length !== e.usize) throw new Dd3dError(`${where}: size ${out.length} does not match the directory's ${e.usize}`);
  if (crc32(out) !== e.crc) throw new Dd3dError(`${where}: CRC mismatch, the file is corrupt`);
  return out;
}

/** Inflates at most `limit` bytes (a longer output is an error, not an allocation); `partial` reads a prefix. */
function inflate(raw: Uint8Array, limit: number, where: string, partial: boolean): Uint8Array {
  try {
    return inflateRawSync(raw, {
      maxOutputLength: Math.max(1, limit),
      ...(partial ? { finishFlush: zlibConstants.Z_SYNC_FLUSH } : {}),
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') {
      throw new Dd3dError(`${where}: inflates to more than the ${limit} bytes the zip directory declares; the file is corrupt`);
    }
    throw new Dd3dError(`${where}: corrupt deflate data (${(err as Error).message})`);
  }
}

/** Parse an in-memory npz. Keys are the entry names without ".npy"; other entries are ignored. */
export function parseNpz(buf: Uint8Array, label = '<buffer>'): Map<string, NpyArray> {
  const out = new Map<string, NpyArray>();
  let entries: ZipEntry[];
  try {
    entries = centralDirectory(label, buf);
    for (const e of entries) {
      if (!e.name.endsWith('.npy')) continue;
      out.set(e.name.slice(0, -4), parseNpy(entryBytes(label, buf, e), `${label}: entry "${e.name}"`));
    }
  } catch (err) {
    // Offsets pointing outside the buffer surface as RangeError from DataView.
    if (err instanceof RangeError) throw new Dd3dError(`${label}: corrupt or truncated zip (offsets point past the end of the file)`);
    throw err;
  }
  return out;
}

export function readNpz(file: string): Map<string, NpyArray> {
  return parseNpz(readFile(file), file);
}

export function readNpy(file: string): NpyArray {
  return parseNpy(readFile(file), file);
}

function readFile(file: string): Uint8Array {
  return readRegularFile(file, 'a .npz/.npy file', MAX_NPZ_FILE_BYTES);
}

interface NpyHeader {
  descr: string;
  shape: number[];
  kind: string;
  size: number;
  itemSize: number;
  count: number;
  /** Where the data begins. */
  start: number;
}

/** The header of a .npy at the start of `buf` (which may hold only a prefix of the data). */
function parseNpyHeader(buf: Uint8Array, label: string): NpyHeader {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
  if (buf.length < 10 || magic.some((b, i) => buf[i] !== b)) throw new Dd3dError(`${label}: not a .npy array (bad magic)`);
  const major = buf[6]!;
  if (major < 1 || major > 3) throw new Dd3dError(`${label}: .npy format version ${major} is not supported (1 to 3)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const [hlen, hstart] = major === 1 ? [dv.getUint16(8, true), 10] : [buf.length >= 12 ? dv.getUint32(8, true) : 0, 12];
  if (hstart + hlen > buf.length) throw new Dd3dError(`${label}: truncated .npy header`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(buf.subarray(hstart, hstart + hlen));

  // The header is a Python dict literal; these three keys are all numpy writes.
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    const shown = JSON.stringify(header.trim());
    throw new Dd3dError(`${label}: unsupported .npy header ${shown.length > 120 ? `${shown.slice(0, 117)}...` : shown} (structured dtypes are not supported)`);
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
  if (!shape.every((n) => Number.isSafeInteger(n) && n >= 0)) throw new Dd3dError(`${label}: bad shape (${shapeText.slice(0, 80)})`);
  if (fortran === 'True' && shape.filter((n) => n > 1).length > 1) {
    throw new Dd3dError(`${label}: Fortran-order arrays are not supported; re-save with np.ascontiguousarray`);
  }

  const m = /^([<>|=])([a-zA-Z])(\d+)$/.exec(descr);
  const kind = m?.[2] ?? '';
  const size = Number(m?.[3]);
  const itemSize = kind === 'U' ? 4 * size : size;
  // Big-endian data would need byte swapping; numpy only writes it when explicitly asked to.
  if (!m || (m[1] === '>' && itemSize > 1)) throw unsupported(label, descr);
  const count = shape.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(count * itemSize)) throw new Dd3dError(`${label}: shape (${shape.join(', ')}) is too large`);
  return { descr, shape, kind, size, itemSize, count, start: hstart + hlen };
}

/** Parse one .npy (format versions 1, 2 and 3). `label` names it in error messages. */
export function parseNpy(buf: Uint8Array, label = '<buffer>'): NpyArray {
  const { descr, shape, kind, size, itemSize, count, start } = parseNpyHeader(buf, label);
  if (count * itemSize > MAX_NPZ_ENTRY_BYTES)
    throw new Dd3dError(`${label}: shape (${shape.join(', ')}) needs ${count * itemSize} bytes, over the limit of ${MAX_NPZ_ENTRY_BYTES}`);
  if (buf.length - start < count * itemSize) {
    throw new Dd3dError(`${label}: truncated: shape (${shape.join(', ')}) of ${descr} needs ${count * itemSize} bytes, file has ${buf.length - start}`);
  }
  // A copy in a buffer of its own: the entry's offset in the zip says nothing about alignment.
  const bytes = new Uint8Array(buf.subarray(start, start + count * itemSize));
  const ab = bytes.buffer;

  let data: NpyData;
  switch (`${kind}${kind === 'U' ? '' : size}`) {
    case 'f4':
      data = new Float32Array(ab);
      break;
    case 'f8':
      data = new Float64Array(ab);
      break;
    case 'i4':
      data = new Int32Array(ab);
      break;
    case 'b1':
    case 'u1':
      data = bytes;
      break;
    case 'i8': {
      const src = new Int32Array(ab);
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        if (src[2 * i + 1] !== src[2 * i]! >> 31) {
          const v = new DataView(ab).getBigInt64(8 * i, true);
          throw new Dd3dError(`${label}: int64 value ${v} at index ${i} does not fit in int32`);
        }
        out[i] = src[2 * i]!;
      }
      data = out;
      break;
    }
    case 'U': {
      const cps = new Uint32Array(ab);
      const strings: string[] = [];
      for (let i = 0; i < count; i++) {
        let end = (i + 1) * size;
        while (end > i * size && cps[end - 1] === 0) end--; // numpy pads with NULs
        const slice = cps.subarray(i * size, end);
        if (slice.some((c) => c > 0x10ffff)) throw new Dd3dError(`${label}: string ${i} holds an invalid code point`);
        strings.push(String.fromCodePoint(...slice));
      }
      data = strings;
      break;
    }
    default:
      throw unsupported(label, descr);
  }
  return { dtype: descr, shape, data };
}

const unsupported = (label: string, descr: string) =>
  new Dd3dError(`${label}: dtype '${descr}' is not supported (little-endian f4, f8, i4, i8, b1, u1 and U only)`);

/** Numeric array as Float32Array (float64 is rounded); `label` names it if it holds strings. */
export function toFloat32(a: NpyArray, label = 'array'): Float32Array {
  if (Array.isArray(a.data)) throw new Dd3dError(`${label}: expected a numeric array, got strings (${a.dtype})`);
  return a.data instanceof Float32Array ? a.data : Float32Array.from(a.data);
}
