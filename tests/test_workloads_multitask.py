"""Multi-task and mixture-of-experts models: task pathways, expert routing, the CoE graph."""

import random

import pytest
from hypothesis import given, settings, strategies as st

from workloads import CoEGraph, build, coe_graph, m3vit_routing, task_experts
from workloads.zoo.multitask import GREC_TASKS, M3VIT_TASKS


@settings(max_examples=200, deadline=None)
@given(experts=st.integers(1, 64), data=st.data())
def test_task_experts_are_top_k_distinct_experts(experts, data):
    n_tasks = data.draw(st.integers(1, 8))
    top_k = data.draw(st.integers(1, experts))
    layer = data.draw(st.integers(0, 12))
    for i in range(n_tasks):
        chosen = task_experts(i, n_tasks, experts, top_k, layer)
        assert len(chosen) == top_k and len(set(chosen)) == top_k
        assert all(0 <= e < experts for e in chosen) and list(chosen) == sorted(chosen)


def test_task_experts_rejects_bad_arguments():
    with pytest.raises(ValueError):
        task_experts(0, 4, 16, 17)
    with pytest.raises(ValueError):
        task_experts(4, 4, 16, 4)


def test_m3vit_structure():
    t = build("m3vit")
    assert t.tasks == M3VIT_TASKS
    assert t.layer("patch_embed").out_h == 30 and t.layer("patch_embed").out_w == 40  # NYUD 480 x 640
    assert t.layer("blocks.0.qkv").M == 30 * 40 + 1  # patches + class token
    moe_blocks = sorted({int(l.name.split(".")[1]) for l in t.layers if ".moe." in l.name})
    assert moe_blocks == [1, 3, 5, 7, 9, 11]  # every other block
    assert all(l.expert is None for l in t.layers if ".moe." not in l.name)
    experts = [l for l in t.layers if l.expert is not None]
    assert {l.expert for l in experts} == set(range(16))  # routing rotates: all 16 experts used somewhere
    assert all((l.K, l.N) in ((384, 384),) for l in experts)  # expert hidden width = dim (moe_mlp_ratio 1)


@pytest.mark.parametrize("task", M3VIT_TASKS)
def test_m3vit_task_pathway(task):
    t = build("m3vit")
    sub = t.for_task(task)
    routing = m3vit_routing()
    for block, by_task in routing.items():
        used = {l.expert for l in sub.layers if l.expert is not None and l.name.startswith(f"blocks.{block}.")}
        assert used == set(by_task[task]) and len(used) == 4  # top-4 of 16
        combine = sub.layer(f"blocks.{block}.moe.combine")
        assert len(combine.inputs) == 4 + 1  # its experts and the residual
        assert f"blocks.{block}.moe.gate.{task}" in {l.name for l in sub.layers}
    names = {l.name for l in sub.layers}
    assert all(p in names for l in sub.layers for p in l.inputs)
    assert not any(".gate." in n and not n.endswith(task) for n in names)
    assert not any(n.startswith("head.") and not n.startswith(f"head.{task}.") for n in names)
    # one task runs a quarter of the experts and one of four heads
    assert sub.macs < 0.4 * t.macs
    backbone = [l for l in sub.layers if not l.name.startswith("head.")]
    dense = build("m3vit", head="none")
    assert sum(l.macs for l in backbone) < dense.macs


def test_m3vit_neighbouring_tasks_share_one_expert():
    for by_task in m3vit_routing().values():
        sets = [set(by_task[t]) for t in M3VIT_TASKS]
        assert all(len(a & b) == 1 for a, b in zip(sets, sets[1:]))


def test_grec_structure():
    g = build("grec")
    assert g.tasks == GREC_TASKS
    assert sum(l.op == "embedding" for l in g.layers) == 26 + 1  # sparse features + the NLP head's word pieces
    assert {l.name.split(".")[1] for l in g.layers if l.name.startswith("tower.")} == {"user", "item"}
    assert g.layer("deep.0").inputs == ("tower.user.1.add2", "tower.item.1.add2")
    for task in GREC_TASKS:
        sub = g.for_task(task)
        assert len({l.expert for l in sub.layers if l.expert is not None}) == 3  # top-3 of 8
        assert sub.layer(f"head.{task}.1").N == 1
    assert build("grec", candidates=64).macs * 2 == pytest.approx(g.macs, rel=1e-9)


def test_decision_transformer_structure():
    dt = build("decision_transformer")
    assert dt.layer("embed_state").K == 39 and dt.layer("predict_action").N == 4  # Meta-World
    assert dt.layer("gpt.0.qkv").M == 3 * (5 + 20)  # (R, s, a) tokens of prompt and context
    assert dt.layer("gpt.0.qkv").K == 256 and sum(l.name.endswith(".qkv") for l in dt.layers) == 6
    assert dt.layer("embed_timestep").K == 1000
    assert build("decision_transformer", context=10).macs < dt.macs


def test_coe_graph_matches_the_trace():
    g = coe_graph()
    t = build("coe_experts")
    assert isinstance(g, CoEGraph) and set(g) == set(t.tasks) and g.entry == "detector"
    for expert, edges in g.items():
        assert all(dst in g and 0 < p <= 1 for dst, p in edges)
        assert g.successors(expert) == tuple(dst for dst, _ in edges)
    for expert in g:
        sub = t.for_task(expert)
        assert sub.layers and all(l.tasks == (expert,) for l in sub.layers)
    assert g._topological()[0] == "detector"


def test_coe_graph_sampling():
    g = coe_graph()
    assert g.sample(random.Random(1)) == g.sample(random.Random(1))
    rng = random.Random(0)
    runs = [g.sample(rng) for _ in range(4000)]
    assert all(r[0] == "detector" and len(set(r)) == len(r) for r in runs)
    for r in runs:  # an expert only runs after one of its predecessors
        for i, e in enumerate(r[1:], start=1):
            assert any(e in g.successors(p) for p in r[:i])
    expected = g.expected_runs()
    assert expected["detector"] == 1.0
    for expert, p in expected.items():
        observed = sum(expert in r for r in runs) / len(runs)
        assert observed == pytest.approx(p, abs=0.03), expert


def test_coe_graph_rejects_cycles():
    g = CoEGraph(entry="a", edges={"a": (("b", 0.5),), "b": (("a", 0.5),)})
    with pytest.raises(ValueError, match="cycle"):
        g.expected_runs()


def test_a_tasks_view_drops_inputs_from_layers_it_does_not_run():
    from workloads.trace import Trace, make_layer

    shape = dict(op="eltwise", in_c=4, in_h=2, in_w=2)
    a = make_layer(dict(name="a", tasks=("x",), **shape))
    b = make_layer(dict(name="b", tasks=("y",), **shape))
    c = make_layer(dict(name="c", inputs="a;b", **shape), known=["a", "b"])  # shared: runs for every task
    t = Trace("t", (a, b, c))
    x, y = t.for_task("x"), t.for_task("y")
    assert [l.name for l in x.layers] == ["a", "c"] and x.layer("c").inputs == ("a",)
    assert [l.name for l in y.layers] == ["b", "c"] and y.layer("c").inputs == ("b",)
    assert t.layer("c").inputs == ("a", "b")  # the whole trace keeps both
