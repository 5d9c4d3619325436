/**
 * JSON text the way the Python validator writes it: `json.dumps(value)` with its default
 * separators (", " and ": ") and `ensure_ascii=True` (every non-ASCII code unit as \uXXXX, lone
 * surrogates included). Python reads it back to the same values. One difference cannot be
 * avoided from JavaScript: a float with an integral value that Python wrote as `1.0` was parsed
 * by JSON.parse as the number 1 and is written back as `1`; Python reads it as int 1, which
 * compares equal to 1.0 (and pydantic models coerce it back to float).
 */

function str(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else if (c === 0x08) out += '\\b';
    else if (c === 0x0c) out += '\\f';
    else if (c < 0x20 || c > 0x7e) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else out += s[i];
  }
  return `${out}"`;
}

function num(n: number): string {
  if (!Number.isFinite(n)) throw new TypeError(`cannot write ${n} as JSON`);
  if (Object.is(n, -0)) return '-0.0';
  return String(n);
}

export function pyJsonDumps(v: unknown): string {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return str(v);
    case 'number':
      return num(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (Array.isArray(v)) return `[${v.map(pyJsonDumps).join(', ')}]`;
      const o = v as Record<string, unknown>;
      const parts: string[] = [];
      for (const k of Object.keys(o)) {
        if (o[k] === undefined) continue;
        parts.push(`${str(k)}: ${pyJsonDumps(o[k])}`);
      }
      return `{${parts.join(', ')}}`;
    }
    default:
      throw new TypeError(`cannot write a ${typeof v} as JSON`);
  }
}
