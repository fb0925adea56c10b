"""The progress display of `--wait` on a terminal and in a log."""

from __future__ import annotations

import io

from ads.cli.render import ProgressDisplay, format_duration


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_given_a_terminal_when_statuses_change_then_a_spinner_line_is_rewritten_and_finished_statuses_are_kept() -> (
    None
):
    stream, clock = io.StringIO(), FakeClock()
    display = ProgressDisplay(stream, "dm-1", is_tty=True, clock=clock)

    display.update("PROVISIONING")
    clock.now += 1
    display.tick()
    clock.now += 64
    display.update("READY")
    display.finish("dm-1 is READY")

    out = stream.getvalue()
    assert "\r\x1b[K| dm-1 PROVISIONING 0s (total 0s)" in out
    assert "\r\x1b[K/ dm-1 PROVISIONING 1s (total 1s)" in out
    assert "\r\x1b[K  PROVISIONING (1m 05s)\n" in out
    assert out.endswith("\r\x1b[Kdm-1 is READY after 1m 05s\n")


def test_given_a_log_when_the_same_status_is_polled_again_then_no_line_is_added() -> None:
    stream, clock = io.StringIO(), FakeClock()
    display = ProgressDisplay(stream, "dm-1", is_tty=False, clock=clock)

    display.update("PROVISIONING")
    clock.now += 5
    display.update("PROVISIONING")
    display.tick()
    clock.now += 7
    display.update("INITIALIZING")

    assert stream.getvalue().splitlines() == [
        "[     0s] dm-1 PROVISIONING",
        "[    12s] dm-1 INITIALIZING",
    ]


def test_given_durations_when_formatted_then_they_read_as_seconds_minutes_or_hours() -> None:
    assert [format_duration(s) for s in (None, 0.4, 59, 61, 3600 + 120)] == [
        "-",
        "0s",
        "59s",
        "1m 01s",
        "1h 02m",
    ]


def test_given_a_multi_line_cell_when_tabulated_then_each_row_stays_one_line():
    from ads.cli.render import table

    out = table(
        ["AT", "STATUS", "NOTE"],
        [
            ("10:00", "FAILED", "Initialise VM failed: exit 3\noutput tail:\n$ make"),
            ("10:01", "X", ""),
        ],
    )

    lines = out.splitlines()
    assert len(lines) == 3
    assert lines[1].endswith("Initialise VM failed: exit 3 ...")
