"""The step handlers with the local provider: real install script, real agent, real processes."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from ads import steps
from ads.config import AdsConfig, reset_config
from ads.lab.plan import plan_from_labspec_source
from ads.lab_record import LabStatus
from ads.labs_table import create_table
from ads.lifecycle_events import LifecyclePublisher
from ads.providers.local import LocalProvider
from ads.providers.local_processes import sandbox_processes
from ads.records import LabRepository
from functions.create_vm.handler import handler as create_vm
from functions.destroy_vm.handler import handler as destroy_vm
from functions.health_check.handler import handler as health_check
from functions.init_vm.handler import handler as init_vm
from functions.record_status.handler import handler as record_status
from functions.wait_running.handler import handler as wait_running
from tests.integration.steps.conftest import (
    AWS_ENV,
    HELLO_WEB,
    OWNER,
    REGION,
    ROOT,
    TABLE,
    FakeLambdaContext,
)

CONTEXT = FakeLambdaContext()
FAILING_BUILD = ROOT / "events" / "labspecs" / "failing-build.labspec.json"


class LocalWorld:
    def __init__(self, root: Path) -> None:
        self.config = AdsConfig(
            provider="local", table_name=TABLE, local_root=str(root), health_timeout_s=2
        )
        self.provider = LocalProvider(self.config)
        self.repository = LabRepository.from_name(TABLE, REGION)
        self.deps = steps.StepDependencies(
            repository=self.repository,
            provider=self.provider,
            publisher=LifecyclePublisher(boto3.client("events", region_name=REGION), ""),
            config=self.config,
        )

    def new_lab(self, lab_id: str, labspec: Path = HELLO_WEB) -> dict[str, Any]:
        plan = plan_from_labspec_source(labspec.read_text()).model_dump(mode="json")
        self.repository.create(self.repository.new_record(lab_id, OWNER, plan=plan))
        return {"lab_id": lab_id}


@pytest.fixture
def local_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalWorld]:
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
        world = LocalWorld(tmp_path / "labs")
        monkeypatch.setattr(steps, "dependencies_for", lambda config: world.deps)
        reset_config()
        try:
            yield world
        finally:
            # Whatever a failing test left behind must not outlive it.
            world.provider.destroy_all()
    reset_config()


def until_done(step: Callable[..., dict[str, Any]], event: dict[str, Any], retried: str) -> dict:
    """Call a step the way the state machine's Retry does, until it stops saying "not yet"."""
    deadline = time.monotonic() + 60
    while True:
        try:
            return step(event, CONTEXT)
        except Exception as exc:
            if type(exc).__name__ != retried or time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def process_owner(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


def test_given_a_lab_whose_start_step_leaves_a_server_when_deployed_locally_then_it_is_healthy_and_destroy_leaves_nothing(
    local_world: LocalWorld,
):
    event = local_world.new_lab("hello-web-local")

    created = create_vm(event, CONTEXT)
    running = wait_running(event, CONTEXT)
    until_done(init_vm, event, "InitInProgress")
    health = until_done(health_check, event, "HealthCheckPending")
    record_status({**event, "status": "READY"}, CONTEXT)

    record = local_world.repository.require("hello-web-local")
    assert record.status == LabStatus.READY
    assert created["provider"] == "local"
    assert running["endpoint"] == f"http://127.0.0.1:{created['agent_port']}"
    assert health["url"] == f"http://127.0.0.1:{created['agent_port']}/health"
    assert health["status_code"] == 200
    sandbox = record.vm_details["sandbox"]
    pids = sandbox_processes(sandbox)
    # The agent's supervisor, the agent and the lab's own web server.
    assert len(pids) >= 3
    if os.geteuid() == 0:
        # Its own uid from the configured range, in PID namespaces that are not ours.
        [uid] = {process_owner(pid) for pid in pids}
        base = local_world.config.local_uid_base
        assert base <= uid < base + local_world.config.local_uid_count
        if record.vm_details["isolation"] == "namespaces":
            own = os.readlink("/proc/self/ns/pid")
            assert {os.readlink(f"/proc/{pid}/ns/pid") for pid in pids} - {own}
    with urlopen_no_proxy(record.app_url) as page:
        assert b"Hello from ADS" in page.read()

    destroyed = destroy_vm(event, CONTEXT)

    assert destroyed["state"] == "terminated"
    assert sandbox_processes(sandbox) == []
    assert not Path(sandbox).exists()
    assert not (Path(local_world.config.local_root) / "hello-web-local").exists()
    assert destroy_vm(event, CONTEXT)["state"] == "absent"


def test_given_a_build_command_that_fails_when_init_vm_follows_it_then_init_failed_names_the_command_and_its_output(
    local_world: LocalWorld,
):
    event = local_world.new_lab("failing-build-local", FAILING_BUILD)
    create_vm(event, CONTEXT)
    wait_running(event, CONTEXT)

    with pytest.raises(Exception) as raised:
        until_done(init_vm, event, "InitInProgress")

    assert type(raised.value).__name__ == "InitFailed"
    message = str(raised.value)
    assert "exited with status 3" in message
    assert (
        "failing command: echo 'compiling the lab'; echo 'error: src/main.c: no such file' >&2; exit 3"
        in message
    )
    assert "error: src/main.c: no such file" in message.split("output tail:")[1]
    sandbox = local_world.repository.require("failing-build-local").vm_details["sandbox"]

    destroy_vm(event, CONTEXT)

    assert sandbox_processes(sandbox) == []


def test_given_create_vm_already_ran_when_it_is_retried_then_the_same_local_vm_is_returned(
    local_world: LocalWorld,
):
    event = local_world.new_lab("retried-local")
    first = create_vm(event, CONTEXT)

    second = create_vm(event, CONTEXT)

    assert second == first
    assert [p.name for p in Path(local_world.config.local_root).iterdir() if p.name[0] != "."] == [
        "retried-local"
    ]


def test_given_no_vm_was_created_when_destroy_vm_runs_then_it_succeeds(local_world: LocalWorld):
    event = local_world.new_lab("never-created-local")

    assert destroy_vm(event, CONTEXT) == {"vm_id": None, "state": "absent"}


def test_given_a_local_vm_when_described_then_it_runs_on_loopback_and_its_bookkeeping_is_out_of_the_labs_reach(
    local_world: LocalWorld,
):
    event = local_world.new_lab("described-local")
    vm_id = create_vm(event, CONTEXT)["vm_id"]

    state = local_world.provider.describe_vm(vm_id)

    assert (state.state, state.private_ip, state.ssm_online) == ("running", "127.0.0.1", None)
    bookkeeping = Path(local_world.config.local_root) / ".vms" / "described-local.json"
    assert json.loads(bookkeeping.read_text())["vm_id"] == vm_id
    assert bookkeeping.stat().st_uid == os.geteuid()
    assert bookkeeping.parent.stat().st_mode & 0o077 == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="lab uids are only handed out as root")
