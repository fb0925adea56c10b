"""DeployLab's cluster path on the local plane: a lab of two roles (``db``, and ``web``
with two VMs after ``db``) through the real ASL, its Map states and the step handlers,
with an in-memory provider (tests/cluster_fakes.py) so that what is asked of the provider,
and when, can be checked: the db wave before the web wave, the cluster facts before any
install, READY with every VM HEALTHY; a failing install on one VM, and an install whose
event is lost and never ends on one VM, each fail the lab naming the VM and the step, and
destroy every VM. The sample two-role lab on the local provider shows the facts reach the
lab's steps: web serves db's address."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ads import init_wait, steps
from ads.cluster_model import VmStatus
from ads.lab_record import LabStatus
from ads.local.runtime import LocalControlPlane
from tests.cluster_fakes import FACTS_PATH, FakeAgent, FakeClusterProvider, running_agent

from .conftest import (
    CLUSTER_CHOICE,
    DEPLOY_PATH,
    TIME_SCALE,
    Outcome,
    WorkflowDriver,
    hello_web_labspec,
)

VMS = ["db-1", "web-1", "web-2"]
TWO_ROLE_LAB = (
    Path(__file__).resolve().parents[2] / "events" / "labspecs" / "two-role-lab.labspec.json"
)


def two_roles_labspec() -> dict[str, Any]:
    labspec = hello_web_labspec()
    labspec["lab"]["roles"] = {
        "db": {"ports": [5432]},
        "web": {"count": 2, "after": ["db"]},
    }
    return labspec


@pytest.fixture
def agent() -> Iterator[FakeAgent]:
    with running_agent() as running:
        yield running


@pytest.fixture
def fake(agent: FakeAgent) -> FakeClusterProvider:
    return FakeClusterProvider(agent_port=agent.port)


def _plane(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeClusterProvider, **env: str
) -> Iterator[LocalControlPlane]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # Every step handler's provider is the fake (dependencies are built once per config).
    monkeypatch.setattr("ads.providers.get_provider", lambda config, session=None: fake)
    steps.dependencies_for.cache_clear()
    init_wait.wait_dependencies_for.cache_clear()
    with LocalControlPlane(workdir / "plane", time_scale=TIME_SCALE) as plane:
        yield plane
    steps.dependencies_for.cache_clear()
    init_wait.wait_dependencies_for.cache_clear()


@pytest.fixture
def cluster_plane(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeClusterProvider
) -> Iterator[LocalControlPlane]:
    yield from _plane(workdir, monkeypatch, fake)


@pytest.fixture
def short_deadline_plane(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, fake: FakeClusterProvider
) -> Iterator[LocalControlPlane]:
    yield from _plane(workdir, monkeypatch, fake, ADS_INIT_POLL_S="1", ADS_INIT_DEADLINE_S="3")


def _assert_every_vm_destroyed(outcome: Outcome, fake: FakeClusterProvider) -> None:
    assert fake.running() == []
    assert sorted(str(c.vm_name) for c in fake.kinds("destroy")) == VMS
    assert fake.released == [outcome.lab_id]
    assert {n: e["status"] for n, e in outcome.record.vms.items()} == dict.fromkeys(
        VMS, VmStatus.DESTROYED.value
    )
    assert "Destroy VM" in outcome.states
    assert outcome.states[-3:] == ["Mark Failed", "Cause Recorded", "Deployment Failed"]


def test_given_a_two_role_lab_when_deployed_then_db_boots_before_web_after_the_facts_and_the_lab_is_ready(
    cluster_plane: LocalControlPlane, fake: FakeClusterProvider, agent: FakeAgent
) -> None:
    outcome = WorkflowDriver(cluster_plane).deploy(two_roles_labspec())

    assert outcome.execution["status"] == "SUCCEEDED", outcome.execution.get("cause")
    record = outcome.record
    assert record.status == LabStatus.READY
    assert {n: e["status"] for n, e in record.vms.items()} == dict.fromkeys(
        VMS, VmStatus.HEALTHY.value
    )
    # The lab's own VM fields are the entry VM's (the first VM of the last wave).
    web1 = record.vms["web-1"]
    assert (record.vm_id, record.private_ip, record.endpoint) == (
        web1["vm_id"],
        web1["private_ip"],
        web1["endpoint"],
    )
    assert [s.status for s in record.status_history] == [
        LabStatus.REQUESTED,
        LabStatus.PROVISIONING,
        LabStatus.INITIALIZING,
        LabStatus.HEALTH_CHECKING,
        LabStatus.READY,
    ]
    # The facts reached every VM before any install, with each VM's address and ports.
    (facts_call,) = fake.kinds("facts")
    inits = {c.vm_name: c for c in fake.kinds("init")}
    assert sorted(str(n) for n in inits) == VMS
    assert all(facts_call.at < c.at for c in inits.values())
    assert fake.facts == {
        "lab_id": outcome.lab_id,
        "vms": [
            {
                "name": name,
                "role": name.split("-")[0],
                "address": record.vms[name]["private_ip"],
                "ports": record.vms[name]["vm_details"]["lab_ports"],
            }
            for name in VMS
        ],
    }
    # Each install knows which VM it is, and where the facts are.
    assert {n: (c.detail.cluster.role, c.detail.cluster.facts_path) for n, c in inits.items()} == {
        "db-1": ("db", FACTS_PATH),
        "web-1": ("web", FACTS_PATH),
        "web-2": ("web", FACTS_PATH),
    }
    # The web wave started once db-1's agent answered healthy.
    db_healthy = min(at for vm_id, at in agent.checks if vm_id == record.vms["db-1"]["vm_id"])
    assert inits["web-1"].at > db_healthy and inits["web-2"].at > db_healthy
    assert inits["db-1"].at < db_healthy
    # The single-VM path was not taken; the cluster's ran to Check Health and Mark Ready.
    assert outcome.states[:2] == ["Cluster Lab?", "Create VMs"]
    assert "Create VM" not in outcome.states
    assert outcome.states.count("Create Cluster VM") == 3
    assert outcome.states.count("Await Cluster VM Init") >= 3
    assert outcome.states[-3:] == ["Mark Ready", "Keep Lab Image?", "Lab Ready"]


def test_given_a_single_vm_lab_when_deployed_then_it_takes_todays_path_after_the_choice(
    cluster_plane: LocalControlPlane, fake: FakeClusterProvider
) -> None:
    outcome = WorkflowDriver(cluster_plane).deploy(hello_web_labspec())

    assert outcome.execution["status"] == "SUCCEEDED", outcome.execution.get("cause")
    assert outcome.record.vms == {}
    assert outcome.states[0] == CLUSTER_CHOICE
    tasks = [s for s in outcome.states if s in DEPLOY_PATH]
    assert tasks == DEPLOY_PATH
    assert fake.kinds("facts") == []
    assert [c.vm_name for c in fake.kinds("create")] == [None]


def test_given_one_vms_install_fails_when_deployed_then_every_vm_is_destroyed_and_the_vm_and_step_are_named(
    cluster_plane: LocalControlPlane, fake: FakeClusterProvider
) -> None:
    fake.failing.add("web-2")

    outcome = WorkflowDriver(cluster_plane).deploy(two_roles_labspec())

    assert outcome.execution["status"] == "FAILED"
    record = outcome.record
    assert record.status == LabStatus.FAILED
    assert record.failed_step == "Initialise VM (web-2)"
    assert (record.cause or "").startswith(
        "web-2: Initialise VM (web-2) failed: InitFailed: VM web-2: install script exited with status 3"
    )
    assert "failing command: make db" in (record.cause or "")
    assert outcome.execution["cause"] == record.cause
    assert record.vms["web-2"]["failed_step"] == "Initialise VM (web-2)"
    assert record.vms["web-2"]["cause"] == record.cause
    _assert_every_vm_destroyed(outcome, fake)


def test_given_one_vm_cannot_be_created_when_deployed_then_every_other_vm_is_destroyed_and_the_vm_is_named(
    cluster_plane: LocalControlPlane, fake: FakeClusterProvider
) -> None:
    fake.refused.add("web-2")

    outcome = WorkflowDriver(cluster_plane).deploy(two_roles_labspec())

    assert outcome.execution["status"] == "FAILED"
    record = outcome.record
    assert record.status == LabStatus.FAILED
    assert record.failed_step == "Create VM (web-2)"
    assert record.cause == (
        "web-2: Create VM (web-2) failed: VmCreateFailed: "
        "VM web-2: no capacity for t3.micro in any allowed subnet"
    )
    # Nothing was installed; the facts were never shared.
    assert fake.kinds("facts") == [] and fake.kinds("init") == []
    assert "Share Cluster Facts" not in outcome.states
    _assert_every_vm_destroyed(outcome, fake)


def test_given_one_vms_install_event_is_lost_and_it_never_ends_when_deployed_then_its_deadline_fails_the_lab_and_every_vm_goes(
    short_deadline_plane: LocalControlPlane, fake: FakeClusterProvider
) -> None:
    fake.hanging.add("db-1")

    outcome = WorkflowDriver(short_deadline_plane).deploy(two_roles_labspec())

    assert outcome.execution["status"] == "FAILED"
    record = outcome.record
    assert record.status == LabStatus.FAILED
    assert record.failed_step == "Initialise VM (db-1)"
    cause = record.cause or ""
    assert cause.startswith("db-1: Initialise VM (db-1) failed: StepDeadlineExceeded: ")
    assert "timed out after 3 s in Initialise VM (init command cmd-fake-db-1" in cause
    # The web wave never started: its role waits for db.
    assert [c.vm_name for c in fake.kinds("init")] == ["db-1"]
    _assert_every_vm_destroyed(outcome, fake)


def test_given_a_vm_that_never_answers_healthy_when_deployed_then_check_vm_health_names_it(
    cluster_plane: LocalControlPlane,
    fake: FakeClusterProvider,
    agent: FakeAgent,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Check VM Health's retries, cut short: two attempts.
    sfn = cluster_plane.stepfunctions()
    arn = cluster_plane.deploy_state_machine_arn
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
    wave = definition["States"]["Bootstrap Waves"]["ItemProcessor"]["States"]["Bootstrap Wave"]
    health = wave["ItemProcessor"]["States"]["Check Cluster VM Health"]
    health["Retry"][0]["MaxAttempts"] = 1
    sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(definition))
    original_create = fake.create_vm

    def create_vm(lab_id: str, plan: Any, *, vm_name: str | None = None) -> Any:
        vm = original_create(lab_id, plan, vm_name=vm_name)
        if vm_name == "db-1":
            agent.unhealthy.add(vm.vm_id)
        return vm

    monkeypatch.setattr(fake, "create_vm", create_vm)

    outcome = WorkflowDriver(cluster_plane).deploy(two_roles_labspec())

    assert outcome.record.status == LabStatus.FAILED
    assert outcome.record.failed_step == "Check VM Health (db-1)"
    assert (outcome.record.cause or "").startswith(
        "db-1: Check VM Health (db-1) failed: HealthCheckPending: VM db-1: GET "
    )
    _assert_every_vm_destroyed(outcome, fake)


def test_given_the_two_role_sample_on_the_local_provider_when_deployed_then_web_serves_db_s_address_from_the_facts(
    plane: LocalControlPlane, driver: WorkflowDriver
) -> None:
    labspec = json.loads(TWO_ROLE_LAB.read_text())

    outcome = driver.deploy(labspec)

    assert outcome.execution["status"] == "SUCCEEDED", outcome.execution.get("cause")
    record = outcome.record
    assert record.status == LabStatus.READY
    assert {n: e["status"] for n, e in record.vms.items()} == dict.fromkeys(
        VMS, VmStatus.HEALTHY.value
    )
    # Each VM is a sandbox of its own, with its own agent.
    assert len({e["vm_id"] for e in record.vms.values()}) == 3
    assert len({e["endpoint"] for e in record.vms.values()}) == 3
    db = record.vms["db-1"]
    page = _get(record.app_url or "")
    assert record.app_url == record.vms["web-1"]["app_url"]
    assert f'<code id="db">{db["private_ip"]}:{db["vm_details"]["lab_ports"][0]}</code>' in page
    assert "web-1 of lab " + outcome.lab_id in page

    destroyed = driver.destroy(outcome.lab_id)

    assert destroyed.record.status == LabStatus.DESTROYED
    assert {e["status"] for e in destroyed.record.vms.values()} == {VmStatus.DESTROYED.value}
    provider = plane.local_provider()
    assert all(provider.describe_vm(e["vm_id"]).gone for e in destroyed.record.vms.values())


def _get(url: str) -> str:
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        return str(response.read().decode())
