"""bench/order-path.ts, peer B: the validator's order path on Python's multiprocessing.Manager.

    python3 bench/peers/manager_order_path.py CONFIG.json

Standard library only. This is the design sabstate replaces: the shared state lives in one
Manager server process and every worker process reaches it through proxies, so every lookup,
every store and every lock acquire is a socket round trip to that server.

Two designs, each run with every worker count of the config ("managers": [1, 5] by default):
  one manager    every dict, every Lock and the Queue in one Manager server process (the seed);
  five managers  the seed's later design: one Manager server per domain, as sabstate's five
                 contention domains: locks (the lock dict and its Locks), positions (open and
                 closed), eliminations, departed, general (account sizes and the notice Queue).

State (reused by every case of a design, the position dicts re-seeded before each):
  eliminations   Manager dict  hotkey -> elimination row
  departed       Manager dict  hotkey -> {"detected_ms": int}
  account_sizes  Manager dict  hotkey -> float
  open_positions Manager dict  "hotkey|trade pair" -> open position (the validator's JSON shape)
  closed         Manager dict  position_uuid -> closed position
  locks          Manager dict  (hotkey, trade pair) -> Manager Lock, as the validator's
                 PositionLocks: `if key not in locks: ...` then `with locks[key]:` every order
                 (the lookup returns a new proxy each time: incref and decref are round trips
                 too). The locks are created before the timed window, so no creation race.
  notices        Manager Queue, drained by one consumer process (the websocket sender)

The order path per order (same stream and decision as the JS cases): `hotkey in eliminations`,
`hotkey in departed` (rejected: no lock), lock (hotkey, trade pair), account size, open position,
next position (the order appended), save, notice put, release. W worker processes run it for
a warmup (untimed), meet at a barrier, then run for `ms`, each recording perf_counter_ns around
each order into the same log histogram as the JS side (16 buckets per octave of microseconds).

Prints ONE JSON line: {"python": version, "setup_s": {managers: s}, "cases": [{managers, workers,
orders, saved, rejected, rate, cpu_s, cpu_by_kind_s: {order processes, manager servers, consumer},
rss_bytes, hist, seeded_orders, stored_orders, warm_saved, popped, ok}, ...]}. rss_bytes: resident
memory of every process of the case (manager servers, order processes, consumer, this one) at the
end of the timed window.
"""
import json
import math
import multiprocessing as mp
import os
import queue as queue_mod
import random
import sys
import threading
import time
import uuid
from multiprocessing.managers import AcquirerProxy

BUCKETS = 320
PER_OCTAVE = 16


def bucket_of(us):
    if us < 1:
        return 0
    return min(BUCKETS - 1, int(math.floor(math.log2(us) * PER_OCTAVE)) + 1)


def tp_id(p):
    tp = p["trade_pair"]
    return tp if isinstance(tp, str) else tp[0]


def next_position(open_, hotkey, tp, order, new_uuid):
    """The validator's position update for one order (as examples/validator/shared.ts)."""
    if open_ is None:
        return {
            "miner_hotkey": hotkey, "position_uuid": new_uuid, "open_ms": order["processed_ms"], "trade_pair": tp,
            "orders": [order], "current_return": 1.0, "close_ms": None, "return_at_close": 1.0,
            "net_leverage": order["leverage"], "average_entry_price": order["price"],
            "initial_entry_price": order["price"], "position_type": order["order_type"], "is_closed_position": False,
        }
    net = 0 if order["order_type"] == "FLAT" else float(open_["net_leverage"]) + order["leverage"]
    closed = order["order_type"] == "FLAT" or abs(net) < 1e-9
    nxt = dict(open_)
    nxt["orders"] = open_["orders"] + [order]
    nxt["net_leverage"] = 0 if closed else net
    nxt["current_return"] = float(open_["current_return"]) * (1 + (order["price"] - float(open_["average_entry_price"])) * 1e-6)
    nxt["close_ms"] = order["processed_ms"] if closed else None
    nxt["position_type"] = "FLAT" if closed else open_["position_type"]
    nxt["is_closed_position"] = closed
    return nxt


