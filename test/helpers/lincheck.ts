/**
 * A linearizability checker: Wing & Gong's search ("Testing and Verifying Concurrent Objects",
 * 1993) with Lowe's memoization ("Testing for linearizability", 2017), the algorithm Porcupine
 * implements (written here from the papers, not from its code).
 *
 * A history is a list of completed operations, each with its input, its output and the times of
 * its call and its return on one clock that all threads share (test workers take both from an
 * Atomics.add on a shared counter, so times are unique and ordered as the operations really
 * were). It is linearizable when some total order of the operations (1) agrees with real time:
 * an operation that returned before another was called comes first, and (2) is a legal
 * sequential run of the model: each output is the one the model gives in that order.
 *
 * Search. The calls and returns form one list sorted by time. The search walks it, keeping the
 * model state and the set of operations linearized so far: at a call it tries to linearize that
 * operation now (the model accepts its output from the current state); it lifts the call and its
 * return out of the list, pushes a frame and starts over at the list's head. At a return whose
 * call is still in the list, that operation cannot be linearized later than here: backtrack to the
 * last frame and try the next candidate after it. The list empty: every operation linearized.
 * Lowe's memoization: a (linearized set, model state) pair seen before is not explored again,
 * which makes the search fast on real histories (its cost grows with the concurrency, not the
 * length). Models give each state a string key; the set is a bitset.
 *
 * On failure the result explains the deepest point the search reached: the longest linearized
 * prefix, the model state there, and the operation whose return could not be passed (no order of
 * the operations pending then gives its output).
 */

/** One completed operation. Times: any numbers from one clock, call < ret. */
export interface Operation<I, O> {
  client: number;
  input: I;
  output: O;
  call: number;
  ret: number;
}

/** A sequential specification. `step` returns the next state, or undefined if `output` is impossible. */
export interface Model<S, I, O> {
  init(): S;
  step(state: S, input: I, output: O): S | undefined;
  /** Equal keys for equal states (memoization). */
  key(state: S): string;
  describe?(input: I, output: O): string;
}

export interface CheckResult {
  ok: boolean;
  /** The search gave up (step budget): neither proven nor refuted. */
  unknown?: boolean;
  /** Search steps taken. */
  steps: number;
  /** On failure: a readable account of the deepest point reached. */
  explanation?: string;
}

interface Entry {
  id: number;
  isCall: boolean;
  time: number;
  /** The call entry's return entry (for a call). */
  match: Entry | null;
  prev: Entry | null;
  next: Entry | null;
}

function lift(e: Entry): void {
  e.prev!.next = e.next;
  if (e.next) e.next.prev = e.prev;
  const m = e.match!;
  m.prev!.next = m.next;
  if (m.next) m.next.prev = m.prev;
}

function unlift(e: Entry): void {
  // Reinserted in the reverse order of lift: the return first, then the call.
  const m = e.match!;
  m.prev!.next = m;
  if (m.next) m.next.prev = m;
  e.prev!.next = e;
  if (e.next) e.next.prev = e;
}

