"""`ads deploy` reads at most a labspec's worth of a LABSPEC path, like `ads plan`."""

from __future__ import annotations

from pathlib import Path

import pytest

from ads.cli import exit_codes
from ads.cli.main import main


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_given_dev_zero_when_deploying_then_one_line_error_exit_2_and_no_request(api, capsys):
    code = main(["deploy", "/dev/zero", "--endpoint", api.url])

    err = capsys.readouterr().err
    assert code == exit_codes.INVALID_INPUT
    assert err.count("\n") == 1
    assert err.startswith("ads: error: /dev/zero: found more than 1048576 bytes")
    assert api.received == []