class OrderPath:
    def __init__(self, cfg, px, seed):
        self.cfg = cfg
        self.px = px
        self.rnd = random.Random(seed)
        s = cfg["setup"]
        self.hotkeys = s["hotkeys"]
        self.templates = s["templates"]
        self.max_orders = s["maxOrders"]
        self.tps = cfg["tradePairs"]

    def order(self):
        rnd, px = self.rnd, self.px
        hotkey = self.hotkeys[int(rnd.random() * len(self.hotkeys))]
        tp = self.tps[int(rnd.random() * len(self.tps))]
        template = self.templates[int(rnd.random() * len(self.templates))]
        r = rnd.random()
        t0 = time.perf_counter_ns()
        if hotkey in px["eliminations"] or hotkey in px["departed"]:
            return False, time.perf_counter_ns() - t0
        key = (hotkey, tp[0])
        locks = px["locks"]
        if key not in locks:  # the validator's PositionLocks.get_lock
            raise RuntimeError("lock not pre-created for %r" % (key,))
        with locks[key]:
            account_size = px["account_sizes"].get(hotkey)
            okey = hotkey + "|" + tp[0]
            open_ = px["open_positions"].get(okey)
            typ = "LONG" if r < 0.45 else "SHORT" if r < 0.9 else "FLAT"
            if open_ is None and typ == "FLAT":
                typ = "LONG"
            if open_ is not None and len(open_["orders"]) >= self.max_orders - 1:
                typ = "FLAT"
            lev = 0 if typ == "FLAT" else (1 if typ == "LONG" else -1) * min(0.5, (account_size or 100000) / 1e6) * (0.1 + r)
            order = dict(template)
            order.update(order_type=typ, leverage=lev, processed_ms=int(time.time() * 1000), order_uuid=str(uuid.uuid4()))
            nxt = next_position(open_, hotkey, tp, order, str(uuid.uuid4()))
            if nxt["is_closed_position"]:
                px["closed"][nxt["position_uuid"]] = nxt
                if open_ is not None:
                    del px["open_positions"][okey]
            else:
                px["open_positions"][okey] = nxt
            px["notices"].put({"hotkey": hotkey, "trade_pair": tp[0], "position_uuid": nxt["position_uuid"],
                               "order_uuid": order["order_uuid"], "order_type": typ,
                               "n_orders": len(nxt["orders"]), "closed": nxt["is_closed_position"]})
        return True, time.perf_counter_ns() - t0


def order_worker(index, cfg, px, barrier, results):
    path = OrderPath(cfg, px, cfg["seed"] * 1000 + index)
    warm_orders = warm_saved = 0
    warm_end = time.perf_counter() + cfg["warmMs"] / 1000
    while time.perf_counter() < warm_end:
        warm_orders += 1
        if path.order()[0]:
            warm_saved += 1
    barrier.wait()
    hist = [0] * BUCKETS
    orders = saved = rejected = 0
    c0 = time.process_time()
    t0 = time.perf_counter()
    end = t0 + cfg["ms"] / 1000
    now = t0
    while now < end:
        ok, ns = path.order()
        now = time.perf_counter()
        hist[bucket_of(ns / 1000)] += 1
        orders += 1
        if ok:
            saved += 1
        else:
            rejected += 1
    cpu_s = time.process_time() - c0
    results.put({"orders": orders, "saved": saved, "rejected": rejected, "elapsed_s": now - t0, "cpu_s": cpu_s, "hist": hist,
                 "warm_orders": warm_orders, "warm_saved": warm_saved, "rss": rss_of(os.getpid())})


def consumer(notices, stop, results):
    popped = 0
    while True:
        was_stopped = stop.is_set()
        try:
            notices.get(timeout=0.02)
            popped += 1
        except queue_mod.Empty:
            if was_stopped:
                break
    results.put({"popped": popped})


