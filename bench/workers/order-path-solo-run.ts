/**
 * The one-thread rows of bench/order-path.ts, each variant in its own process (order-path-solo.ts)
 * so that each is charged its own GC: the parent forks one child per variant, each builds the same
 * state in its own engine, and they take turns by block (BLOCK orders each, in a rotating order:
 * round r starts with variant r mod V), so all of them see the same machine load; only the child
 * holding the turn runs orders. Each round: warm-up (untimed blocks, warmMs), then 'start' in every
 * child, timed blocks for ms, then 'stop' (order-path-solo.ts says what a child measures). Fresh
 * children each round. Every wait on a child has a deadline: a child that hangs or dies fails the
 * run instead of stalling it.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { SoloArgs, SoloReport } from './order-path-solo.ts';

export type { SoloReport } from './order-path-solo.ts';

export interface SoloVariant {
  key: SoloArgs['variant'];
  /** The row's variant name in bench/order-path.ts. */
  name: string;
  streamSeed: number;
  /** Its engine without BENCH_PREFAULT's prefault (order-path-solo.ts). */
  noPrefault?: boolean;
}
export interface SoloOptions {
  variants: SoloVariant[];
  rounds: number;
  ms: number;
  warmMs: number;
  block: number;
  hotkeys: number;
  maxOrders: number;
  seed: number;
  /** Orders of the append step every child runs first (order-path-solo.ts: the same steady state for every variant). */
  evolve: number;
  /** Deadline for any one answer of a child (its seeding, a block, its report). */
  limitMs: number;
}

type Msg = { t: string; report?: SoloReport };

/** A child and its answers in arrival order. */
class Child {
  readonly proc: ChildProcess;
  readonly #inbox: Msg[] = [];
  #wake: (() => void) | null = null;
  #dead: string | null = null;

  constructor(args: SoloArgs) {
    const file = fileURLToPath(new URL('./order-path-solo.ts', import.meta.url));
    // process.execArgv carries --import tsx (and --expose-gc when given) to the child.
    this.proc = fork(file, [JSON.stringify(args)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.proc.on('message', (m: Msg) => {
      this.#inbox.push(m);
      this.#wake?.();
    });
    this.proc.on('exit', (code, signal) => {
      this.#dead = `${args.variant} child exited (${code ?? signal})`;
      this.#wake?.();
    });
  }

  /** The next message, which must be of type `t`, within limitMs. */
  async next(t: string, limitMs: number): Promise<Msg> {
    const deadline = Date.now() + limitMs;
    while (this.#inbox.length === 0) {
      if (this.#dead !== null) throw new Error(`${this.#dead} while the parent waited for '${t}'`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no '${t}' from a child within ${limitMs} ms`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, left);
        this.#wake = () => {
          clearTimeout(timer);
          r();
        };
      });
      this.#wake = null;
    }
    const m = this.#inbox.shift()!;
    if (m.t !== t) throw new Error(`expected '${t}' from a child, got '${m.t}'`);
    return m;
  }

  ask(m: object, answer: string, limitMs: number): Promise<Msg> {
    this.proc.send(m);
    return this.next(answer, limitMs);
  }
}

/** Runs o.rounds rounds; result[r][k] is variant k's report in round r. */
export async function runSolo(o: SoloOptions): Promise<SoloReport[][]> {
  const out: SoloReport[][] = [];
  for (let r = 0; r < o.rounds; r++) {
    const children = o.variants.map((v) => new Child({ variant: v.key, seed: o.seed, hotkeys: o.hotkeys, maxOrders: o.maxOrders, block: o.block, streamSeed: v.streamSeed, evolve: o.evolve, ...(v.noPrefault === true ? { noPrefault: true } : {}) }));
    try {
      await Promise.all(children.map((c) => c.next('ready', o.limitMs)));
      const turn = o.variants.map((_, k) => (k + r) % o.variants.length);
      const blocks = async (timed: boolean, forMs: number): Promise<void> => {
        const end = performance.now() + forMs;
        do {
          for (const k of turn) await children[k]!.ask({ t: 'block', timed }, 'done', o.limitMs);
        } while (performance.now() < end);
      };
      await blocks(false, o.warmMs);
      for (const k of turn) await children[k]!.ask({ t: 'start' }, 'started', o.limitMs);
      await blocks(true, o.ms);
      const reports: SoloReport[] = [];
      for (const c of children) reports.push((await c.ask({ t: 'stop' }, 'report', o.limitMs)).report!);
      out.push(reports);
    } finally {
      for (const c of children) if (c.proc.exitCode === null) c.proc.kill();
    }
  }
  return out;
}

/** The CPU figures of a report per timed order (µs). */
export function perOrder(r: SoloReport): { process: number; main: number; helpers: number; gcPause: number } {
  const n = r.orders > 0 ? r.orders : NaN;
  return { process: r.processCpuUs / n, main: r.mainCpuUs / n, helpers: (r.processCpuUs - r.mainCpuUs) / n, gcPause: (r.gc.pauseMs * 1000) / n };
}
