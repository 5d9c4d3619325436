// Stress messages for the ring tests: message i of producer p, of one of three kinds (JSON object,
// string, bytes), with a padding whose every unit is derived from (p, i), so a torn or mixed copy
// is caught by checkMessage. Packed ids: p * 2^20 + i.

export const ID_BITS = 20;
/** Tells a consumer to stop. */
export const STOP = 'stop';

function padChar(p: number, i: number): string {
  return String.fromCharCode(97 + ((p * 7 + i) % 26));
}

export function makeMessage(p: number, i: number, rnd: () => number, maxPad: number): unknown {
  const len = Math.floor(rnd() * maxPad);
  const kind = Math.floor(rnd() * 3);
  if (kind === 0) return { p, i, pad: padChar(p, i).repeat(len) };
  if (kind === 1) return `${p}:${i}:${padChar(p, i).repeat(len)}`;
  const b = new Uint8Array(8 + len);
  const v = new DataView(b.buffer);
  v.setInt32(0, p, true);
  v.setInt32(4, i, true);
  b.fill((p * 7 + i) & 255, 8);
  return b;
}

/** Checks a popped message's integrity; returns its packed id. Throws on any damage. */
export function checkMessage(m: unknown): number {
  let p: number;
  let i: number;
  if (m instanceof Uint8Array) {
    const v = new DataView(m.buffer, m.byteOffset, m.byteLength);
    p = v.getInt32(0, true);
    i = v.getInt32(4, true);
    for (let k = 8; k < m.length; k++) if (m[k] !== ((p * 7 + i) & 255)) throw new Error(`torn bytes message ${p}:${i}`);
  } else if (typeof m === 'string') {
    const [a, b, pad] = m.split(':');
    p = Number(a);
    i = Number(b);
    if (pad === undefined || pad !== padChar(p, i).repeat(pad.length)) throw new Error(`torn string message ${m.slice(0, 40)}`);
  } else {
    const o = m as { p: number; i: number; pad: string };
    p = o.p;
    i = o.i;
    if (typeof o.pad !== 'string' || o.pad !== padChar(p, i).repeat(o.pad.length)) throw new Error(`torn JSON message ${p}:${i}`);
  }
  return p * 2 ** ID_BITS + i;
}
