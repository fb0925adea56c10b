"""Labspec fixtures shared by the lab domain tests: the real specs and a spec builder."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
# The sample labspecs live once, in events/labspecs/ (tests, docs and the demo read them);
# only the broken ones are test fixtures.
FIXTURES = ROOT / "events" / "labspecs"
BAD = ROOT / "tests" / "fixtures" / "labspecs" / "bad"
# The specs taken from Virtual Labs repositories (the others there are ADS's own samples).
REAL_SPECS = sorted(
    (
        "databases-and-datamining-iiith.labspec.json",
        "kdm-iitkgp.labspec.json",
        "lab-usage-tracker.labspec.json",
        "test_nitk.labspec.json",
    )
)
# A fixed day, so support decisions do not change as the calendar moves.
TODAY = date(2026, 11, 22)


def real_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def real_spec(name: str) -> dict[str, Any]:
    return json.loads(real_text(name))


def minimal_spec(**platform: Any) -> dict[str, Any]:
    """A small valid spec; keyword arguments replace keys of the runtime platform."""
    runtime = {
        "os": "ubuntu",
        "osVersion": "22.04",
        "arch": "x86_64",
        "memory": {"min_required": "512mb", "max_required": "1gb"},
        "storage": {"min_required": "10gb"},
        "installer": ["apt-get update"],
        "lab_actions": {"start": ["service nginx start"]},
    }
    for key, value in platform.items():
        if value is _REMOVE:
            runtime.pop(key, None)
        else:
            runtime[key] = value
    return {
        "template": "1.0",
        "lab": {
            "description": {"name": "Small Lab", "id": "small01"},
            "build_requirements": {
                "platform": {
                    "os": "ubuntu",
                    "osVersion": "22.04",
                    "arch": "x86_64",
                    "installer": [],
                    "build_steps": {"build": ["make"]},
                }
            },
            "runtime_requirements": {"platform": runtime},
        },
    }


class _Remove:
    def __repr__(self) -> str:
        return "REMOVE"


_REMOVE = _Remove()
REMOVE: Any = _REMOVE


def with_changes(spec: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``spec`` with the dotted ``path`` set to ``value`` (REMOVE deletes it)."""
    result = copy.deepcopy(spec)
    *parents, last = path.split(".")
    node = result
    for key in parents:
        node = node[key]
    if value is REMOVE:
        node.pop(last, None)
    else:
        node[last] = value
    return result
