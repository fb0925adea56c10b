"""A client of the local API running as another OS uid, as a user on a shared machine
would run ``ads deploy``. The plane's credentials file is root's (0600), so the client is
handed the user credential explicitly; which uid asks is what the kernel says."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
import time
from typing import Any

from tests.e2e.harness import RunningPlane, auth_headers

SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")
FINAL = {"READY", "FAILED", "DESTROYED"}

# The client: what `ads deploy` sends, from a process of the given uid, with the
# credential it is handed on stdin (it cannot read the plane's credentials file).
CLIENT = textwrap.dedent(
    """
    import json, sys, urllib.error, urllib.request
    given = json.load(sys.stdin)
    request = urllib.request.Request(
        given["endpoint"] + "/labs",
        data=json.dumps(given["body"]).encode(),
        method="POST",
        headers={**given["headers"], "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            print(json.dumps({"status": answer.status, "body": json.load(answer)}))
    except urllib.error.HTTPError as refused:
        print(json.dumps({"status": refused.code, "body": json.load(refused)}))
    """
)


def deploy_as(uid: int, plane: RunningPlane, labspec: dict[str, Any], git: str) -> dict:
    """POST /labs from a process of ``uid`` and wait for the lab's final status."""
    assert SYSTEM_PYTHON, "python3 is needed in /usr/bin or /bin"
    given = {
        "endpoint": plane.endpoint,
        "headers": auth_headers(plane.home),
        "body": {"labspec": labspec, "source": {"git": git}},
    }
    result = subprocess.run(
        [SYSTEM_PYTHON, "-c", CLIENT],
        input=json.dumps(given),
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
        env={"PATH": "/usr/bin:/bin", "HOME": "/"},
        user=uid,
        group=uid,
        extra_groups=[],
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["status"] == 202, answer
    return wait_final(plane, answer["body"]["lab_id"])


def wait_final(plane: RunningPlane, lab_id: str, timeout_s: float = 240) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        shown = plane.ads("show", lab_id, "--json")
        assert shown.returncode == 0, shown.explain()
        record = shown.json()
        if record.get("status") in FINAL or time.monotonic() > deadline:
            return record
        time.sleep(1)
