/**
 * A user-facing failure: bad input, a missing file, a config outside the supported space.
 * The CLI prints only `message` (one line, naming the file, key or flag and what was
 * expected) and exits non-zero; anything else escaping is a bug and keeps its stack.
 */
/** `s` with every run of whitespace (newlines too) as one space: a cause quoted inside a one-line message. */
export function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}

export class Dd3dError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Dd3dError';
  }
}
