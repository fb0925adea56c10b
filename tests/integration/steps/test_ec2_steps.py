"""The step handlers in-process against moto with the ec2 provider."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from ads.lab_record import LabStatus
from functions.create_vm.handler import handler as create_vm
from functions.destroy_vm.handler import handler as destroy_vm
from functions.health_check.handler import handler as health_check
from functions.init_vm.handler import handler as init_vm
from functions.wait_running.handler import handler as wait_running
from tests.integration.steps.conftest import (
    REGION,
    Ec2World,
    FakeLambdaContext,
    seed_image_parameter,
)

CONTEXT = FakeLambdaContext()
# A second AMI moto ships, distinct from the one every seeded public parameter names.
OTHER_IMAGE_ID = "ami-12c6146b"


def client_error(
    code: str, message: str = "refused", operation: str = "RunInstances"
) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


def instances_of(lab_id: str) -> list[dict[str, Any]]:
    ec2 = boto3.client("ec2", region_name=REGION)
    reservations = ec2.describe_instances(Filters=[{"Name": "tag:ads:lab-id", "Values": [lab_id]}])[
        "Reservations"
    ]
    return [i for r in reservations for i in r["Instances"]]


def created_lab(world: Ec2World) -> str:
    world.new_lab()
    return create_vm(world.state("create_vm"), CONTEXT)["vm_id"]


# -- create_vm ---------------------------------------------------------------------------


def test_given_a_requested_lab_when_create_vm_runs_then_run_instances_asks_for_a_hardened_tagged_instance(
    ec2_world: Ec2World,
):
    ec2_world.new_lab()

    result = create_vm(ec2_world.state("create_vm"), CONTEXT)

    (call,) = ec2_world.ec2.called("run_instances")
    assert call["ImageId"] == ec2_world.image_id
    assert call["InstanceType"] == "t3.micro"
    assert call["MetadataOptions"]["HttpTokens"] == "required"
    assert call["ClientToken"] == ec2_world.lab_id
    assert (call["MinCount"], call["MaxCount"]) == (1, 1)
    assert call["IamInstanceProfile"] == {"Arn": ec2_world.config.instance_profile_arn}
    assert call["SubnetId"] == ec2_world.config.subnet_ids[0]
    assert call["SecurityGroupIds"] == list(ec2_world.config.security_group_ids)
    (mapping,) = call["BlockDeviceMappings"]
    assert mapping["Ebs"] == {
        "VolumeSize": 8,
        "VolumeType": "gp3",
        "Encrypted": True,
        "DeleteOnTermination": True,
    }
    image = boto3.client("ec2", region_name=REGION).describe_images(ImageIds=[ec2_world.image_id])
    assert mapping["DeviceName"] == image["Images"][0]["RootDeviceName"]
    for spec in call["TagSpecifications"]:
        tags = {t["Key"]: t["Value"] for t in spec["Tags"]}
        assert tags == {
            "ads:lab-id": ec2_world.lab_id,
            "ads:managed": "true",
            "Name": f"ads-{ec2_world.lab_id}",
        }
    assert {s["ResourceType"] for s in call["TagSpecifications"]} == {
        "instance",
        "volume",
        "network-interface",
    }

    (instance,) = instances_of(ec2_world.lab_id)
    assert instance["InstanceId"] == result["vm_id"]
    record = ec2_world.repository.require(ec2_world.lab_id)
    assert record.status == LabStatus.PROVISIONING
    assert (record.vm_id, record.provider, record.agent_port) == (result["vm_id"], "ec2", 9089)
    assert record.vm_details["instance_type"] == "t3.micro"


def test_given_a_plan_naming_its_image_parameter_and_volume_size_when_create_vm_runs_then_both_come_from_the_plan(
    ec2_world: Ec2World,
):
    # A parameter of its own pointing at a different AMI: the image can only come from it.
    parameter = "/aws/service/debian/release/13/latest/amd64"
    seed_image_parameter(parameter, OTHER_IMAGE_ID)
    ec2_world.new_lab(plan=load_plan_with(image={"ssm_parameter": parameter}, root_volume_gib=21))

    create_vm(ec2_world.state("create_vm"), CONTEXT)

    assert ec2_world.ssm.called("get_parameter") == [{"Name": parameter}]
    (call,) = ec2_world.ec2.called("run_instances")
    assert call["ImageId"] == OTHER_IMAGE_ID
    assert call["BlockDeviceMappings"][0]["Ebs"]["VolumeSize"] == 21


def test_given_a_created_instance_when_its_root_volume_is_described_then_it_is_encrypted_sized_and_tagged(
    ec2_world: Ec2World,
):
    ec2_world.new_lab(plan=load_plan_with(root_volume_gib=12))
    vm_id = create_vm(ec2_world.state("create_vm"), CONTEXT)["vm_id"]

    volumes = boto3.client("ec2", region_name=REGION).describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [vm_id]}]
    )["Volumes"]

    (volume,) = volumes
    assert volume["Encrypted"] is True
    assert volume["Size"] == 12
    tags = {t["Key"]: t["Value"] for t in volume.get("Tags", [])}
    assert tags["ads:lab-id"] == ec2_world.lab_id
    assert tags["ads:managed"] == "true"


def test_given_create_vm_already_ran_when_it_is_retried_then_the_same_instance_is_returned(
    ec2_world: Ec2World,
):
    first = created_lab(ec2_world)

    second = create_vm(ec2_world.state("create_vm"), CONTEXT)["vm_id"]

    assert second == first
    assert len(instances_of(ec2_world.lab_id)) == 1
    assert len(ec2_world.ec2.called("run_instances")) == 1


def test_given_no_capacity_for_the_planned_type_when_create_vm_runs_then_the_next_allowed_type_is_used(
    ec2_world: Ec2World,
):
    real = ec2_world.ec2._client.run_instances

    def run_instances(**kwargs: Any) -> Any:
        if kwargs["InstanceType"] == "t3.micro":
            raise client_error("InsufficientInstanceCapacity", "no t3.micro in us-east-1a")
        return real(**kwargs)

    ec2_world.ec2.overrides["run_instances"] = run_instances
    ec2_world.new_lab()

    create_vm(ec2_world.state("create_vm"), CONTEXT)

    types = [c["InstanceType"] for c in ec2_world.ec2.called("run_instances")]
    assert types == ["t3.micro", "t3.small"]
    (instance,) = instances_of(ec2_world.lab_id)
    assert instance["InstanceType"] == "t3.small"
    tokens = [c["ClientToken"] for c in ec2_world.ec2.called("run_instances")]
    assert len(set(tokens)) == 2 and all(len(t) <= 64 for t in tokens)


def test_given_no_capacity_in_any_allowed_type_when_create_vm_runs_then_vm_create_failed_lists_them(
    ec2_world: Ec2World,
):
    ec2_world.ec2.overrides["run_instances"] = lambda **kw: (_ for _ in ()).throw(
        client_error("InsufficientInstanceCapacity")
    )
    ec2_world.new_lab()

    with pytest.raises(Exception) as raised:
        create_vm(ec2_world.state("create_vm"), CONTEXT)

    assert type(raised.value).__name__ == "VmCreateFailed"
    assert "t3.micro, t3.small, t3.medium" in str(raised.value)


def test_given_ec2_still_throttles_after_botocores_retries_when_create_vm_runs_then_provider_throttled_is_raised_for_the_state_machine(
    ec2_world: Ec2World,
):
    # Given: RunInstances answers with the throttle botocore raises once its own attempts
    # are spent (tests/unit/providers/test_throttling.py shows botocore making them).
    ec2_world.ec2.overrides["run_instances"] = lambda **kw: (_ for _ in ()).throw(
        client_error("RequestLimitExceeded", "Request limit exceeded.")
    )
    ec2_world.new_lab()

    with pytest.raises(Exception) as raised:
        create_vm(ec2_world.state("create_vm"), CONTEXT)

    # Then: no retry loop of ADS's own stacks on botocore's; the state machine retries.
    assert type(raised.value).__name__ == "ProviderThrottled"
    assert "RequestLimitExceeded" in str(raised.value)
    assert len(ec2_world.ec2.called("run_instances")) == 1


def test_given_dynamodb_still_throttles_when_a_step_runs_then_provider_throttled_is_raised_not_a_terminal_error(
    ec2_world: Ec2World, monkeypatch: pytest.MonkeyPatch
):
    ec2_world.new_lab()

    def throttled(*args: Any, **kwargs: Any) -> Any:
        raise client_error("ProvisionedThroughputExceededException", operation="GetItem")

    # The table's GetItem, whichever view of the repository (projected or not) reads it.
    monkeypatch.setattr(ec2_world.repository._table, "get_item", throttled)

    with pytest.raises(Exception) as raised:
        wait_running(ec2_world.state("wait_running"), CONTEXT)

    assert type(raised.value).__name__ == "ProviderThrottled"
    assert "wait_running" in str(raised.value)


def test_given_ec2_refuses_the_request_when_create_vm_runs_then_vm_create_failed_carries_the_message_without_retry(
    ec2_world: Ec2World,
):
    ec2_world.ec2.overrides["run_instances"] = lambda **kw: (_ for _ in ()).throw(
        client_error(
            "InvalidParameterValue", "Value (t3.micro) for parameter instanceType is invalid"
        )
    )
    ec2_world.new_lab()

    with pytest.raises(Exception) as raised:
        create_vm(ec2_world.state("create_vm"), CONTEXT)

    assert type(raised.value).__name__ == "VmCreateFailed"
    assert "InvalidParameterValue: Value (t3.micro) for parameter instanceType is invalid" in str(
        raised.value
    )
    assert len(ec2_world.ec2.called("run_instances")) == 1


def test_given_the_image_parameter_is_missing_when_create_vm_runs_then_vm_create_failed_names_it(
    ec2_world: Ec2World,
):
    plan = load_plan_with(image={"ssm_parameter": "/aws/service/debian/release/7/latest/amd64"})
    ec2_world.new_lab(plan=plan)

    with pytest.raises(Exception) as raised:
        create_vm(ec2_world.state("create_vm"), CONTEXT)

    assert type(raised.value).__name__ == "VmCreateFailed"
    assert "/aws/service/debian/release/7/latest/amd64" in str(raised.value)
    assert ec2_world.ec2.called("run_instances") == []


def test_given_the_lab_is_being_destroyed_when_create_vm_runs_then_it_refuses_clearly(
    ec2_world: Ec2World,
):
    ec2_world.new_lab()
    ec2_world.repository.transition(ec2_world.lab_id, LabStatus.DESTROYING)

    with pytest.raises(Exception) as raised:
        create_vm(ec2_world.state("create_vm"), CONTEXT)

    assert type(raised.value).__name__ == "LabBeingDestroyed"
    assert "DESTROYING" in str(raised.value)
    assert ec2_world.ec2.called("run_instances") == []


def load_plan_with(**changes: Any) -> dict[str, Any]:
    from tests.integration.steps.conftest import hello_web_plan

    return {**hello_web_plan(), **changes}


# -- wait_running ------------------------------------------------------------------------


def test_given_the_ssm_agent_is_not_online_when_wait_running_runs_then_vm_not_ready_is_raised(
    ec2_world: Ec2World,
):
    created_lab(ec2_world)
    ec2_world.ssm_online = False

    with pytest.raises(Exception) as raised:
        wait_running(ec2_world.state("wait_running"), CONTEXT)

    assert type(raised.value).__name__ == "VmNotReady"
    assert "SSM" in str(raised.value)


def test_given_a_running_instance_with_ssm_online_when_wait_running_runs_then_ip_and_endpoint_are_recorded(
    ec2_world: Ec2World,
):
    vm_id = created_lab(ec2_world)

    result = wait_running(ec2_world.state("wait_running"), CONTEXT)

    (instance,) = instances_of(ec2_world.lab_id)
    ip = instance["PrivateIpAddress"]
    # init_poll_s: Await Init's safety-net interval (its TimeoutSecondsPath), from the config.
    assert result == {
        "state": "running",
        "private_ip": ip,
        "endpoint": f"http://{ip}:9089",
        "init_poll_s": 300,
    }
    record = ec2_world.repository.require(ec2_world.lab_id)
    assert (record.vm_id, record.private_ip, record.endpoint) == (vm_id, ip, f"http://{ip}:9089")


def test_given_the_instance_is_still_pending_when_wait_running_runs_then_vm_not_ready_is_raised(
    ec2_world: Ec2World,
):
    created_lab(ec2_world)
    real = ec2_world.ec2._client.describe_instances

    def pending(**kwargs: Any) -> Any:
        response = real(**kwargs)
        for reservation in response["Reservations"]:
            for instance in reservation["Instances"]:
                instance["State"] = {"Code": 0, "Name": "pending"}
        return response

    ec2_world.ec2.overrides["describe_instances"] = pending

    with pytest.raises(Exception) as raised:
        wait_running(ec2_world.state("wait_running"), CONTEXT)

    assert type(raised.value).__name__ == "VmNotReady"
    assert "pending" in str(raised.value)


def test_given_the_instance_was_terminated_when_wait_running_runs_then_vm_not_running_is_raised(
    ec2_world: Ec2World,
):
    vm_id = created_lab(ec2_world)
    boto3.client("ec2", region_name=REGION).terminate_instances(InstanceIds=[vm_id])

    with pytest.raises(Exception) as raised:
        wait_running(ec2_world.state("wait_running"), CONTEXT)

    assert type(raised.value).__name__ == "VmNotRunning"


# -- init_vm -----------------------------------------------------------------------------


def initialised_up_to_init(world: Ec2World) -> str:
    vm_id = created_lab(world)
    wait_running(world.state("wait_running"), CONTEXT)
    return vm_id


def invocation(status: str, code: int = -1, stdout: str = "", stderr: str = "") -> Any:
    def get_command_invocation(**kwargs: Any) -> dict[str, Any]:
        return {
            "CommandId": kwargs["CommandId"],
            "InstanceId": kwargs["InstanceId"],
            "Status": status,
            "StatusDetails": status,
            "ResponseCode": code,
            "StandardOutputContent": stdout,
            "StandardErrorContent": stderr,
        }

    return get_command_invocation


def test_given_a_running_vm_when_init_vm_first_runs_then_the_install_script_is_sent_once_and_followed(
    ec2_world: Ec2World,
):
    vm_id = initialised_up_to_init(ec2_world)
    ec2_world.ssm.overrides["get_command_invocation"] = invocation("InProgress")

    with pytest.raises(Exception) as raised:
        init_vm(ec2_world.state("init_vm"), CONTEXT)

    assert type(raised.value).__name__ == "InitInProgress"
    (sent,) = ec2_world.ssm.called("send_command")
    assert sent["InstanceIds"] == [vm_id]
    assert sent["DocumentName"] == "AWS-RunShellScript"
    assert sent["TimeoutSeconds"] <= 3600
    script = sent["Parameters"]["commands"][0]
    assert "install.sh --prefix /opt/ads --lab-id " + ec2_world.lab_id in script
    assert "--service auto" in script
    assert "--source-git https://example.org/labs/hello-web.git --source-ref main" in script
    assert "ads-assets" in script and "ads_agent.zip" in script
    plan_b64 = re.search(r" /opt/ads '?https?://\S+'? (\S+)\n", script).group(1)
    assert json.loads(base64.b64decode(plan_b64))["lab_slug"] == "hello-web"
    record = ec2_world.repository.require(ec2_world.lab_id)
    assert record.status == LabStatus.INITIALIZING
    assert record.init_command_id == raised.value.details["command_id"]

    ec2_world.ssm.overrides["get_command_invocation"] = invocation("Success", 0, "ok")
    result = init_vm(ec2_world.state("init_vm"), CONTEXT)

    assert result == {"command_id": record.init_command_id, "state": "success"}
    assert len(ec2_world.ssm.called("send_command")) == 1


def test_given_the_command_is_not_visible_yet_when_init_vm_polls_then_it_is_still_in_progress(
    ec2_world: Ec2World,
):
    initialised_up_to_init(ec2_world)
    ec2_world.ssm.overrides["get_command_invocation"] = lambda **kw: (_ for _ in ()).throw(
        client_error("InvocationDoesNotExist", operation="GetCommandInvocation")
    )

    with pytest.raises(Exception) as raised:
        init_vm(ec2_world.state("init_vm"), CONTEXT)

    assert type(raised.value).__name__ == "InitInProgress"


def test_given_the_install_script_fails_when_init_vm_polls_then_init_failed_names_the_command_and_its_output(
    ec2_world: Ec2World,
):
    initialised_up_to_init(ec2_world)
    stderr = (
        "ads-install: running the deploy sequence\n"
        "ads-agent: deploy failed in step 'build': command 'make -C ../src' exited 2\n"
        "--- output tail ---\n"
        "make: *** No rule to make target 'all'.  Stop.\n"
        "--- end of output ---\n"
    )
    ec2_world.ssm.overrides["get_command_invocation"] = invocation("Failed", 2, "", stderr)

    with pytest.raises(Exception) as raised:
        init_vm(ec2_world.state("init_vm"), CONTEXT)

    assert type(raised.value).__name__ == "InitFailed"
    message = str(raised.value)
    assert "exited with status 2" in message
    assert "failing command: make -C ../src" in message
    assert "No rule to make target 'all'" in message


def test_given_the_command_timed_out_when_init_vm_polls_then_init_failed_is_raised(
    ec2_world: Ec2World,
):
    initialised_up_to_init(ec2_world)
    ec2_world.ssm.overrides["get_command_invocation"] = invocation("TimedOut", -1, "building...")

    with pytest.raises(Exception) as raised:
        init_vm(ec2_world.state("init_vm"), CONTEXT)

    assert type(raised.value).__name__ == "InitFailed"
    assert "TimedOut" in str(raised.value)


# -- health_check ------------------------------------------------------------------------


def lab_pointing_at(world: Ec2World, port: int) -> None:
    initialised_up_to_init(world)
    world.ssm.overrides["get_command_invocation"] = invocation("Success", 0)
    init_vm(world.state("init_vm"), CONTEXT)
    # The agent of this test listens on loopback, not on the instance's private ip.
    world.repository.transition(
        world.lab_id, LabStatus.INITIALIZING, private_ip="127.0.0.1", agent_port=port
    )


def test_given_a_healthy_agent_when_health_check_runs_then_it_answers_ok(ec2_world, health_server):
    lab_pointing_at(ec2_world, health_server.server_address[1])

    result = health_check(ec2_world.state("health_check"), CONTEXT)

    assert result["healthy"] is True
    assert result["status_code"] == 200
    assert result["agent_version"] == "1.0.0"
    assert ec2_world.repository.require(ec2_world.lab_id).status == LabStatus.HEALTH_CHECKING


def test_given_deploy_labs_check_health_when_the_agent_answers_healthy_then_ready_is_recorded_in_the_step(
    ec2_world, health_server
):
    lab_pointing_at(ec2_world, health_server.server_address[1])

    result = health_check({**ec2_world.state("health_check"), "mark_ready": True}, CONTEXT)

    assert result["healthy"] is True and result["ready_recorded"] is True
    record = ec2_world.repository.require(ec2_world.lab_id)
    assert record.status == LabStatus.READY
    assert [c.status for c in record.status_history][-2:] == [
        LabStatus.HEALTH_CHECKING,
        LabStatus.READY,
    ]
    # A retry of the step (its answer lost) finds READY: no second probe, no second entry.
    health_server.status = 503
    again = health_check({**ec2_world.state("health_check"), "mark_ready": True}, CONTEXT)
    assert again["ready_recorded"] is True
    assert len(ec2_world.repository.require(ec2_world.lab_id).status_history) == len(
        record.status_history
    )


def test_given_deploy_labs_check_health_when_the_agent_is_not_healthy_yet_then_the_lab_stays_health_checking(
    ec2_world, health_server
):
    health_server.status = 503
    lab_pointing_at(ec2_world, health_server.server_address[1])

    with pytest.raises(Exception) as raised:
        health_check({**ec2_world.state("health_check"), "mark_ready": True}, CONTEXT)

    assert type(raised.value).__name__ == "HealthCheckPending"
    assert ec2_world.repository.require(ec2_world.lab_id).status == LabStatus.HEALTH_CHECKING


def test_given_an_unhealthy_agent_when_health_check_runs_then_health_check_pending_gives_the_answer(
    ec2_world, health_server
):
    health_server.status = 503
    lab_pointing_at(ec2_world, health_server.server_address[1])

    with pytest.raises(Exception) as raised:
        health_check(ec2_world.state("health_check"), CONTEXT)

    assert type(raised.value).__name__ == "HealthCheckPending"
    assert "answered 503" in str(raised.value)


def test_given_nothing_listens_when_health_check_runs_then_health_check_pending_says_so(
    ec2_world, health_server
):
    port = health_server.server_address[1]
    health_server.shutdown()
    health_server.server_close()
    lab_pointing_at(ec2_world, port)

    with pytest.raises(Exception) as raised:
        health_check(ec2_world.state("health_check"), CONTEXT)

    assert type(raised.value).__name__ == "HealthCheckPending"
    assert "did not answer" in str(raised.value)


# -- destroy_vm --------------------------------------------------------------------------


def test_given_a_running_instance_when_destroy_vm_runs_then_it_is_terminated_and_confirmed(
    ec2_world: Ec2World,
):
    vm_id = created_lab(ec2_world)

    result = destroy_vm(ec2_world.state("destroy_vm"), CONTEXT)

    assert result["vm_id"] == vm_id
    assert result["state"] in ("shutting-down", "terminated")
    (instance,) = instances_of(ec2_world.lab_id)
    assert instance["State"]["Name"] in ("shutting-down", "terminated")


def test_given_the_vm_was_never_created_when_destroy_vm_runs_then_it_succeeds(ec2_world):
    ec2_world.new_lab()

    result = destroy_vm(ec2_world.state("destroy_vm_after_failure"), CONTEXT)

    assert result == {"vm_id": None, "state": "absent"}
    assert ec2_world.ec2.called("terminate_instances") == []


def test_given_the_instance_is_already_terminated_when_destroy_vm_runs_again_then_it_succeeds(
    ec2_world: Ec2World,
):
    vm_id = created_lab(ec2_world)
    destroy_vm(ec2_world.state("destroy_vm"), CONTEXT)

    result = destroy_vm(ec2_world.state("destroy_vm"), CONTEXT)

    assert result["vm_id"] == vm_id
    assert result["state"] == "terminated"


def test_given_the_record_lost_its_vm_id_when_destroy_vm_runs_then_the_tagged_instance_is_found_and_terminated(
    ec2_world: Ec2World,
):
    ec2_world.new_lab()
    ec2 = boto3.client("ec2", region_name=REGION)
    orphan = ec2.run_instances(
        ImageId=ec2_world.image_id,
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {"ResourceType": "instance", "Tags": [{"Key": "ads:lab-id", "Value": ec2_world.lab_id}]}
        ],
    )["Instances"][0]["InstanceId"]

    destroy_vm(ec2_world.state("destroy_vm"), CONTEXT)

    state = ec2.describe_instances(InstanceIds=[orphan])["Reservations"][0]["Instances"][0]
    assert state["State"]["Name"] in ("shutting-down", "terminated")


def test_given_terminate_is_accepted_but_the_instance_keeps_running_when_destroy_vm_runs_then_destroy_failed_names_it(
    ec2_world: Ec2World,
):
    vm_id = created_lab(ec2_world)
    # EC2 answered, yet nothing changed: only the confirmation can notice.
    ec2_world.ec2.overrides["terminate_instances"] = lambda **kw: {"TerminatingInstances": []}

    with pytest.raises(Exception) as raised:
        destroy_vm(ec2_world.state("destroy_vm"), CONTEXT)

    assert type(raised.value).__name__ == "DestroyFailed"
    assert f"{vm_id} (running)" in str(raised.value)
    boto3.client("ec2", region_name=REGION).terminate_instances(InstanceIds=[vm_id])


def test_given_terminate_is_refused_when_destroy_vm_runs_then_destroy_failed_carries_the_reason(
    ec2_world: Ec2World,
):
    created_lab(ec2_world)
    ec2_world.ec2.overrides["terminate_instances"] = lambda **kw: (_ for _ in ()).throw(
        client_error("UnauthorizedOperation", "not authorized", "TerminateInstances")
    )

    with pytest.raises(Exception) as raised:
        destroy_vm(ec2_world.state("destroy_vm"), CONTEXT)

    assert type(raised.value).__name__ == "DestroyFailed"
    assert "UnauthorizedOperation: not authorized" in str(raised.value)


# -- the bootstrap script SSM runs on the instance ---------------------------------------


def test_given_the_bootstrap_script_when_its_fetch_part_runs_then_the_agent_bundle_and_plan_are_in_place(
    ec2_world: Ec2World, tmp_path
):
    import io
    import subprocess
    import zipfile
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    from ads.providers.base import InitRequest
    from ads.providers.ec2 import Ec2Provider
    from tests.integration.steps.conftest import ROOT, RecordingClient, hello_web_plan

    # The bundle as CDK zips a directory: its contents, no top-level folder.
    served = tmp_path / "served"
    served.mkdir()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for path in (ROOT / "ads_agent").rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                bundle.write(path, path.relative_to(ROOT / "ads_agent").as_posix())
    (served / "bundle.zip").write_bytes(buffer.getvalue())

    class Quiet(SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, *args):
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/bundle.zip"
    s3 = RecordingClient(
        boto3.client("s3", region_name=REGION), generate_presigned_url=lambda *a, **kw: url
    )
    prefix = tmp_path / "opt-ads"
    provider = Ec2Provider(
        ec2_world.config, ec2=ec2_world.ec2, ssm=ec2_world.ssm, s3=s3, vm_prefix=str(prefix)
    )
    plan = hello_web_plan()
    try:
        script = provider.bootstrap_script(ec2_world.lab_id, InitRequest(plan=plan))
        fetch_only = "\n".join(script.splitlines()[:-1])
        assert subprocess.run(["sh", "-n", "-c", script]).returncode == 0

        done = subprocess.run(["sh", "-c", fetch_only], capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
        server.server_close()

    assert done.returncode == 0, done.stderr
    assert (prefix / "bundle" / "ads_agent" / "install.sh").is_file()
    assert (prefix / "bundle" / "ads_agent" / "__main__.py").is_file()
    assert json.loads((prefix / "plan.json").read_text()) == plan
    assert script.splitlines()[-1].startswith(
        f"sh {prefix}/bundle/ads_agent/install.sh --prefix {prefix}"
    )


# -- the SSM ping status (moto lacks DescribeInstanceInformation: botocore's Stubber) -------


@pytest.mark.parametrize(
    ("ping", "online"), [("Online", True), ("ConnectionLost", False), (None, False)]
)
def test_given_the_ssm_ping_status_when_asked_whether_the_agent_is_online_then_only_online_counts(
    ec2_world: Ec2World, ping: str | None, online: bool
):
    from botocore.stub import Stubber

    from ads.providers.ec2 import Ec2Provider

    ssm = boto3.client("ssm", region_name=REGION)
    listing = [{"InstanceId": "i-0abc", "PingStatus": ping}] if ping else []
    with Stubber(ssm) as stub:
        stub.add_response(
            "describe_instance_information",
            {"InstanceInformationList": listing},
            {"Filters": [{"Key": "InstanceIds", "Values": ["i-0abc"]}]},
        )
        provider = Ec2Provider(ec2_world.config, ec2=ec2_world.ec2, ssm=ssm, s3=None)

        assert provider.ssm_online("i-0abc") is online
        stub.assert_no_pending_responses()


def test_given_ssm_refuses_to_describe_the_instance_when_asked_whether_it_is_online_then_it_is_not(
    ec2_world: Ec2World,
):
    from botocore.stub import Stubber

    from ads.providers.ec2 import Ec2Provider

    ssm = boto3.client("ssm", region_name=REGION)
    with Stubber(ssm) as stub:
        stub.add_client_error("describe_instance_information", "InvalidInstanceId", "not managed")
        provider = Ec2Provider(ec2_world.config, ec2=ec2_world.ec2, ssm=ssm, s3=None)

        assert provider.ssm_online("i-0abc") is False


def test_given_ssm_denies_access_when_asked_whether_it_is_online_then_the_step_fails_naming_it(
    ec2_world: Ec2World,
):
    from botocore.stub import Stubber

    from ads.providers.base import VmNotRunning
    from ads.providers.ec2 import Ec2Provider

    ssm = boto3.client("ssm", region_name=REGION)
    with Stubber(ssm) as stub:
        stub.add_client_error(
            "describe_instance_information", "AccessDeniedException", "not authorized"
        )
        provider = Ec2Provider(ec2_world.config, ec2=ec2_world.ec2, ssm=ssm, s3=None)

        with pytest.raises(VmNotRunning, match="AccessDeniedException: not authorized"):
            provider.ssm_online("i-0abc")
