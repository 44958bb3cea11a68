/**
 * safetensors reader and writer.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON header
 * {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__"?: {string: string}},
 * then the data buffer that the offsets are relative to.
 *
 * A Stable Diffusion UNet is 3.4 GB in F32, more than a Node Buffer comfortably holds, so
 * the file reader only loads and validates the header and then reads each tensor on
 * demand with positioned reads. Typed arrays are viewed straight over the bytes we read,
 * which assumes a little-endian host (every platform Node ships on in practice).
 */
import * as fs from 'node:fs';
import { Dd3dError } from '../core/errors.js';
import { writeFileAtomic } from './atomic.js';

/**
 * An in-memory tensor. `dtype` describes `data`, not the file: F16/BF16 load as 'F32'
 * (Float32Array) and I64 as 'I32' (Int32Array); `SafetensorsFile.info` keeps the stored dtype.
 */
export interface Tensor {
  dtype: string;
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

export interface TensorInfo {
  dtype: string;
  shape: number[];
}

export interface SafetensorsFile {
  readonly path: string;
  /** Tensor names in header order. */
  readonly names: string[];
  readonly metadata: Record<string, string>;
  info(name: string): TensorInfo;
  get(name: string): Tensor;
  close(): void;
}

// Every dtype the format defines, so headers can be validated even for tensors we cannot decode.
const DTYPE_SIZE: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  F8_E8M0: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};
const SUPPORTED = new Set(['F32', 'F16', 'BF16', 'U8', 'I32', 'I64']);
const MAX_HEADER = 100_000_000;

interface Entry extends TensorInfo {
  begin: number;
  end: number;
}

interface Header {
  entries: Map<string, Entry>;
  metadata: Record<string, string>;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** Check the 8-byte prefix against the total size; returns the header length. */
function headerLength(label: string, prefix: Uint8Array, total: number): number {
  if (total < 8) throw new Dd3dError(`${label}: not a safetensors file: ${total} bytes, need at least 8`);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER)) {
    throw new Dd3dError(`${label}: header length ${n} is over the 100 MB limit; not a safetensors file or corrupt`);
  }
  if (n > BigInt(total - 8)) {
    throw new Dd3dError(`${label}: header length ${n} exceeds the file size (${total} bytes); truncated or not a safetensors file`);
  }
  return Number(n);
}

