"""A class of three on the local plane, end to end: `ads cohort deploy`, each member acting
as themselves over HTTP (the admin credential names the member in X-Ads-Principal), one
member's lab failing its build while the others become READY, `ads cohort destroy --wait`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.harness import auth_headers, hello_web_repository

MEMBERS = [f"arn:aws:iam::123456789012:user/student-{n}" for n in range(1, 4)]
STRANGER = "arn:aws:iam::123456789012:user/someone-else"
SETTLED = {"READY", "FAILED", "DESTROYED", "REFUSED"}


def call(method: str, url: str, headers: dict[str, str]) -> tuple[int, dict]:
    request = urllib.request.Request(url, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture
def markers() -> Path:
    """Where the test marks the one lab whose build must fail: outside /tmp, which a
    sandbox sees as its own, and readable by the labs' uids."""
    path = Path(tempfile.mkdtemp(prefix="ads-e2e-cohort-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def class_lab(tmp_path: Path, markers: Path) -> Path:
    """hello-web whose build fails for a lab marked in ``markers``, as a git repository."""

    def fail_marked(labspec: dict) -> None:
        steps = labspec["lab"]["build_requirements"]["platform"]["build_steps"]
        steps["pre_build"] = [f'test ! -e "{markers}/fail-$ADS_LAB_ID"', *steps["pre_build"]]

    return hello_web_repository(tmp_path / "hello-web", fail_marked, "hello-web for a class")


def test_given_a_class_of_three_when_deployed_then_each_member_sees_only_their_lab_and_one_failure_fails_only_that_lab(
    local_plane, class_lab: Path, markers: Path, tmp_path: Path
):
    members_file = tmp_path / "members.txt"
    members_file.write_text(
        f"# CS101, week 1\n{MEMBERS[0]}  Asha Rao\n{MEMBERS[1]}\tBen\n{MEMBERS[2]}\n"
    )
    deployed = local_plane.ads(
        "cohort", "deploy", str(class_lab), "--members", str(members_file), "--json"
    )
    assert deployed.returncode == 0, deployed.explain()
    cohort = deployed.json()
    cohort_id = cohort["cohort_id"]
    labs = {m["principal"]: m["lab_id"] for m in cohort["members"]}
    # Before its build runs (DeployCohort paces each start by a second).
    (markers / f"fail-{labs[MEMBERS[1]]}").write_text("")
    try:
        deadline = time.monotonic() + 240
        while True:
            shown = local_plane.ads("cohort", "show", cohort_id, "--json")
            assert shown.returncode == 0, shown.explain()
            statuses = {m["principal"]: m["status"] for m in shown.json()["members"]}
            if set(statuses.values()) <= SETTLED or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert statuses == {
            MEMBERS[0]: "READY",
            MEMBERS[1]: "FAILED",
            MEMBERS[2]: "READY",
        }, shown.stdout
        failed = {m["principal"]: m for m in shown.json()["members"]}[MEMBERS[1]]
        assert "pre_build" in (failed["cause"] or "") or "fail-" in (failed["cause"] or "")
        assert "Asha Rao" in local_plane.ads("cohort", "show", cohort_id).stdout

        admin = auth_headers(local_plane.home, admin=True)
        endpoint = local_plane.endpoint
        me = {**admin, "X-Ads-Principal": MEMBERS[0]}
        status, page = call("GET", f"{endpoint}/labs", me)
        assert status == 200 and [lab["lab_id"] for lab in page["labs"]] == [labs[MEMBERS[0]]]
        status, mine = call("GET", f"{endpoint}/labs/{labs[MEMBERS[0]]}", me)
        assert status == 200 and mine["status"] == "READY" and mine["app_url"]
        assert call("GET", f"{endpoint}/labs/{labs[MEMBERS[2]]}", me)[0] == 404
        assert call("GET", f"{endpoint}/cohorts/{cohort_id}", me)[0] == 404
        status, refused = call("DELETE", f"{endpoint}/labs/{labs[MEMBERS[0]]}", me)
        assert status == 403 and refused["error"] == "owner_only"
        stranger = {**admin, "X-Ads-Principal": STRANGER}
        assert call("GET", f"{endpoint}/labs/{labs[MEMBERS[0]]}", stranger)[0] == 404
        assert call("GET", f"{endpoint}/labs", stranger)[1]["labs"] == []

        listed = local_plane.ads("cohort", "list", "--json")
        assert cohort_id in {c["cohort_id"] for c in listed.json()["cohorts"]}
    finally:
        destroyed = local_plane.ads("cohort", "destroy", cohort_id, "--wait", "--json")
    assert destroyed.returncode == 0, destroyed.explain()
    assert {m["status"] for m in destroyed.json()["members"]} == {"DESTROYED"}
