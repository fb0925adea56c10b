"""Await Init's dependencies are built once per configuration, even when a burst of
first steps and SSM command events reaches a cold handler together (the local plane runs
them on many threads; ``lru_cache`` built one set of clients per thread that missed)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from ads import init_wait
from ads.config import AdsConfig


def test_given_concurrent_first_calls_when_they_ask_for_the_wait_dependencies_then_one_set_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    built: list[AdsConfig] = []

    def base(config: AdsConfig) -> SimpleNamespace:
        built.append(config)
        time.sleep(0.05)  # long enough for every thread to miss at once
        return SimpleNamespace(repository=object(), provider=object())

    monkeypatch.setattr(init_wait, "dependencies_for", base)
    init_wait.wait_dependencies_for.cache_clear()
    config = AdsConfig(provider="local", region="us-east-1", table_name="labs")
    gate = threading.Barrier(12, timeout=10)

    def first_call(_: int) -> init_wait.InitWaitDependencies:
        gate.wait()
        return init_wait.wait_dependencies_for(config)

    try:
        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(first_call, range(12)))
        assert len(built) == 1
        assert all(answer is answers[0] for answer in answers)
    finally:
        init_wait.wait_dependencies_for.cache_clear()