def create_locks(manager, keys):
    """One Manager Lock per key, made before the timed window. manager.Lock() opens three
    connections (create, incref, decref: about 1-5 ms each here); this makes the same server-side
    Lock with the create request alone (what manager.Lock() calls first), on 4 threads, and keeps
    the reference the create gave (incref=False: the lock lives until the manager shuts down)."""
    out = {}

    def make(part):
        for key in part:
            token, exposed = manager._create("Lock")
            out[key] = AcquirerProxy(token, manager._serializer, manager=manager, authkey=manager._authkey,
                                     exposed=exposed, incref=False)

    threads = [threading.Thread(target=make, args=(keys[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def cpu_s_of(pid):
    """User + system CPU seconds of a process, from /proc (Linux); 0 where unavailable."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def rss_of(pid):
    """Resident memory of a process in bytes (VmRSS, Linux); 0 where unavailable."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def seed_state(px, setup):
    s = setup
    open_seed, closed_seed = {}, {}
    for p in s["positions"]:
        if p["is_closed_position"]:
            closed_seed[p["position_uuid"]] = p
        else:
            open_seed[p["miner_hotkey"] + "|" + tp_id(p)] = p
    px["open_positions"].clear()
    px["open_positions"].update(open_seed)
    px["closed"].clear()
    px["closed"].update(closed_seed)


def stored_orders(px):
    n = 0
    for p in px["open_positions"].values():
        n += len(p["orders"])
    for p in px["closed"].values():
        n += len(p["orders"])
    return n


def start_design(ctx, setup, trade_pairs, n_managers):
    """The Manager server(s) of one design and the proxies of its state; returns (px, managers)."""
    managers = [ctx.Manager() for _ in range(n_managers)]
    # domain -> manager: all in one, or one each (locks, positions, eliminations, departed, general)
    m = {d: managers[i % n_managers] for i, d in enumerate(["locks", "positions", "eliminations", "departed", "general"])}
    px = {
        "eliminations": m["eliminations"].dict({hk: {"hotkey": hk, "reason": "PLAGIARISM"} for hk in setup["eliminated"]}),
        "departed": m["departed"].dict(setup["departed"]),
        "account_sizes": m["general"].dict(setup["accountSizes"]),
        "open_positions": m["positions"].dict(),
        "closed": m["positions"].dict(),
        "locks": m["locks"].dict(),
        "general": m["general"],
    }
    rejected = set(setup["eliminated"]) | set(setup["departed"])
    keys = [(hk, tp[0]) for hk in setup["hotkeys"] if hk not in rejected for tp in trade_pairs]
    px["locks"].update(create_locks(m["locks"], keys))
    return px, managers


def run_case(ctx, cfg, px, managers, w):
    setup = cfg["setup"]
    seed_state(px, setup)
    px["notices"] = px["general"].Queue()
    results = ctx.Queue()
    stop = ctx.Event()
    barrier = ctx.Barrier(w + 1)
    cons = ctx.Process(target=consumer, args=(px["notices"], stop, results), daemon=True)
    cons.start()
    worker_px = {k: v for k, v in px.items() if k != "general"}
    procs = [ctx.Process(target=order_worker, args=(i, cfg, worker_px, barrier, results), daemon=True) for i in range(w)]
    for p in procs:
        p.start()
    server_pids = [mg._process.pid for mg in managers]
    barrier.wait(timeout=cfg["ms"] / 1000 + 60)
    server0 = sum(cpu_s_of(pid) for pid in server_pids)
    cons0 = cpu_s_of(cons.pid)
    tallies = [results.get(timeout=cfg["ms"] / 1000 + 60) for _ in procs]
    server_cpu = sum(cpu_s_of(pid) for pid in server_pids) - server0
    cons_cpu = cpu_s_of(cons.pid) - cons0
    rss = sum(rss_of(pid) for pid in server_pids) + rss_of(cons.pid) + rss_of(os.getpid()) + sum(t["rss"] for t in tallies)
    for p in procs:
        p.join()
    stop.set()
    popped = results.get(timeout=60)["popped"]
    cons.join()
    hist = [0] * BUCKETS
    for t in tallies:
        for b, c in enumerate(t["hist"]):
            hist[b] += c
    saved = sum(t["saved"] for t in tallies)
    warm_saved = sum(t["warm_saved"] for t in tallies)
    stored = stored_orders(px)
    seeded = setup["seededOrders"]
    order_cpu = sum(t["cpu_s"] for t in tallies)
    return {
        "managers": len(managers),
        "workers": w,
        "orders": sum(t["orders"] for t in tallies),
        "saved": saved,
        "rejected": sum(t["rejected"] for t in tallies),
        "rate": sum(t["orders"] / t["elapsed_s"] for t in tallies if t["elapsed_s"] > 0),
        "cpu_s": order_cpu + server_cpu + cons_cpu,
        "cpu_by_kind_s": {"order processes": order_cpu, "manager servers": server_cpu, "consumer": cons_cpu},
        "rss_bytes": rss,
        "hist": hist,
        "seeded_orders": seeded,
        "warm_saved": warm_saved,
        "stored_orders": stored,
        "popped": popped,
        "ok": stored == seeded + warm_saved + saved and popped == warm_saved + saved,
    }


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    setup = cfg["setup"]
    ctx = mp.get_context("fork")
    cases = []
    setup_s = {}
    for n in cfg.get("managers", [1]):
        t_setup = time.perf_counter()
        px, managers = start_design(ctx, setup, cfg["tradePairs"], n)
        setup_s[str(n)] = time.perf_counter() - t_setup
        for w in cfg["workers"]:
            cases.append(run_case(ctx, cfg, px, managers, w))
        for mg in managers:
            mg.shutdown()
    print(json.dumps({"python": sys.version.split()[0], "pid": os.getpid(), "setup_s": setup_s, "cases": cases}))


if __name__ == "__main__":
    main()