def test_given_every_lab_uid_is_taken_when_create_vm_runs_then_it_refuses_and_leaves_no_sandbox(
    local_world: LocalWorld, monkeypatch: pytest.MonkeyPatch
):
    from ads.providers import local_sandbox

    monkeypatch.setattr(local_sandbox, "_has_passwd_entry", lambda uid: True)
    event = local_world.new_lab("refused-local")

    with pytest.raises(Exception) as raised:
        create_vm(event, CONTEXT)

    assert type(raised.value).__name__ == "VmCreateFailed"
    assert "no free lab uid" in str(raised.value)
    assert not (Path(local_world.config.local_root) / "refused-local").exists()


def urlopen_no_proxy(url: str) -> Any:
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return opener.open(url, timeout=5)


@pytest.fixture
def private_home_world(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalWorld]:
    # Like root's own ADS_HOME (/root is 0700): outside /tmp, which a lab sees as an
    # empty private mount, so the directory is really there and really unreachable.
    import shutil
    import tempfile

    private = Path(tempfile.mkdtemp(prefix="ads-private-home-", dir="/var/tmp"))
    for name, value in AWS_ENV.items():
        monkeypatch.setenv(name, value)
    try:
        with mock_aws():
            create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
            world = LocalWorld(private / ".ads" / "local" / "labs")
            monkeypatch.setattr(steps, "dependencies_for", lambda config: world.deps)
            reset_config()
            try:
                yield world
            finally:
                world.provider.destroy_all()
    finally:
        reset_config()
        shutil.rmtree(private, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: a lab then runs as its own uid")
def test_given_the_labs_root_in_a_home_the_lab_cannot_enter_when_deployed_then_it_is_healthy(
    private_home_world: LocalWorld,
):
    private = Path(private_home_world.config.local_root).parents[2]
    assert private.stat().st_mode & 0o777 == 0o700
    event = private_home_world.new_lab("hello-web-private-home")

    create_vm(event, CONTEXT)
    wait_running(event, CONTEXT)
    until_done(init_vm, event, "InitInProgress")
    health = until_done(health_check, event, "HealthCheckPending")

    assert health["status_code"] == 200
    assert destroy_vm(event, CONTEXT)["state"] == "terminated"
