/**
 * Turning a request path into a file on disk without ever leaving the folder it names.
 *
 * The viewer serves a user's folder over HTTP, so a URL must not reach anything outside it,
 * however it is spelled. Rather than normalizing and hoping, we refuse anything unusual:
 * the raw (still percent-encoded) path is split on "/" *before* decoding, each segment is
 * decoded once on its own, and a segment is rejected when it is empty (a "//" or an
 * absolute path), "." or "..", hidden (starts with "."), or when its decoded form holds a
 * separator ("%2f", "%5c"), a backslash, a NUL, or a "%" (double encoding such as
 * "%252e%252e"). What survives is joined under the root and resolved with fs.realpath, and
 * the result must still be inside realpath(root): a symlink whose target is outside is
 * refused; one that stays inside is served like the file it points to. Only regular files
 * with an allowed extension come back, so there is never a directory listing.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

/** Decoded path segments of `raw`, or null when any segment is unsafe. */
export function safeSegments(raw: string): string[] | null {
  if (raw === '' || raw.includes('\\') || raw.includes('\0')) return null;
  const out: string[] = [];
  for (const encoded of raw.split('/')) {
    let seg: string;
    try {
      seg = decodeURIComponent(encoded);
    } catch {
      return null; // malformed escape such as "%zz" or a lone "%"
    }
    if (seg === '' || seg.startsWith('.') || /[/\\\0%]/.test(seg)) return null;
    out.push(seg);
  }
  return out;
}

/** True when `file` is `root` or below it (both already real, absolute paths). */
export function isInside(root: string, file: string): boolean {
  const rel = path.relative(root, file);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

export interface SafeFile {
  /** The real path of the file. */
  file: string;
  size: number;
  mtime: Date;
}

/**
 * The regular file that `raw` (a percent-encoded path relative to `realRoot`) names, when
 * it is safe, exists, stays inside `realRoot` after resolving symlinks, and both its name
 * and its real name end in one of `extensions` (lower case, with the dot); otherwise null.
 */
export async function resolveSafeFile(realRoot: string, raw: string, extensions: readonly string[]): Promise<SafeFile | null> {
  const segments = safeSegments(raw);
  if (!segments) return null;
  const lexical = path.join(realRoot, ...segments);
  if (!extensions.includes(path.extname(lexical).toLowerCase())) return null;
  try {
    const real = await fs.realpath(lexical);
    if (!isInside(realRoot, real) || !extensions.includes(path.extname(real).toLowerCase())) return null;
    const st = await fs.stat(real);
    return st.isFile() ? { file: real, size: st.size, mtime: st.mtime } : null;
  } catch {
    return null; // missing, a dangling link, no permission: all look the same from outside
  }
}
