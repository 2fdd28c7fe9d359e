"""The proxy and task seams: a zero-cost proxy (the untrained network on one batch, through the task's probe) and
a trained one (read off the training's history) go through the same trainable."""
import pytest

import nas.trial as trial
from nas.proxies import Proxy, ProxyError, get_proxy, history_proxies, history_scores, list_proxies, register_proxy
from nas.trial import TrialPlan, run_training

ARCH = "d1.1.1.1_w8.16.16.16"


def param_count(probe) -> float:
    """A zero-cost score: trainable parameters of the network at initialisation (a baseline of Abdelfattah et al.)."""
    return float(sum(p.numel() for p in probe.model.parameters() if p.requires_grad))


def grad_norm(probe) -> float:
    """Another: the gradient norm of the task's loss on one batch (grad_norm of Abdelfattah et al., ICLR 2021)."""
    probe.model.zero_grad()
    probe.loss(probe.model(probe.inputs)).backward()
    return float(sum(p.grad.norm() ** 2 for p in probe.model.parameters() if p.grad is not None) ** 0.5)


@pytest.fixture(scope="module", autouse=True)
def zero_cost_proxies():
    for name, fn, direction in (("test_params", param_count, "max"), ("test_grad_norm", grad_norm, "max")):
        if name not in list_proxies():
            register_proxy(Proxy(name, fn.__doc__, name, direction=direction, trains=False, score_network=fn))


def plan(cache, proxy: str, epochs: int = 1) -> TrialPlan:
    return TrialPlan(task="faces", space="resnet_d", data=str(cache), epochs=epochs, res=32, train_fraction=1.0,
                     batch=8, val_max=8, seed=0, proxy=proxy)


def reports(monkeypatch, cache, proxy: str, epochs: int = 1) -> list[dict]:
    seen: list[dict] = []
    monkeypatch.setattr(trial.tune, "report", lambda metrics: seen.append(dict(metrics)))
    run_training({"arch": ARCH}, {"proxy": plan(cache, proxy, epochs)})
    return seen


def test_a_zero_cost_proxy_scores_the_untrained_network_once(monkeypatch, tiny_cache):
    from search_spaces import create_space
    from facedata import open_cache
    (only,) = reports(monkeypatch, tiny_cache, "test_params")
    verts = open_cache(tiny_cache).verts.shape[1]
    expected = create_space("resnet_d").complexity(create_space("resnet_d").parse(ARCH), 32, verts * 5).params
    assert only["proxy"] == only["proxy_test_params"] == expected  # against the analytic parameter count
    assert only["epoch"] == 0 and only["done_training"] == 1 and "failed" not in only
    (g,) = reports(monkeypatch, tiny_cache, "test_grad_norm")
    assert g["proxy"] > 0 and get_proxy("test_grad_norm").mode == "max" and get_proxy("test_grad_norm").worst() < 0


def test_trained_proxies_are_read_off_the_history(monkeypatch, tiny_cache):
    seen = reports(monkeypatch, tiny_cache, "tse", epochs=2)
    last = seen[-1]
    assert last["proxy"] == last["proxy_tse"] == pytest.approx(seen[0]["train_loss"] + seen[1]["train_loss"])
    assert last["proxy_final"] == last["score"]
    assert set(history_proxies()) >= {"final", "tse"} and "test_params" not in history_proxies()
    assert history_scores([]) == {f"proxy_{p}": None for p in history_proxies()}


def test_registry_refuses_unknown_and_inconsistent_proxies():
    with pytest.raises(ProxyError, match="unknown proxy"):
        get_proxy("nope")
    with pytest.raises(ProxyError, match="twice"):
        register_proxy(Proxy("tse", "again", "again", score_history=lambda h: 0.0))
    with pytest.raises(ProxyError, match="zero-cost"):
        register_proxy(Proxy("bad", "both", "both", trains=False, score_history=lambda h: 0.0))


def test_release_memory_hands_freed_host_memory_back():
    """What kept a reused worker's RSS growing trial after trial: memory freed into glibc's arenas."""
    import os
    from nas.trial import release_memory

    def rss() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6

    release_memory()
    base = rss()
    chunks = [bytearray(100_000) for _ in range(3000)]  # 300 MB in small blocks: arena memory, not mmap
    keep = chunks[::500]  # a few survivors spread over the arena, as a trial's leftovers would be
    del chunks
    release_memory()
    assert rss() - base < 100, (base, rss())  # most of the 300 MB went back
    assert len(keep) == 6
