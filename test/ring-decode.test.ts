// pop decodes a JSON message in place, from the ring's shared slot (issue 12: no copy and no view
// per pop). What must hold: a popped value shares nothing with the slot, so the slot's reuse by
// later pushes (the ring wraps) changes nothing in it; decoding from the ring's buffer does not
// disturb a decode from another buffer in between (the decoder's cached views, decode.ts); and a
// corrupt slot leaves the message queued (the crash table's ring.pop.copied row).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GeneralDomain, createGeneralHandle, resolveGeneralOptions } from '../src/domains/general.ts';
import { decodeValue, encodeValue } from '../src/internal/codec/codec.ts';
import { hashKeyFromSeed } from '../src/internal/hash/hash.ts';
import { realPositions } from '../support/data.ts';

const key = hashKeyFromSeed(0x5eed_4321n);

function queue(capacity: number, maxMessageBytes: number) {
  const handle = createGeneralHandle(resolveGeneralOptions({ queues: { q: { capacity, maxMessageBytes } } }), key);
  return { handle, a: new GeneralDomain(handle, key).queue('q'), b: new GeneralDomain(handle, key).queue('q') };
}

test('popped JSON values stay as they were after their slot is reused (the ring wraps many times)', () => {
  const { a, b } = queue(2, 16384);
  const orders = realPositions().flatMap((p) => p.orders as unknown[]);
  const popped: unknown[] = [];
  for (let i = 0; i < 40; i++) {
    const msg = { i, order: orders[i % orders.length], text: `notice ${i} ${'x'.repeat(i)}`, list: [i, i + 0.5, `s${i}`] };
    assert.ok(a.push(msg));
    popped.push(b.pop());
  }
  for (let i = 0; i < 40; i++) {
    assert.equal(popped[i], { i, order: orders[i % orders.length], text: `notice ${i} ${'x'.repeat(i)}`, list: [i, i + 0.5, `s${i}`] }, `message ${i}`);
  }
});

test('a pop between two decodes of another buffer does not disturb them', () => {
  const { a, b } = queue(4, 4096);
  const other = encodeValue({ other: 'buffer', n: 1.25, long: 'y'.repeat(40) }).slice();
  assert.equal(decodeValue(other), { other: 'buffer', n: 1.25, long: 'y'.repeat(40) });
  a.push({ from: 'ring', long: 'z'.repeat(40) });
  assert.equal(b.pop(), { from: 'ring', long: 'z'.repeat(40) });
  assert.equal(decodeValue(other), { other: 'buffer', n: 1.25, long: 'y'.repeat(40) });
  a.push({ again: true });
  assert.equal(b.pop(), { again: true });
});

test('a corrupt JSON slot throws and leaves the message queued', () => {
  const { handle, a, b } = queue(4, 256);
  assert.ok(a.push({ k: 'v' }));
  // Corrupt the payload's format version byte in the ring's region (slot 0), found by its bytes.
  const sab = handle.queues.find((q) => q.name === 'q')!.sab;
  const u8 = new Uint8Array(sab);
  const enc = encodeValue({ k: 'v' });
  let at = -1;
  for (let i = 0; i + enc.length <= u8.length && at < 0; i++) {
    let same = true;
    for (let j = 0; j < enc.length && same; j++) same = u8[i + j] === enc[j];
    if (same) at = i;
  }
  assert.ok(at >= 0, 'found the payload');
  const was = u8[at]!;
  u8[at] = 0xee;
  assert.throws(() => b.pop(), /codec: corrupt input/);
  assert.is(b.size, 1, 'still queued');
  u8[at] = was;
  assert.equal(b.pop(), { k: 'v' });
  assert.is(b.size, 0);
});

test.run();