/** Parse and validate the JSON header against a data section of `dataLength` bytes. */
function parseHeader(label: string, json: Uint8Array, dataLength: number): Header {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json));
  } catch (e) {
    throw new Dd3dError(`${label}: header is not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(raw)) throw new Dd3dError(`${label}: header is not a JSON object`);

  const metadata: Record<string, string> = {};
  const entries = new Map<string, Entry>();
  for (const [name, value] of Object.entries(raw)) {
    if (name === '__metadata__') {
      if (!isObject(value)) throw new Dd3dError(`${label}: "__metadata__" is not an object of strings`);
      for (const [k, v] of Object.entries(value)) {
        if (typeof v !== 'string') throw new Dd3dError(`${label}: "__metadata__" key "${k}" is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const where = `${label}: tensor "${name}"`;
    if (!isObject(value)) throw new Dd3dError(`${where}: entry is not an object`);
    const { dtype, shape, data_offsets: offsets } = value;
    if (typeof dtype !== 'string') throw new Dd3dError(`${where}: missing or non-string "dtype"`);
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      throw new Dd3dError(`${where}: "shape" must be an array of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      throw new Dd3dError(`${where}: "data_offsets" must be [begin, end] non-negative integers`);
    }
    const size = DTYPE_SIZE[dtype];
    if (size === undefined) throw new Dd3dError(`${where}: unknown dtype "${dtype}"`);
    const [begin, end] = offsets as [number, number];
    if (end < begin) throw new Dd3dError(`${where}: data_offsets [${begin},${end}] end before they begin`);
    const need = shape.reduce((a: number, b: number) => a * b, 1) * size;
    if (need !== end - begin) {
      throw new Dd3dError(`${where}: shape [${shape.join(',')}] needs ${need} bytes but data_offsets span ${end - begin}`);
    }
    entries.set(name, { dtype, shape: shape as number[], begin, end });
  }

  // Sorted by start, any overlap shows up between neighbours; empty tensors cannot overlap.
  const spans = [...entries].filter(([, e]) => e.end > e.begin).sort((a, b) => a[1].begin - b[1].begin);
  for (let i = 1; i < spans.length; i++) {
    const [pn, p] = spans[i - 1]!;
    const [cn, c] = spans[i]!;
    if (c.begin < p.end) {
      throw new Dd3dError(`${label}: tensors "${pn}" [${p.begin},${p.end}] and "${cn}" [${c.begin},${c.end}] overlap`);
    }
  }
  let last = 0;
  for (const e of entries.values()) last = Math.max(last, e.end);
  if (last > dataLength) {
    throw new Dd3dError(`${label}: truncated: header says ${last} bytes of data, file has ${dataLength}`);
  }
  return { entries, metadata };
}

// F16 has only 65536 values; a table turns the conversion into one lookup per element.
let f16Table: Float32Array | undefined;
function f16ToF32Table(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0)
      t[h] = sign * frac * 2 ** -24; // zero and subnormals
    else if (exp === 31) t[h] = frac ? NaN : sign * Infinity;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return (f16Table = t);
}

/** Decode raw bytes (in a buffer of their own, so aligned) into the in-memory tensor. */
function decode(where: string, info: TensorInfo, bytes: Uint8Array): Tensor {
  const { buffer, byteOffset, byteLength } = bytes;
  const shape = [...info.shape];
  switch (info.dtype) {
    case 'F32':
      return { dtype: 'F32', shape, data: new Float32Array(buffer, byteOffset, byteLength / 4) };
    case 'U8':
      return { dtype: 'U8', shape, data: bytes };
    case 'I32':
      return { dtype: 'I32', shape, data: new Int32Array(buffer, byteOffset, byteLength / 4) };
    case 'F16': {
      const src = new Uint16Array(buffer, byteOffset, byteLength / 2);
      const table = f16ToF32Table();
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = table[src[i]!]!;
      return { dtype: 'F32', shape, data: out };
    }
    case 'BF16': {
      // BF16 is the top half of an F32, so shifting the bits is exact (NaN payloads included).
      const src = new Uint16Array(buffer, byteOffset, byteLength / 2);
      const out = new Uint32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = src[i]! << 16;
      return { dtype: 'F32', shape, data: new Float32Array(out.buffer) };
    }
    case 'I64': {
      const src = new Int32Array(buffer, byteOffset, byteLength / 4);
      const out = new Int32Array(src.length / 2);
      for (let i = 0; i < out.length; i++) {
        const lo = src[2 * i]!;
        // The value fits in int32 exactly when the high word is the sign extension of the low one.
        if (src[2 * i + 1] !== lo >> 31) {
          const v = new DataView(buffer, byteOffset + 8 * i, 8).getBigInt64(0, true);
          throw new Dd3dError(`${where}: I64 value ${v} at index ${i} does not fit in int32`);
        }
        out[i] = lo;
      }
      return { dtype: 'I32', shape, data: out };
    }
    default:
      throw unsupported(where, info.dtype);
  }
}

const unsupported = (where: string, dtype: string) => new Dd3dError(`${where}: dtype ${dtype} is not supported (supported: ${[...SUPPORTED].join(', ')})`);

/** Shared by the file and in-memory readers; `read` returns a fresh buffer of the data section slice. */
function makeFile(label: string, header: Header, read: (begin: number, length: number) => Uint8Array, close: () => void): SafetensorsFile {
  const entry = (name: string): Entry => {
    const e = header.entries.get(name);
    if (!e) throw new Dd3dError(`${label}: no tensor "${name}"`);
    return e;
  };
  return {
    path: label,
    names: [...header.entries.keys()],
    metadata: header.metadata,
    info: (name) => {
      const e = entry(name);
      return { dtype: e.dtype, shape: [...e.shape] };
    },
    get: (name) => {
      const e = entry(name);
      const where = `${label}: tensor "${name}"`;
      if (!SUPPORTED.has(e.dtype)) throw unsupported(where, e.dtype); // before reading possibly GBs
      return decode(where, e, read(e.begin, e.end - e.begin));
    },
    close,
  };
}

/** Open a safetensors file, reading only its header; tensors are read by `get`. Call `close` when done. */
export function openSafetensors(file: string): SafetensorsFile {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new Dd3dError(err.code === 'ENOENT' ? `${file}: file not found` : `${file}: cannot open (${err.message.split(',')[0]})`);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (stat.isDirectory()) throw new Dd3dError(`${file}: expected a .safetensors file, got a folder`);
    const size = stat.size;
    const prefix = new Uint8Array(8);
    fs.readSync(fd, prefix, 0, Math.min(8, size), 0);
    const n = headerLength(file, prefix, size);
    const json = new Uint8Array(n);
    readFully(fd, json, 8);
    const header = parseHeader(file, json, size - 8 - n);
    let open = true;
    return makeFile(
      file,
      header,
      (begin, length) => {
        if (!open) throw new Error(`${file}: read after close`);
        const out = new Uint8Array(length);
        readFully(fd, out, 8 + n + begin);
        return out;
      },
      () => {
        if (open) fs.closeSync(fd);
        open = false;
      },
    );
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

// readSync moves at most ~2 GB per call and may return short; loop in 1 GiB chunks.
function readFully(fd: number, out: Uint8Array, position: number): void {
  for (let done = 0; done < out.length;) {
    const got = fs.readSync(fd, out, done, Math.min(out.length - done, 1 << 30), position + done);
    if (got === 0) throw new Error(`unexpected end of file at byte ${position + done}`);
    done += got;
  }
}

/** Parse a whole safetensors file held in memory. `label` names it in error messages. */
export function parseSafetensors(buf: Uint8Array, label = '<buffer>'): SafetensorsFile {
  const n = headerLength(label, buf.subarray(0, 8), buf.length);
  const header = parseHeader(label, buf.subarray(8, 8 + n), buf.length - 8 - n);
  // Copy each slice so the typed array views start aligned, whatever the header length was.
  const read = (begin: number, length: number) => new Uint8Array(buf.subarray(8 + n + begin, 8 + n + begin + length));
  return makeFile(label, header, read, () => {});
}

/** Read every tensor of a file (fine for small files; use openSafetensors for checkpoints). */
export function readSafetensors(file: string): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const f = openSafetensors(file);
  try {
    return { tensors: new Map(f.names.map((name) => [name, f.get(name)])), metadata: f.metadata };
  } finally {
    f.close();
  }
}

const ARRAY_DTYPE = (data: Tensor['data']): string =>
  data instanceof Float32Array ? 'F32' : data instanceof Int32Array ? 'I32' : data instanceof Uint8Array ? 'U8' : '?';

/**
 * Header bytes and tensor order for writing. Tensors go largest element size first, then by
 * name, so each one starts aligned to its element size (the reference writer likewise sorts
 * by dtype before name) and the output does not depend on insertion order.
 */
function layout(tensors: Record<string, Tensor> | Map<string, Tensor>, metadata?: Record<string, string>) {
  const list = [...(tensors instanceof Map ? tensors : Object.entries(tensors))];
  for (const [name, t] of list) {
    // These are programming errors, not user input: plain Error keeps the stack.
    if (name === '__metadata__') throw new Error('safetensors: "__metadata__" is reserved and cannot name a tensor');
    if (ARRAY_DTYPE(t.data) !== t.dtype) {
      throw new Error(`safetensors: tensor "${name}": dtype ${t.dtype} does not match its ${t.data.constructor.name}`);
    }
    if (t.shape.reduce((a, b) => a * b, 1) !== t.data.length) {
      throw new Error(`safetensors: tensor "${name}": shape [${t.shape}] does not hold ${t.data.length} values`);
    }
  }
  list.sort(([an, a], [bn, b]) => b.data.BYTES_PER_ELEMENT - a.data.BYTES_PER_ELEMENT || (an < bn ? -1 : an > bn ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of list) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  const len = Buffer.byteLength(json);
  json += ' '.repeat((8 - (len % 8)) % 8); // pad with spaces so the data section starts 8-aligned
  const head = new Uint8Array(8 + len + ((8 - (len % 8)) % 8));
  new DataView(head.buffer).setBigUint64(0, BigInt(head.length - 8), true);
  new TextEncoder().encodeInto(json, head.subarray(8));
  const bytes = list.map(([, t]) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return { head, bytes, total: head.length + offset };
}

/** Serialize tensors (F32, I32, U8) and optional string metadata to safetensors bytes. */
export function serializeSafetensors(tensors: Record<string, Tensor> | Map<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const { head, bytes, total } = layout(tensors, metadata);
  const out = new Uint8Array(total);
  out.set(head);
  let at = head.length;
  for (const b of bytes) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** Write a safetensors file atomically (temporary name, then rename). */
export function writeSafetensors(file: string, tensors: Record<string, Tensor> | Map<string, Tensor>, metadata?: Record<string, string>): void {
  const { head, bytes } = layout(tensors, metadata);
  writeFileAtomic(file, [head, ...bytes]);
}
