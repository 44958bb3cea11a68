/**
 * JSON as Python's json module writes it: json.dumps writes inf/nan as bare Infinity/NaN
 * tokens (diffusers saves lambda_min_clipped = -inf that way), which JSON.parse rejects.
 */
export function parsePythonJson(text: string): unknown {
  const marker = '\u0000nonfinite:';
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (inString) {
      out += ch;
      if (ch === '\\') out += text[++i] ?? '';
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    const token = /^(-?Infinity|NaN)/.exec(text.slice(i, i + 9));
    if (token) {
      out += JSON.stringify(marker + token[1]);
      i += token[1]!.length - 1;
    } else out += ch;
  }
  return JSON.parse(out, (_k, v: unknown) => (typeof v === 'string' && v.startsWith(marker) ? Number(v.slice(marker.length)) : v));
}