export function checkLinearizable<S, I, O>(
  model: Model<S, I, O>,
  history: ReadonlyArray<Operation<I, O>>,
  options: { maxSteps?: number } = {},
): CheckResult {
  const maxSteps = options.maxSteps ?? 50_000_000;
  const n = history.length;
  const events: Entry[] = [];
  history.forEach((op, id) => {
    if (!(op.call < op.ret)) throw new Error(`operation ${id}: call ${op.call} is not before its return ${op.ret}`);
    const ret: Entry = { id, isCall: false, time: op.ret, match: null, prev: null, next: null };
    events.push({ id, isCall: true, time: op.call, match: ret, prev: null, next: null }, ret);
  });
  // At equal times calls go first (overlap: the permissive reading).
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1));
  const head: Entry = { id: -1, isCall: false, time: -Infinity, match: null, prev: null, next: null };
  let last = head;
  for (const e of events) {
    last.next = e;
    e.prev = last;
    last = e;
  }

  const words = new Uint32Array((n + 31) >>> 5);
  const seen = new Set<string>();
  const stack: Array<{ entry: Entry; state: S }> = [];
  let state = model.init();
  let entry = head.next;
  let steps = 0;
  let deepest = -1;
  let stuck: { order: number[]; state: S; blocked: number } | undefined;

  while (head.next !== null) {
    if (++steps > maxSteps) return { ok: false, unknown: true, steps };
    const e = entry!;
    if (e.isCall) {
      const op = history[e.id]!;
      const next = model.step(state, op.input, op.output);
      if (next !== undefined) {
        words[e.id >>> 5]! |= 1 << (e.id & 31);
        const key = `${words.join(',')}|${model.key(next)}`;
        if (!seen.has(key)) {
          seen.add(key);
          stack.push({ entry: e, state });
          state = next;
          lift(e);
          entry = head.next;
          continue;
        }
        words[e.id >>> 5]! &= ~(1 << (e.id & 31));
      }
      entry = e.next;
    } else {
      // A return whose call is still unlinearized: nothing before it can be tried later.
      if (stack.length > deepest) {
        deepest = stack.length;
        stuck = { order: stack.map((f) => f.entry.id), state, blocked: e.id };
      }
      const top = stack.pop();
      if (top === undefined) return { ok: false, steps, explanation: explain(model, history, stuck) };
      state = top.state;
      words[top.entry.id >>> 5]! &= ~(1 << (top.entry.id & 31));
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  return { ok: true, steps };
}

function explain<S, I, O>(
  model: Model<S, I, O>,
  history: ReadonlyArray<Operation<I, O>>,
  stuck: { order: number[]; state: S; blocked: number } | undefined,
): string {
  if (stuck === undefined) return 'no operation could be linearized first';
  const show = (id: number): string => {
    const op = history[id]!;
    const what = model.describe ? model.describe(op.input, op.output) : `${JSON.stringify(op.input)} -> ${JSON.stringify(op.output)}`;
    return `#${id} client ${op.client} [${op.call}, ${op.ret}] ${what}`;
  };
  const b = history[stuck.blocked]!;
  const done = new Set(stuck.order);
  const pending = history
    .map((op, id) => ({ op, id }))
    .filter(({ op, id }) => !done.has(id) && op.call < b.ret)
    .map(({ id }) => `  ${show(id)}`);
  return [
    `longest linearizable prefix: ${stuck.order.length} of ${history.length} operations; its last ones:`,
    ...stuck.order.slice(-8).map((id) => `  ${show(id)}`),
    `model state then: ${model.key(stuck.state)}`,
    `cannot linearize, before its return at ${b.ret}: ${show(stuck.blocked)}`,
    'operations called by then and not linearized:',
    ...pending.slice(0, 12),
  ].join('\n');
}

// ---- the bounded FIFO queue model ----------------------------------------------------------------

export type QueueInput = { op: 'push'; value: number } | { op: 'pop' } | { op: 'size' };
/** push: accepted?; pop: the value, or null for empty; size: the count. */
export type QueueOutput = boolean | number | null;

/** A bounded FIFO queue of distinct numbers: push false only when full, pop null only when empty. */
export function queueModel(capacity: number): Model<readonly number[], QueueInput, QueueOutput> {
  return {
    init: () => [],
    step(s, input, output) {
      switch (input.op) {
        case 'push':
          if (output === false) return s.length >= capacity ? s : undefined;
          return s.length < capacity ? [...s, input.value] : undefined;
        case 'pop':
          if (output === null) return s.length === 0 ? s : undefined;
          return s.length > 0 && s[0] === output ? s.slice(1) : undefined;
        case 'size':
          return output === s.length ? s : undefined;
      }
    },
    key: (s) => s.join(','),
    describe: (input, output) =>
      input.op === 'push' ? `push(${input.value}) -> ${String(output)}` : input.op === 'pop' ? `pop() -> ${output === null ? 'empty' : String(output)}` : `size -> ${String(output)}`,
  };
}
