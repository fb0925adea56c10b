"""Metrics read from a /proc tree: parsed when present, null when missing."""

from __future__ import annotations

from ads_agent import metrics


def test_given_no_proc_files_when_metrics_are_read_then_each_reading_is_none(tmp_path):
    assert metrics.memory_usage(tmp_path) is None
    assert metrics.load_average(tmp_path) is None
    assert metrics.system_uptime_s(tmp_path) is None
    assert metrics.process_count(tmp_path) is None
    assert metrics.process_names(tmp_path) == []
    assert metrics.disk_usage(str(tmp_path / "absent")) is None
    assert metrics.os_release(tmp_path / "os-release") == {}


def test_given_a_proc_tree_when_metrics_are_read_then_values_are_in_bytes_and_seconds(tmp_path):
    (tmp_path / "meminfo").write_text(
        "MemTotal:        2048000 kB\nMemFree:          100000 kB\nMemAvailable:    1024000 kB\n"
        "SwapTotal:             0 kB\nSwapFree:              0 kB\n"
    )
    (tmp_path / "loadavg").write_text("0.50 0.25 0.10 1/123 4567\n")
    (tmp_path / "uptime").write_text("3725.5 7000.1\n")
    for pid, name in ((1, "systemd"), (42, "apache2")):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "comm").write_text(name + "\n")
    memory = metrics.memory_usage(tmp_path)
    assert memory["total_bytes"] == 2048000 * 1024
    assert memory["used_bytes"] == (2048000 - 1024000) * 1024
    assert memory["used_percent"] == 50.0
    assert metrics.load_average(tmp_path)["5m"] == 0.25
    assert metrics.system_uptime_s(tmp_path) == 3725.5
    assert metrics.process_names(tmp_path) == [
        {"pid": 1, "name": "systemd"},
        {"pid": 42, "name": "apache2"},
    ]


def test_given_a_kernel_without_memavailable_when_read_then_free_buffers_and_cache_count_as_available(
    tmp_path,
):
    (tmp_path / "meminfo").write_text(
        "MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n"
    )
    assert metrics.memory_usage(tmp_path)["available_bytes"] == 400 * 1024


def test_given_os_release_when_read_then_quotes_are_stripped(tmp_path):
    path = tmp_path / "os-release"
    path.write_text('NAME="Amazon Linux"\nVERSION_ID="2023"\nID=amzn\n# comment\n')
    assert metrics.os_release(path) == {"NAME": "Amazon Linux", "VERSION_ID": "2023", "ID": "amzn"}
