"""The cluster steps (ads/cluster_steps.py, ads/cluster_teardown.py) and the per-VM wait
of Await Init against moto's DynamoDB, with the in-memory provider of tests/cluster_fakes.py:
what each step writes to its VM's entry (and to the lab), that retries send nothing twice,
that the lab's own VM fields are the entry VM's, and that step_callback completes the wait
of any VM of the lab."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ads import cluster_steps, cluster_teardown, steps, teardown_steps
from ads.cluster_model import VmStatus
from ads.cluster_records import ClusterVmNotFound, VmEntryDestroyed
from ads.init_wait import InitWaitDependencies, await_init, send_init
from ads.lab.cluster import cluster_of
from ads.lab.plan import plan_from_labspec_source
from ads.lab_record import LabStatus
from ads.labs_table import create_table
from ads.providers.base import (
    DestroyInProgress,
    HealthCheckPending,
    InitFailed,
    InitInProgress,
    InitStatus,
    LabBeingDestroyed,
    VmInfo,
    VmState,
)
from ads.providers.local_command_events import command_event
from ads.records import LabRepository
from ads.step_waits import StepDeadlineExceeded, StepWaits
from tests.cluster_fakes import FACTS_PATH, FakeAgent, FakeClusterProvider, running_agent
from tests.integration.steps.conftest import HELLO_WEB, OWNER, REGION, FakeLambdaContext

LAB = "two-roles-01jclustersteps00000000000"
TABLE = "ads-labs-cluster"
VMS = ["db-1", "web-1", "web-2"]


def two_roles_plan() -> dict[str, Any]:
    labspec = json.loads(HELLO_WEB.read_text())
    labspec["lab"]["roles"] = {"db": {"ports": [5432]}, "web": {"count": 2, "after": ["db"]}}
    return plan_from_labspec_source(labspec).model_dump(mode="json")


@dataclass
class World:
    repository: LabRepository
    provider: FakeClusterProvider
    agent: FakeAgent
    table: Any
    tokens: list[tuple[str, str, Any]] = field(default_factory=list)

    def record(self) -> Any:
        return self.repository.require(LAB)

    def statuses(self) -> dict[str, str]:
        return {name: entry["status"] for name, entry in self.record().vms.items()}

    def running_cluster(self) -> None:
        for name in VMS:
            cluster_steps.create_vm(LAB, name, self.repository, self.provider)
            _wait(self, name)


def _wait(world: World, name: str) -> Any:
    return _wait_with(world.provider, world, name)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws(), running_agent() as agent:
        create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
        repository = LabRepository.from_name(TABLE, REGION)
        plan = two_roles_plan()
        cluster = cluster_of(plan)
        assert cluster is not None
        entries = {
            vm.name: {"name": vm.name, "role": vm.role, "status": "PENDING"} for vm in cluster.vms
        }
        repository.create(
            repository.new_record(LAB, OWNER, lab_name="Two Roles", plan=plan, vms=entries)
        )
        table = boto3.resource("dynamodb", region_name=REGION).Table(TABLE)
        yield World(repository, FakeClusterProvider(agent_port=agent.port), agent, table)


def test_given_each_vm_created_and_running_then_its_entry_has_its_vm_and_the_lab_mirrors_the_entry_vm(
    world: World,
) -> None:
    for name in VMS:
        created = cluster_steps.create_vm(LAB, name, world.repository, world.provider)
        assert created.vm_id == f"fake-{name}-{LAB[-8:]}"
    assert world.statuses() == dict.fromkeys(VMS, VmStatus.CREATING.value)
    record = world.record()
    assert record.status == LabStatus.PROVISIONING
    assert record.vm_id is None  # nothing runs yet: the lab has no VM of its own
    # Each VM is created from its role's plan.
    assert [c.vm_name for c in world.provider.kinds("create")] == VMS

    for name in ("db-1", "web-2"):
        _wait(world, name)
    assert world.record().vm_id is None  # the entry VM (web-1) does not run yet
    result = _wait(world, "web-1")

    record = world.record()
    assert world.statuses() == dict.fromkeys(VMS, VmStatus.RUNNING.value)
    web1 = record.vms["web-1"]
    assert (record.vm_id, record.private_ip, record.endpoint, record.agent_port) == (
        web1["vm_id"],
        web1["private_ip"],
        web1["endpoint"],
        web1["agent_port"],
    )
    assert result.endpoint == web1["endpoint"] and result.init_poll_s == 300
    # A retried Create VM finds the VM it made: the provider is idempotent on the name.
    again = cluster_steps.create_vm(LAB, "db-1", world.repository, world.provider)
    assert again.vm_id == record.vms["db-1"]["vm_id"]


def test_given_a_vm_the_lab_does_not_have_when_a_step_names_it_then_it_is_refused(
    world: World,
) -> None:
    with pytest.raises(
        ClusterVmNotFound, match="has no VM named web-3; its VMs: db-1, web-1, web-2"
    ):
        cluster_steps.create_vm(LAB, "web-3", world.repository, world.provider)
    assert world.provider.kinds("create") == []


def test_given_a_stopped_vm_when_waited_for_then_the_error_names_the_vm(world: World) -> None:
    cluster_steps.create_vm(LAB, "db-1", world.repository, world.provider)
    vm_id = world.record().vms["db-1"]["vm_id"]
    world.provider.vms[vm_id]["state"] = "pending"

    with pytest.raises(Exception, match=f"VM db-1 \\({vm_id}\\) is pending"):
        _wait(world, "db-1")


def test_given_running_vms_when_the_facts_are_shared_then_every_vm_is_named_with_its_address(
    world: World,
) -> None:
    world.running_cluster()

    result = cluster_steps.share_cluster_facts(LAB, world.repository, world.provider)

    assert result.command_id is None and result.vms == 3
    record = world.record()
    assert record.status == LabStatus.INITIALIZING
    assert world.provider.facts == {
        "lab_id": LAB,
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


class SsmFacts(FakeClusterProvider):
    """Delivers the facts by a command that runs, then ends as ``outcome`` says."""

    outcome: list[InitStatus]

    def share_cluster_facts(self, lab_id: str, vms: list[VmInfo], facts: dict[str, Any]) -> str:
        super().share_cluster_facts(lab_id, vms, facts)
        return "facts-command-1"

    def cluster_facts_status(self, vms: list[VmInfo], command_id: str) -> InitStatus:
        return self.outcome.pop(0)


def test_given_facts_delivered_by_a_command_when_retried_then_it_is_followed_not_sent_again(
    world: World,
) -> None:
    world.running_cluster()
    provider = SsmFacts(agent_port=world.agent.port, vms=world.provider.vms)
    provider.outcome = [
        InitStatus(state="in_progress", detail="InProgress"),
        InitStatus(state="failed", exit_code=1, detail="web-2: Failed"),
    ]

    with pytest.raises(InitInProgress, match="facts-command-1 is still running"):
        cluster_steps.share_cluster_facts(LAB, world.repository, provider)
    assert {e["facts_command_id"] for e in world.record().vms.values()} == {"facts-command-1"}
    with pytest.raises(InitFailed, match=r"delivering the cluster facts failed: .*web-2: Failed"):
        cluster_steps.share_cluster_facts(LAB, world.repository, provider)

    assert len(provider.kinds("facts")) == 1


def test_given_a_vm_initialised_twice_when_sent_then_one_command_with_its_role_and_facts(
    world: World,
) -> None:
    world.running_cluster()
    cluster_steps.share_cluster_facts(LAB, world.repository, world.provider)

    first = send_init(LAB, world.repository, world.provider, "web-2")
    second = send_init(LAB, world.repository, world.provider, "web-2")

    assert first.command_id == second.command_id
    (call,) = world.provider.kinds("init")
    request = call.detail
    assert request.cluster.model_dump() == {
        "vm_name": "web-2",
        "role": "web",
        "facts_path": FACTS_PATH,
    }
    cluster = cluster_of(world.record().plan)
    assert cluster is not None
    assert request.plan == next(vm.plan for vm in cluster.vms if vm.name == "web-2")
    entry = world.record().vms["web-2"]
    assert entry["status"] == VmStatus.INITIALIZING.value
    assert entry["init_command_id"] == first.command_id
    assert entry["init_started_at"]
    # The other VMs are untouched; the lab stays INITIALIZING.
    assert world.statuses()["web-1"] == VmStatus.RUNNING.value
    assert world.record().status == LabStatus.INITIALIZING


def test_given_vm_agents_when_checked_then_each_vm_becomes_healthy_and_an_unhealthy_one_is_named(
    world: World,
) -> None:
    world.running_cluster()
    db_vm = world.record().vms["db-1"]["vm_id"]
    world.agent.unhealthy.add(db_vm)

    with pytest.raises(HealthCheckPending, match=r"VM db-1: GET .* answered 503"):
        cluster_steps.check_vm_health(LAB, "db-1", world.repository, world.provider, timeout_s=2)
    result = cluster_steps.check_vm_health(
        LAB, "web-2", world.repository, world.provider, timeout_s=2
    )

    assert result.healthy and result.agent_version == "fake"
    assert world.statuses() == {
        "db-1": VmStatus.RUNNING.value,
        "web-1": VmStatus.RUNNING.value,
        "web-2": VmStatus.HEALTHY.value,
    }
    # The whole lab's Check Health asks every VM: db-1 keeps it pending.
    with pytest.raises(HealthCheckPending, match="VM db-1"):
        steps.health_check(LAB, world.repository, world.provider, timeout_s=2)
    assert world.record().status == LabStatus.HEALTH_CHECKING
    world.agent.unhealthy.clear()
    whole = steps.health_check(LAB, world.repository, world.provider, timeout_s=2)
    assert whole.url == world.provider.health_url(  # the entry VM's agent
        VmInfo(
            vm_id=world.record().vms["web-1"]["vm_id"], provider="fake", agent_port=world.agent.port
        )
    )
    assert {vm_id for vm_id, _ in world.agent.checks} == {
        e["vm_id"] for e in world.record().vms.values()
    }


class SlowToStop(FakeClusterProvider):
    """web-2 is still shutting down on the first destroy."""

    asked: int = 0

    def destroy_vm(self, lab_id: str, vm_id: str | None, *, vm_name: str | None = None) -> VmState:
        state = super().destroy_vm(lab_id, vm_id, vm_name=vm_name)
        if vm_name == "web-2":
            self.asked += 1
            if self.asked == 1:
                return VmState(vm_id=vm_id, state="shutting-down")
        return state


def test_given_a_cluster_lab_when_destroyed_then_every_vm_goes_before_its_network_is_released(
    world: World,
) -> None:
    cluster_steps.create_vm(LAB, "db-1", world.repository, world.provider)
    cluster_steps.create_vm(LAB, "web-2", world.repository, world.provider)
    # web-1 never got its VM: it is looked up by the lab's and its name's tags.
    provider = SlowToStop(agent_port=world.agent.port, vms=world.provider.vms)

    with pytest.raises(DestroyInProgress, match=r"VM web-2 \(fake-web-2-.*\) is shutting down"):
        teardown_steps.destroy_vm(LAB, world.repository, provider, launch_grace_s=60)
    assert world.statuses() == {
        "db-1": VmStatus.DESTROYED.value,
        "web-1": VmStatus.DESTROYED.value,
        "web-2": VmStatus.CREATING.value,
    }
    assert provider.released == []

    result = teardown_steps.destroy_vm(LAB, world.repository, provider, launch_grace_s=60)

    assert result.state == "terminated"
    assert world.statuses() == dict.fromkeys(VMS, VmStatus.DESTROYED.value)
    assert provider.released == [LAB]
    # The retry asked only about the VM that was not gone yet.
    assert [c.vm_name for c in provider.kinds("destroy")] == ["db-1", "web-1", "web-2", "web-2"]
    assert provider.running() == []


@dataclass
class DestroyedWhileAsked(FakeClusterProvider):
    """The lab is destroyed while web-1's Wait Until Running asks about its VM: as when
    another VM's step failed the Map and Destroy VM ran while this invocation was still
    running (Step Functions stops the iteration, not the Lambda invocation)."""

    world: World | None = None

    def describe_vm(self, vm_id: str) -> VmState:
        state = super().describe_vm(vm_id)
        if self.world is not None:
            world, self.world = self.world, None
            teardown_steps.destroy_vm(LAB, world.repository, world.provider, launch_grace_s=0)
        return state


def test_given_a_late_step_that_ends_after_destroy_vm_then_it_does_not_bring_its_vm_back(
    world: World,
) -> None:
    for name in VMS:
        cluster_steps.create_vm(LAB, name, world.repository, world.provider)
    late = DestroyedWhileAsked(agent_port=world.agent.port, vms=world.provider.vms, world=world)

    with pytest.raises(VmEntryDestroyed, match="VM web-1 is DESTROYED already"):
        _wait_with(late, world, "web-1")

    assert world.statuses() == dict.fromkeys(VMS, VmStatus.DESTROYED.value)
    assert world.provider.running() == []


@dataclass
class DestroyedWhileCreating(FakeClusterProvider):
    """The lab is destroyed while web-1's Create VM is still creating its VM: another VM's
    Create VM failed the Map, and Destroy VM ran before this invocation ended. With
    ``after``, Destroy VM looks (finding no VM) before the VM exists and writes its
    DESTROYED only after Create VM recorded the VM; otherwise it runs to its end first."""

    world: World | None = None
    after: bool = False
    destroy_error: list[BaseException] = field(default_factory=list)
    # Destroy VM's look at web-1 came before web-1's VM existed.
    looked_early: bool = False

    def destroy_vm(self, lab_id: str, vm_id: str | None, *, vm_name: str | None = None) -> Any:
        if self.looked_early and vm_name == "web-1":
            return VmState(vm_id=vm_id or "none", state="absent")
        return super().destroy_vm(lab_id, vm_id, vm_name=vm_name)

    def create_vm(self, lab_id: str, plan: Any, *, vm_name: str | None = None) -> Any:
        world, self.world = self.world, None
        if world is None or vm_name != "web-1":
            return super().create_vm(lab_id, plan, vm_name=vm_name)
        record = world.repository.require(LAB)
        world.repository.transition(LAB, LabStatus.DESTROYING)
        if not self.after:
            teardown_steps.destroy_vm(LAB, world.repository, self, launch_grace_s=0)
            return super().create_vm(lab_id, plan, vm_name=vm_name)
        vm = super().create_vm(lab_id, plan, vm_name=vm_name)
        world.repository.vm_entries.update_vm(LAB, "web-1", status="CREATING", vm_id=vm.vm_id)
        self.looked_early = True
        try:
            # Destroy VM with what it read and saw before the VM existed.
            cluster_teardown.destroy_cluster_vms(record, world.repository, self, launch_grace_s=0)
        except BaseException as exc:
            self.destroy_error.append(exc)
        finally:
            self.looked_early = False
        return vm


def test_given_destroy_vm_ended_while_a_vm_was_being_created_when_create_vm_ends_then_it_destroys_that_vm(
    world: World,
) -> None:
    cluster_steps.create_vm(LAB, "db-1", world.repository, world.provider)
    late = DestroyedWhileCreating(agent_port=world.agent.port, vms=world.provider.vms, world=world)

    with pytest.raises(LabBeingDestroyed, match="VM web-1 was destroyed while"):
        cluster_steps.create_vm(LAB, "web-1", world.repository, late)

    assert late.running() == []
    assert world.statuses()["web-1"] == VmStatus.DESTROYED.value


def test_given_create_vm_recorded_its_vm_before_destroy_vm_wrote_when_destroyed_then_destroy_vm_goes_again(
    world: World,
) -> None:
    cluster_steps.create_vm(LAB, "db-1", world.repository, world.provider)
    late = DestroyedWhileCreating(
        agent_port=world.agent.port, vms=world.provider.vms, world=world, after=True
    )

    cluster_steps.create_vm(LAB, "web-1", world.repository, late)

    (refused,) = late.destroy_error
    assert isinstance(refused, DestroyInProgress)
    assert "VM web-1 got an instance while being destroyed" in str(refused)
    # Its retry finds the VM by its entry and destroys it.
    teardown_steps.destroy_vm(LAB, world.repository, late, launch_grace_s=0)
    assert late.running() == []
    assert set(world.statuses().values()) == {VmStatus.DESTROYED.value}


def _wait_with(provider: FakeClusterProvider, world: World, name: str) -> Any:
    return cluster_steps.wait_running(
        LAB,
        name,
        world.repository,
        provider,
        launch_grace_s=60,
        boot_deadline_s=600,
        init_poll_s=300,
    )


# -- Await Init per VM, and the callback for any VM of the lab -------------------------------


class RecordingTokens:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    def succeed(self, token: str, output: str) -> bool:
        self.sent.append(("success", token, output))
        return True

    def fail(self, token: str, error: str, cause: str) -> bool:
        self.sent.append(("failure", token, cause))
        return True


def _wait_deps(world: World, clock: Any = None) -> tuple[InitWaitDependencies, RecordingTokens]:
    tokens = RecordingTokens()
    import time

    deps = InitWaitDependencies(
        repository=world.repository,
        provider=world.provider,
        waits=StepWaits(world.table),
        tokens=tokens,  # type: ignore[arg-type]
        clock=clock or time.time,
    )
    return deps, tokens


def _initialising(world: World, name: str) -> str:
    world.running_cluster()
    cluster_steps.share_cluster_facts(LAB, world.repository, world.provider)
    world.provider.hanging.add(name)
    return send_init(LAB, world.repository, world.provider, name).command_id


def test_given_a_non_entry_vms_install_ends_when_its_event_arrives_then_step_callback_completes_its_wait(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.step_callback import handler as callback

    command_id = _initialising(world, "db-1")
    deps, tokens = _wait_deps(world)
    waited = await_init(LAB, "token-db-1", deps, deadline_s=600, vm_name="db-1")
    assert waited.state == "waiting"
    world.provider.hanging.discard("db-1")
    world.provider._commands[command_id].ends_at = 0.0  # ended now, successfully
    monkeypatch.setattr(callback, "wait_dependencies_for", lambda config: deps)
    db_vm = world.record().vms["db-1"]["vm_id"]
    assert db_vm != world.record().vm_id  # not the lab's entry VM

    answer = callback.handler(command_event(db_vm, command_id, "Success"), FakeLambdaContext())

    assert answer == {"outcome": "completed", "lab_id": LAB, "command_id": command_id}
    ((kind, token, output),) = tokens.sent
    assert (kind, token) == ("success", "token-db-1")
    assert json.loads(output) == {"command_id": command_id, "state": "success"}


def test_given_an_event_for_a_vms_earlier_command_when_delivered_then_it_is_stale(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.step_callback import handler as callback

    command_id = _initialising(world, "db-1")
    deps, tokens = _wait_deps(world)
    await_init(LAB, "token-db-1", deps, deadline_s=600, vm_name="db-1")
    world.repository.vm_entries.update_vm(LAB, "db-1", init_command_id="a-later-command")
    monkeypatch.setattr(callback, "wait_dependencies_for", lambda config: deps)
    db_vm = world.record().vms["db-1"]["vm_id"]

    answer = callback.handler(command_event(db_vm, command_id, "Success"), FakeLambdaContext())

    assert answer["outcome"] == "stale"
    assert tokens.sent == []


def test_given_a_vms_install_past_its_deadline_when_awaited_then_it_times_out_naming_the_vm(
    world: World,
) -> None:
    import time

    _initialising(world, "web-2")
    deps, _ = _wait_deps(world, clock=lambda: time.time() + 3600)

    with pytest.raises(
        StepDeadlineExceeded,
        match=r"timed out after 600 s in Initialise VM \(init command .* on web-2 \(fake-web-2-",
    ):
        await_init(LAB, "token-web-2", deps, deadline_s=600, vm_name="web-2")
    # Counted from the VM's own send, not from the lab's INITIALIZING: a fresh send waits.
    deps_now, _ = _wait_deps(world)
    assert (
        await_init(LAB, "token-web-2", deps_now, deadline_s=600, vm_name="web-2").state == "waiting"
    )


# -- Mark Failed names the VM ------------------------------------------------------------


class NoEvents:
    def publish(self, record: Any) -> bool:
        return False


@pytest.mark.parametrize("destroyed_first", [True, False])
def test_given_a_vms_step_failed_when_marked_failed_then_the_cause_starts_with_the_vm_and_its_entry_keeps_it(
    world: World, destroyed_first: bool
) -> None:
    world.running_cluster()
    if destroyed_first:
        teardown_steps.destroy_vm(LAB, world.repository, world.provider, launch_grace_s=60)
    error = {
        "Error": "InitFailed",
        "Cause": json.dumps(
            {
                "errorType": "InitFailed",
                "errorMessage": "VM web-2: install script exited with status 3",
            }
        ),
    }

    result = teardown_steps.record_status(
        LAB,
        LabStatus.FAILED,
        world.repository,
        NoEvents(),  # type: ignore[arg-type]
        failed_step="Initialise VM (web-2)",
        error=error,
    )

    cause = "web-2: Initialise VM (web-2) failed: InitFailed: VM web-2: install script exited with status 3"
    assert result.cause == cause
    record = world.record()
    assert (record.status, record.failed_step, record.cause) == (
        LabStatus.FAILED,
        "Initialise VM (web-2)",
        cause,
    )
    entry = record.vms["web-2"]
    assert (entry["failed_step"], entry["cause"]) == ("Initialise VM (web-2)", cause)
    assert entry["status"] == (
        VmStatus.DESTROYED.value if destroyed_first else VmStatus.FAILED.value
    )
    # The other VMs keep their own state; a single-VM step name names no VM.
    assert "failed_step" not in record.vms["db-1"]
