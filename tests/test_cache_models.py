"""cache_models against an obviously-correct reference model, plus the page region store."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cache_models import PageRegionStore, RegionFullError, SetAssociativeCache
from cache_models import kernels as K


class ReferenceCache:
    """Plain Python: per set a list of ways (tag, owner, dirty, last_use or rrpv)."""

    def __init__(self, size, ways, line=64, policy="lru", write_back=True):
        self.sets = size // (ways * line)
        self.ways, self.line, self.policy, self.write_back = ways, line, policy, write_back
        self.data = [[None] * ways for _ in range(self.sets)]
        self.clock = 0
        self.masks = {}

    def access(self, addr, tenant=0, write=False):
        line = addr // self.line
        s = line % self.sets
        ways = self.data[s]
        self.clock += 1
        for w, e in enumerate(ways):
            if e is not None and e[0] == line:
                dirty = e[2] or (write and self.write_back)
                ways[w] = (line, e[1], dirty, self.clock if self.policy == "lru" else 0)
                return "hit", None
        mask = self.masks.get(tenant, (1 << self.ways) - 1)
        allowed = [w for w in range(self.ways) if mask >> w & 1]
        empty = [w for w in allowed if ways[w] is None]
        if empty:
            victim = empty[0]
        elif self.policy == "lru":
            victim = min(allowed, key=lambda w: ways[w][3])
        else:
            while True:
                full = [w for w in allowed if ways[w][3] >= 3]
                if full:
                    victim = full[0]
                    break
                for w in allowed:
                    t, o, d, r = ways[w]
                    ways[w] = (t, o, d, r + 1)
        old = ways[victim]
        wb = old[0] * self.line if old is not None and old[2] else None
        ways[victim] = (line, tenant, write and self.write_back, self.clock if self.policy == "lru" else 2)
        return "miss", wb


def run_both(ops, size=4096, ways=4, policy="lru", clock=0):
    c = SetAssociativeCache(size, ways, 64, policy=policy)
    c._meta[K.M_CLOCK] = clock  # LRU stamps are int32: near the limit they are renumbered by rank
    r = ReferenceCache(size, ways, 64, policy=policy)
    for op in ops:
        if op[0] == "mask":
            _, tenant, mask = op
            c.set_way_mask(tenant, mask)
            r.masks[tenant] = mask
            continue
        _, tenant, addrs, write = op
        res = c.access(np.array(addrs, dtype=np.int64), tenant=tenant, write=write)
        outs = [r.access(a, tenant, write) for a in addrs]
        misses = [a // 64 * 64 for a, (kind, _) in zip(addrs, outs) if kind == "miss"]
        wbs = [wb for _, wb in outs if wb is not None]
        assert res.hits == sum(k == "hit" for k, _ in outs)
        assert list(res.miss_addrs) == misses
        assert list(res.writeback_addrs) == wbs
    return c, r


addr_lists = st.lists(st.integers(0, 1 << 16), min_size=1, max_size=60)
ops = st.lists(
    st.one_of(
        st.tuples(st.just("acc"), st.integers(0, 2), addr_lists, st.booleans()),
        st.tuples(st.just("acc"), st.integers(0, 2),
                  st.builds(lambda b, n, s: [b + i * s for i in range(n)], st.integers(0, 4096),
                            st.integers(1, 80), st.sampled_from([64, 128, 192, 4096, 8192])),
                  st.booleans()),
        st.tuples(st.just("mask"), st.integers(0, 2), st.integers(1, 15)),
    ), min_size=1, max_size=25)


@settings(max_examples=150, deadline=None)
@given(ops=ops, policy=st.sampled_from(["lru", "srrip"]))
def test_kernel_equals_reference(ops, policy):
    run_both(ops, policy=policy)


@settings(max_examples=150, deadline=None)
@given(ops=ops, before_limit=st.integers(0, 600))
def test_lru_order_survives_the_stamp_renumbering(ops, before_limit):
    """After about 2**31 accesses the LRU stamps are replaced by their rank in the set:
    the order of recency must come through unchanged (ranking mixed ranked and
    unranked stamps once, and the most recent line could be evicted next)."""
    run_both(ops, policy="lru", clock=K.STAMP_LIMIT - before_limit)


def test_stamp_renumbering_ranks_each_set():
    tags = np.array([5, 6, 7, 8, 1, 2, -1, 3], np.int64)
    stamps = np.array([40, 10, 20, 30, 9, 7, 0, 8], np.int32)
    assert K._renormalize(tags, stamps, 4) == 4
    assert list(stamps) == [4, 1, 2, 3, 3, 1, 0, 2]


@settings(max_examples=40, deadline=None)
@given(base=st.integers(0, 1 << 20), tile=st.integers(1, 40), reps=st.integers(1, 4))
def test_tiled_reuse_equals_reference(base, tile, reps):
    # a tile of lines re-read several times, then the next tile
    addrs = [base + 64 * (t * tile + i) for t in range(6) for _ in range(reps) for i in range(tile)]
    run_both([("acc", 0, addrs, False)], size=8192, ways=8)


@settings(max_examples=60, deadline=None)
@given(ops=ops, probe=addr_lists, policy=st.sampled_from(["lru", "srrip"]))
def test_contains_is_the_reference_contents_and_changes_nothing(ops, probe, policy):
    c, r = run_both(ops, policy=policy)
    held = {e[0] for ways in r.data for e in ways if e is not None}
    tags, stamps = c._tags.copy(), c._stamps.copy()
    got = c.contains(np.array(probe, dtype=np.int64))
    assert got.tolist() == [a // 64 in held for a in probe]
    assert np.array_equal(c._tags, tags) and np.array_equal(c._stamps, stamps)
    run_both(ops + [("acc", 0, probe, False)], policy=policy)  # later accesses as if never probed
    with pytest.raises(ValueError, match=r"addrs\[1\]"):
        c.contains([0, -64])


def test_lru_exact_counts():
    c = SetAssociativeCache(4 * 64 * 2, 4)  # 2 sets x 4 ways
    same_set = [i * 128 for i in range(5)]  # five lines of set 0
    r = c.access(np.array(same_set))
    assert (r.hits, r.misses) == (0, 5)
    r = c.access(np.array([0]))  # evicted by the fifth
    assert (r.hits, r.misses) == (0, 1)
    r = c.access(np.array([4 * 128]))  # still there (MRU before the re-fetch)
    assert r.hits == 1


def test_runs_equal_line_accesses():
    rng = np.random.default_rng(0)
    starts = rng.integers(0, 1 << 20, 300)
    lens = rng.integers(1, 700, 300)
    writes = rng.random(300) < 0.3
    a = SetAssociativeCache(16 << 10, 4)
    b = SetAssociativeCache(16 << 10, 4)
    ra = a.access_runs(starts, lens, tenant=1, write=writes)
    lines, wflags = [], []
    for s, n, w in zip(starts, lens, writes):
        for ln in range(s // 64, (s + n - 1) // 64 + 1):
            lines.append(ln * 64 + 5)
            wflags.append(w)
    rb = b.access(np.array(lines), tenant=1, write=np.array(wflags))
    assert (ra.hits, ra.misses, ra.writebacks) == (rb.hits, rb.misses, rb.writebacks)
    assert np.array_equal(ra.miss_addrs, rb.miss_addrs) and np.array_equal(ra.writeback_addrs, rb.writeback_addrs)


def test_way_masks_partition_allocation():
    c = SetAssociativeCache(8 * 64 * 4, 8)  # 4 sets x 8 ways
    c.set_way_mask(0, 0b00001111)
    c.set_way_mask(1, 0b11110000)
    c.access(np.arange(16) * 64, tenant=0)  # tenant 0 fills its 4 ways of every set
    c.access(np.arange(100, 1100) * 64, tenant=1)  # tenant 1 streams a lot
    again = c.access(np.arange(16) * 64, tenant=0)
    assert again.hits == 16  # untouched by the co-runner
    assert c.occupancy(0) == 16 and c.occupancy(1) == 16
    # lookups hit in any way: tenant 1 can read tenant 0's lines
    assert c.access(np.arange(16) * 64, tenant=1).hits == 16
    # repartitioning at run time without a flush
    c.set_way_mask(1, 0xFF)
    assert c.occupancy(0) == 16


def test_write_back_and_flush_and_invalidate():
    c = SetAssociativeCache(2 * 64, 1)  # 2 sets x 1 way
    c.access(np.array([0]), write=True)
    r = c.access(np.array([128]))  # same set: evicts dirty line 0
    assert r.writebacks == 1 and list(r.writeback_addrs) == [0]
    c.access(np.array([64]), tenant=2, write=True)
    assert list(c.invalidate(2)) == [64] and c.occupancy(2) == 0
    c.access(np.array([64]), write=True)
    assert list(c.flush()) == [64]
    assert c.occupancy(0) == 0
    wt = SetAssociativeCache(2 * 64, 1, write_back=False)
    wt.access(np.array([0]), write=True)
    assert wt.access(np.array([128])).writebacks == 0
    s = c.stats()
    assert list(s.columns) == ["tenant", "accesses", "hits", "misses", "writebacks", "occupancy_lines"]
    assert int(s[s.tenant == 0].writebacks.iloc[0]) == 2


@pytest.mark.parametrize("kwargs, match", [
    (dict(size_bytes=3 * 64 * 4, ways=4), "power of two"),
    (dict(size_bytes=4096, ways=0), "ways"),
    (dict(size_bytes=4096, ways=4, line_bytes=48), "line_bytes"),
    (dict(size_bytes=4096, ways=4, policy="plru"), "policy"),
])
def test_bad_geometry(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SetAssociativeCache(**kwargs)


def test_bad_masks_and_addresses():
    c = SetAssociativeCache(4096, 4)
    with pytest.raises(ValueError, match="at least one way"):
        c.set_way_mask(0, 0)
    with pytest.raises(ValueError, match="beyond"):
        c.set_way_mask(0, 0b10000)
    with pytest.raises(ValueError, match="addrs must be integer"):
        c.access(np.array([1.5]))
    with pytest.raises(ValueError, match="must not be negative"):
        c.access(np.array([-64]))
    with pytest.raises(ValueError, match="lengths"):
        c.access_runs(np.array([0]), np.array([0]))


def test_page_region_store():
    r = PageRegionStore(8 * 32768, 32768)
    assert r.free_pages == 8
    assert list(r.allocate(1, 3)) == [0, 1, 2]
    assert list(r.allocate(2, 2)) == [3, 4]
    assert list(r.translate(2, [0, 32768 + 5])) == [3 * 32768, 4 * 32768 + 5]
    assert r.access(1, np.arange(0, 3 * 32768, 64)) == 3 * 512
    with pytest.raises(ValueError, match="outside"):
        r.translate(2, [2 * 32768])
    with pytest.raises(RegionFullError, match="only 3"):
        r.allocate(3, 4)
    r.record(100)
    assert r.free(1, 2) == 2 and r.pages_of(1) == 1 and r.free_pages == 5
    assert r.free(2) == 2
    r.record(200)
    h = r.history()
    assert list(h.pages) == [3, 2, 1, 0]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), ways=st.sampled_from([1, 2, 4, 8]), masks=st.booleans())
def test_sequential_fast_path_is_exact(seed, ways, masks):
    """Long runs take the set-by-set replay; it must leave the same state and
    report the same misses and write-backs, in the same order, as line by line."""
    rng = np.random.default_rng(seed)
    size = 16 * 64 * ways  # 16 sets
    fast = SetAssociativeCache(size, ways)
    slow = SetAssociativeCache(size, ways)
    if masks and ways > 1:
        for c in (fast, slow):
            c.set_way_mask(1, (1 << (ways // 2)) - 1)
            c.set_way_mask(2, ((1 << ways) - 1) ^ ((1 << (ways // 2)) - 1))
    for _ in range(12):
        tenant = int(rng.integers(0, 3))
        write = bool(rng.random() < 0.4)
        if rng.random() < 0.5:
            start = int(rng.integers(0, 4096)) * 64 + int(rng.integers(0, 64))
            length = int(rng.integers(16 * 64, 80 * 64))  # at least one line per set: the fast path
            a = fast.access_runs(np.array([start]), np.array([length]), tenant=tenant, write=write)
            lines = np.arange(start // 64, (start + length - 1) // 64 + 1) * 64
            b = slow.access(lines, tenant=tenant, write=write)
        else:
            addrs = rng.integers(0, 4096, 30) * 64
            a = fast.access(addrs, tenant=tenant, write=write)
            b = slow.access(addrs, tenant=tenant, write=write)
        assert (a.hits, a.misses, a.writebacks) == (b.hits, b.misses, b.writebacks)
        assert np.array_equal(a.miss_addrs, b.miss_addrs)
        assert np.array_equal(a.writeback_addrs, b.writeback_addrs)
        assert np.array_equal(fast._tags, slow._tags) and np.array_equal(fast._stamps, slow._stamps)
    assert fast.stats().equals(slow.stats())


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), ways=st.sampled_from([2, 4, 8]), masks=st.booleans())
def test_set_major_batches_with_repeats_are_exact(seed, ways, masks):
    """Batches of several runs, long ones (some repeating the run before them)
    and short ones, with a write flag per run: the set-major path (repeats
    folded into one visit, fresh lines not looked up) must equal line-by-line
    replay in counts, order of misses and write-backs, and state."""
    rng = np.random.default_rng(seed)
    size = 16 * 64 * ways  # 16 sets
    fast = SetAssociativeCache(size, ways)
    slow = SetAssociativeCache(size, ways)
    if masks:
        for c in (fast, slow):
            c.set_way_mask(1, (1 << (ways // 2)) - 1)
    for _ in range(6):
        tenant = int(rng.integers(0, 2))
        starts, lengths = [], []
        for _ in range(int(rng.integers(2, 8))):
            if starts and rng.random() < 0.4:  # the same run again
                starts.append(starts[-1])
                lengths.append(lengths[-1])
            elif rng.random() < 0.3:  # a short run (line by line), anywhere the long ones reach
                starts.append(int(rng.integers(0, 256 + 48 * ways)) * 64 + int(rng.integers(0, 64)))
                lengths.append(int(rng.integers(1, 15 * 64)))
            else:
                starts.append(int(rng.integers(0, 256)) * 64 + int(rng.integers(0, 64)))
                lengths.append(int(rng.integers(16 * 64, 3 * 16 * 64 * ways)))
        writes = rng.random(len(starts)) < 0.3
        a = fast.access_runs(np.array(starts), np.array(lengths), tenant=tenant, write=writes)
        lines, wflags = [], []
        for s, n, w in zip(starts, lengths, writes):
            k = (s + n - 1) // 64 - s // 64 + 1
            lines.extend(range(s // 64 * 64, (s // 64 + k) * 64, 64))
            wflags.extend([w] * k)
        b = slow.access(np.array(lines), tenant=tenant, write=np.array(wflags))
        assert (a.hits, a.misses, a.writebacks) == (b.hits, b.misses, b.writebacks)
        assert np.array_equal(a.miss_addrs, b.miss_addrs)
        assert np.array_equal(a.writeback_addrs, b.writeback_addrs)
        assert np.array_equal(fast._tags, slow._tags) and np.array_equal(fast._stamps, slow._stamps)
    assert fast.stats().equals(slow.stats())


def test_a_new_tenant_beyond_the_table_keeps_the_other_tenants_masks():
    c = SetAssociativeCache(4 * 64 * 4, 4)  # 4 sets x 4 ways; the tenant table starts with 64 rows
    c.set_way_mask(0, 0b0011)
    c.set_way_mask(5, 0b1000)
    c.access(np.array([0]), tenant=200)  # grows the table past 200
    assert (c.way_mask(0), c.way_mask(5), c.way_mask(200), c.way_mask(63)) == (0b0011, 0b1000, 0b1111, 0b1111)
    # and tenant 0 still allocates only into its 2 ways: 8 lines of one set keep the last 2
    c.access(np.arange(8) * 4 * 64, tenant=0)
    assert c.occupancy(0) == 2
    # asking about a tenant past the table grows it too (it read the old table: IndexError past 64 tenants)
    fresh = SetAssociativeCache(4 * 64 * 4, 4)
    assert (fresh.occupancy(64), fresh.way_mask(300), fresh.occupancy(1000)) == (0, 0b1111, 0)
    # all owners at once (the engine's timeline): the same counts, past the table too
    c.access(np.array([64]), tenant=120)  # set 1
    occ = c.occupancies(1000)
    assert occ.tolist() == [c.occupancy(i) for i in range(1000)]
    assert {i: n for i, n in enumerate(occ) if n} == {0: 2, 120: 1}  # tenant 200's line went to tenant 0's fills


def test_large_results_do_not_share_a_buffer():
    # results of more than 16384 lines take the buffer instead of a copy; the next access must not
    # write into it: every line of each batch is a compulsory miss, in order
    c = SetAssociativeCache(64 << 10, 4)
    n = 20_000
    first = c.access(np.arange(n, dtype=np.int64) * 64)
    second = c.access(np.arange(n, 2 * n, dtype=np.int64) * 64)
    assert (first.misses, second.misses) == (n, n)
    assert np.array_equal(first.miss_addrs, np.arange(n) * 64)
    assert np.array_equal(second.miss_addrs, np.arange(n, 2 * n) * 64)


@pytest.mark.parametrize("write_back", [True, False])
@pytest.mark.parametrize("order", [range(8), [3, 1, 0, 2, 7, 5, 4, 6]])
def test_run_writes_are_dirty_only_in_a_write_back_cache(write_back, order):
    # 4 sets x 2 ways; write 8 lines (fills the cache; one run, or one-line runs out of order),
    # then read 8 others that evict them all
    c = SetAssociativeCache(8 * 64, 2, write_back=write_back)
    if isinstance(order, range):
        c.access_runs(np.array([0]), np.array([8 * 64]), write=True)
    else:
        c.access_runs(np.array(order) * 64, np.full(8, 64), write=True)
    res = c.access_runs(np.array([1 << 20]), np.array([8 * 64]), write=False)
    assert res.misses == 8
    assert res.writebacks == (8 if write_back else 0)
    if write_back:
        assert sorted(res.writeback_addrs.tolist()) == [i * 64 for i in range(8)]


@pytest.mark.parametrize("where", ["tree", "numba_cache_dir", "locator_classes"])
def test_a_kernel_calling_another_files_kernel_is_recompiled_when_that_file_changes(tmp_path, where):
    # numba's cache checks only the caller's own file: without forget_if_callees_changed the
    # caller kept the callee's old code (f() gave 1 after g was changed to return 2); with
    # NUMBA_CACHE_DIR set the kernels live there, not in __pycache__, and are forgotten there;
    # NUMBA_CACHE_LOCATOR_CLASSES may send them to the user-wide cache
    import os
    import subprocess
    import sys
    from pathlib import Path

    import cache_models

    pkg = tmp_path / "pk"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from numba import njit\n\n\n@njit(cache=True)\ndef g():\n    return 1\n")
    (pkg / "b.py").write_text(
        "from numba import njit\n\nfrom cache_models.kernel_cache import forget_if_callees_changed\n\n"
        "from . import a\nfrom .a import g\n\nforget_if_callees_changed(__file__, a.__file__)\n\n\n"
        "@njit(cache=True)\ndef f():\n    return g()\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(cache_models.__file__).parents[1])])}
    env.pop("NUMBA_CACHE_DIR", None)
    env.pop("NUMBA_CACHE_LOCATOR_CLASSES", None)
    cache = pkg / "__pycache__"
    if where == "numba_cache_dir":
        env["NUMBA_CACHE_DIR"] = str(tmp_path / "nc")
        cache = tmp_path / "nc"
    elif where == "locator_classes":
        env["NUMBA_CACHE_LOCATOR_CLASSES"] = "UserWideCacheLocator"
        env["XDG_CACHE_HOME"] = str(tmp_path / "user")  # where the user-wide cache goes on Linux
        cache = tmp_path / "user"

    def f_and_g() -> str:
        run = subprocess.run([sys.executable, "-c", "from pk.b import f; from pk.a import g; print(f(), g())"],
                             env=env, capture_output=True, text=True, check=True)
        return run.stdout.strip()

    assert f_and_g() == "1 1"
    assert list(cache.rglob("b.f-*.nbc"))  # f was cached
    (pkg / "a.py").write_text((pkg / "a.py").read_text().replace("return 1", "return 2"))
    assert f_and_g() == "2 2"
    assert f_and_g() == "2 2"  # and cached again from then on
    assert list(cache.rglob("b.f-*.nbc"))


def test_every_kernel_calling_another_files_kernel_names_that_file_for_its_cache():
    # docs/ARCHITECTURE.md: a cross-file kernel call must be declared to forget_if_callees_changed,
    # else an edit of the callee leaves the caller's cached machine code stale
    import ast
    import importlib
    import pkgutil
    from pathlib import Path

    from numba.core.registry import CPUDispatcher

    import cache_models
    import npusim

    declared_callers = set()
    for pkg in (npusim, cache_models):
        for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if info.name.endswith("__main__"):
                continue
            mod = importlib.import_module(info.name)
            source = Path(mod.__file__).read_text(encoding="utf-8")
            if "njit" not in source:
                continue
            declared = set()
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "forget_if_callees_changed":
                    declared |= {a.value.id for a in node.args[1:] if isinstance(a, ast.Attribute)}
            if declared:
                declared_callers.add(info.name)
            for name, obj in vars(mod).items():
                if not (isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == info.name):
                    continue
                for ref in _names_in(obj.py_func.__code__):
                    callee = getattr(mod, ref, None)
                    where = getattr(getattr(callee, "py_func", callee), "__module__", None)
                    if where and where != info.name and where.split(".")[0] in ("npusim", "cache_models"):
                        assert where.rsplit(".", 1)[-1] in declared, (info.name, name, ref, where)
    assert declared_callers == {"npusim.mapping.search", "npusim.mapping.streams", "cache_models.kernels"}


def _names_in(code) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= _names_in(const)
    return names
