"""The ASL files themselves: valid for moto's Step Functions parser (the interpreter the
workflow tier runs) and shaped the way the workflow promises."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from ads.config import MAX_BOOT_DEADLINE_S, MAX_INIT_DEADLINE_S, MAX_LAUNCH_GRACE_S
from ads.local.runtime import STATEMACHINE_DIR, WORKFLOW_FUNCTIONS, render_definition

from .conftest import DEPLOY_PATH

LAMBDA_SERVICE_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
WAIT_FOR_TOKEN = "arn:${Partition}:states:::lambda:invoke.waitForTaskToken"
FILES = [
    "deploy_lab.asl.json",
    "destroy_lab.asl.json",
    "power_lab.asl.json",
    "action_lab.asl.json",
    "redeploy_lab.asl.json",
    "deploy_cohort.asl.json",
]


def _definition(name: str) -> dict[str, Any]:
    return json.loads((STATEMACHINE_DIR / name).read_text())


def _rendered(name: str) -> str:
    arns = {
        placeholder: f"arn:aws:lambda:us-east-1:123456789012:function:ads-{handler}"
        for handler, placeholder in WORKFLOW_FUNCTIONS.items()
    }
    arns["DeployLabStateMachineArn"] = (
        "arn:aws:states:us-east-1:123456789012:stateMachine:DeployLab"
    )
    return render_definition(STATEMACHINE_DIR / name, arns)


def _all_states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state, those inside Map states' item processors too (names are unique)."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in definition["States"].items():
        found[name] = state
        if state["Type"] == "Map":
            found.update(_all_states(state["ItemProcessor"]))
    return found


def _tasks(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in definition["States"].items() if s["Type"] == "Task"}


def _retried(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {error: retrier for retrier in state["Retry"] for error in retrier["ErrorEquals"]}


@pytest.mark.parametrize("name", FILES)
def test_given_asl_file_when_parsed_by_the_step_functions_interpreter_then_it_is_accepted(
    name: str,
) -> None:
    program, _ = AmazonStateLanguageParser.parse(_rendered(name))

    assert program.start_at.start_at_name == _definition(name)["StartAt"]


@pytest.mark.parametrize("name", FILES)
def test_given_asl_file_when_rendered_then_every_placeholder_is_a_known_function(name: str) -> None:
    text = (STATEMACHINE_DIR / name).read_text()
    used = {p for p in WORKFLOW_FUNCTIONS.values() if "${" + p + "}" in text}

    assert "${" not in _rendered(name)
    assert used  # the file names its functions through placeholders, not ARNs


@pytest.mark.parametrize("name", FILES)
def test_given_any_task_when_it_fails_then_it_has_a_deadline_lambda_retries_and_a_catch_all(
    name: str,
) -> None:
    for state_name, state in _tasks(_definition(name)).items():
        if state["Resource"].endswith(".waitForTaskToken"):
            # A wait for an event: its deadline is the safety-net interval of the
            # configuration (see the waits' test below), and a timeout looks again.
            assert state["Resource"] == WAIT_FOR_TOKEN, state_name
            assert state["TimeoutSecondsPath"].startswith("$."), state_name
            assert "States.Timeout" in _retried(state), state_name
        else:
            assert state["Resource"] == "arn:${Partition}:states:::lambda:invoke", state_name
            assert 0 < state["TimeoutSeconds"] <= 900, state_name
        retried = _retried(state)
        assert set(retried) >= LAMBDA_SERVICE_ERRORS, state_name
        assert "ProviderThrottled" in retried, state_name
        assert [c["ErrorEquals"] for c in state["Catch"]] == [["States.ALL"]], state_name


def test_given_deploy_lab_when_read_then_its_steps_are_the_business_actions_in_order() -> None:
    states = _definition("deploy_lab.asl.json")["States"]
    path, name = [], _definition("deploy_lab.asl.json")["StartAt"]
    # A Choice on the way (Keep Lab Image?) takes its Default: no image asked for.
    while states[name]["Type"] in ("Task", "Choice"):
        if states[name]["Type"] == "Task":
            path.append(name)
        name = states[name].get("Next") or states[name]["Default"]

    assert path == DEPLOY_PATH
    assert states[name]["Type"] == "Succeed"


def _retry_budget_s(retrier: dict[str, Any]) -> float:
    """How long a retrier keeps retrying one error (its waits, without jitter)."""
    interval, total = float(retrier["IntervalSeconds"]), 0.0
    for _ in range(retrier["MaxAttempts"]):
        total += min(interval, retrier.get("MaxDelaySeconds", interval))
        interval *= retrier["BackoffRate"]
    return total


@pytest.mark.parametrize(
    ("state_name", "not_ready", "least_wait_s", "most_wait_s"),
    [
        # The step fails at ADS_BOOT_DEADLINE_S, not when a count runs out: the retries
        # outlast the largest deadline (and the launch grace), and poll at most 30 s apart.
        ("Wait Until Running", "VmNotReady", max(MAX_BOOT_DEADLINE_S, MAX_LAUNCH_GRACE_S), None),
        # An agent that answers late; the install's end normally means it answers at once.
        ("Check Health", "HealthCheckPending", 4 * 60, 8 * 60),
    ],
)
def test_given_a_waiting_step_when_its_not_ready_error_repeats_then_retry_waits_a_real_vm_length(
    state_name: str, not_ready: str, least_wait_s: float, most_wait_s: float | None
) -> None:
    retrier = _retried(_definition("deploy_lab.asl.json")["States"][state_name])[not_ready]

    assert least_wait_s <= _retry_budget_s(retrier)
    assert most_wait_s is None or _retry_budget_s(retrier) <= most_wait_s
    assert retrier.get("MaxDelaySeconds", retrier["IntervalSeconds"]) <= 30


def test_given_await_init_when_no_event_comes_then_its_safety_net_polls_until_the_largest_deadline() -> (
    None
):
    states = _definition("deploy_lab.asl.json")["States"]
    wait = states["Await Init"]
    timed_out = _retried(wait)["States.Timeout"]

    # Each attempt lasts init_poll_s (at least 1 s), the value Wait Until Running answers.
    assert wait["TimeoutSecondsPath"] == "$.running.result.init_poll_s"
    assert states["Wait Until Running"]["ResultPath"] == "$.running"
    # No attempt count cuts an init the configuration still allows.
    assert timed_out["MaxAttempts"] * 1 >= MAX_INIT_DEADLINE_S
    assert timed_out["BackoffRate"] == 1
    # The token and nothing else tells the Lambda to wait; Initialise VM only sends.
    assert wait["Parameters"]["Payload"]["task_token.$"] == "$$.Task.Token"
    assert states["Initialise VM"]["Parameters"]["Payload"]["send_only"] is True
    assert states["Initialise VM"]["Next"] == "Await Init"
    assert "InitInProgress" not in _retried(states["Initialise VM"])


@pytest.mark.parametrize("name", ["deploy_lab.asl.json", "destroy_lab.asl.json"])
def test_given_a_vm_shutting_down_or_not_listed_yet_when_destroyed_then_retries_outlast_the_grace_and_the_shutdown(
    name: str,
) -> None:
    retrier = _retried(_definition(name)["States"]["Destroy VM"])["DestroyInProgress"]

    # The launch grace, then a few minutes for shutting-down to become terminated.
    assert _retry_budget_s(retrier) >= MAX_LAUNCH_GRACE_S + 5 * 60


@pytest.mark.parametrize("name", FILES)
def test_given_asl_file_when_read_then_no_arn_names_a_partition_literally(name: str) -> None:
    text = (STATEMACHINE_DIR / name).read_text()

    assert "arn:aws:" not in text
    assert "arn:${Partition}:" in text


@pytest.mark.parametrize(
    ("name", "entry", "target"),
    [
        ("deploy_lab.asl.json", "$.error", "Destroy VM"),
        ("deploy_lab.asl.json", "$.destroy_error", "Destroy VM Failed Too"),
        ("destroy_lab.asl.json", "$.error", "Mark Destroy Failed"),
    ],
)
def test_given_a_caught_error_without_cause_when_noted_then_it_gets_one_before_any_format_reads_it(
    name: str, entry: str, target: str
) -> None:
    states = _definition(name)["States"]
    cause = f"{entry}.Cause"
    guards = [
        (n, s)
        for n, s in states.items()
        if s["Type"] == "Choice" and s["Choices"][0].get("Not", {}).get("Variable") == cause
    ]
    ((guard_name, guard),) = guards
    filler_name = guard["Choices"][0]["Next"]
    # In order: absent first, so null and empty are only tested on a Cause that exists.
    assert guard["Choices"] == [
        {"Not": {"Variable": cause, "IsPresent": True}, "Next": filler_name},
        {"Variable": cause, "IsNull": True, "Next": filler_name},
        {"Variable": cause, "StringEquals": "", "Next": filler_name},
    ]
    assert guard["Default"] == target
    filler = states[filler_name]
    assert filler["Type"] == "Pass" and filler["Next"] == target
    assert filler["ResultPath"] == entry
    assert filler["Parameters"] == {"Error.$": f"{entry}.Error", "Cause": "no cause given"}
    # Every state that hands the caught error on goes through the guard.
    for state_name, state in states.items():
        catches = [c for c in state.get("Catch", []) if c["ResultPath"] == entry]
        for catch in catches:
            noted = states[catch["Next"]]
            next_name = noted.get("Next") if noted["Type"] == "Pass" else catch["Next"]
            assert next_name == guard_name, state_name


def test_given_a_deploy_step_fails_when_caught_then_it_goes_through_destroy_and_mark_failed_to_fail() -> (
    None
):
    states = _definition("deploy_lab.asl.json")["States"]
    steps = ["Create VM", "Wait Until Running", "Initialise VM", "Check Health", "Mark Ready"]
    for state_name, step in [(s, s) for s in steps] + [("Await Init", "Initialise VM")]:
        noted = states[states[state_name]["Catch"][0]["Next"]]
        assert noted["Type"] == "Pass"
        assert noted["Parameters"]["failed_step"] == step
        # Through the guard that gives a Cause-less error one.
        assert states[noted["Next"]]["Default"] == "Destroy VM"
    assert states["Destroy VM"]["Next"] == "Mark Failed"
    destroy_guard = states[states["Destroy VM"]["Catch"][0]["Next"]]
    assert states[destroy_guard["Default"]]["Next"] == "Mark Failed"
    assert states["Mark Failed"]["Parameters"]["Payload"]["status"] == "FAILED"
    _assert_ends_with_the_recorded_cause(states, "Mark Failed", "LabDeploymentFailed")


def _assert_ends_with_the_recorded_cause(states: dict[str, Any], mark: str, error: str) -> None:
    """``mark`` leads to a Fail state showing the cause it answered when it answered one,
    and to a Fail state built from the caught error when it did not (or failed itself)."""
    choice = states[states[mark]["Next"]]
    assert choice["Type"] == "Choice"
    (rule,) = choice["Choices"]
    assert rule == {**rule, "Variable": "$.marked.result.cause", "IsPresent": True}
    recorded, unrecorded = states[rule["Next"]], states[choice["Default"]]
    assert states[mark]["Catch"][0]["Next"] == choice["Default"]
    assert recorded == {**recorded, "Type": "Fail", "Error": error}
    assert recorded["CausePath"] == "$.marked.result.cause"
    assert unrecorded == {**unrecorded, "Type": "Fail", "Error": error}
    # Reached when Mark Failed failed: $.marked may be absent, so nothing may read it.
    assert "$.marked" not in unrecorded["CausePath"]


def test_given_destroy_lab_fails_when_caught_then_the_lab_is_kept_destroying_with_the_cause() -> (
    None
):
    states = _definition("destroy_lab.asl.json")["States"]
    noted = states[states["Destroy VM"]["Catch"][0]["Next"]]
    mark_name = states[noted["Next"]]["Default"]
    mark = states[mark_name]

    assert noted["Parameters"]["failed_step"] == "Destroy VM"
    assert mark["Parameters"]["Payload"]["status"] == "DESTROYING"
    _assert_ends_with_the_recorded_cause(states, mark_name, "LabDestroyFailed")
    assert states["Mark Destroyed"]["Parameters"]["Payload"]["status"] == "DESTROYED"


def test_given_state_machine_files_when_listed_then_they_are_the_known_workflows() -> None:
    assert sorted(p.name for p in Path(STATEMACHINE_DIR).glob("*.asl.json")) == sorted(FILES)


# -- DeployLab's cluster path ----------------------------------------------------------------


def _cluster_states() -> dict[str, dict[str, Any]]:
    return _all_states(_definition("deploy_lab.asl.json"))


def test_given_the_cluster_paths_tasks_inside_maps_when_they_fail_then_each_has_a_deadline_lambda_retries_and_a_catch_all() -> (
    None
):
    top = _definition("deploy_lab.asl.json")["States"]
    nested = {n: s for n, s in _cluster_states().items() if n not in top and s["Type"] == "Task"}

    assert len(nested) == 5
    for state_name, state in nested.items():
        if state["Resource"].endswith(".waitForTaskToken"):
            assert state["Resource"] == WAIT_FOR_TOKEN, state_name
            assert "States.Timeout" in _retried(state), state_name
        else:
            assert state["Resource"] == "arn:${Partition}:states:::lambda:invoke", state_name
            assert 0 < state["TimeoutSeconds"] <= 900, state_name
        retried = _retried(state)
        assert set(retried) >= LAMBDA_SERVICE_ERRORS, state_name
        assert "ProviderThrottled" in retried, state_name
        assert [c["ErrorEquals"] for c in state["Catch"]] == [["States.ALL"]], state_name


def test_given_deploy_lab_when_started_then_a_choice_sends_only_labs_with_a_cluster_to_the_cluster_path() -> (
    None
):
    definition = _definition("deploy_lab.asl.json")
    choice = definition["States"][definition["StartAt"]]

    assert choice["Type"] == "Choice"
    assert choice["Choices"] == [{"Variable": "$.cluster", "IsPresent": True, "Next": "Create VMs"}]
    # A lab of one VM: exactly today's first step.
    assert choice["Default"] == DEPLOY_PATH[0]


def test_given_the_cluster_path_when_read_then_vms_are_created_five_at_a_time_and_bootstrapped_wave_by_wave() -> (
    None
):
    states = _definition("deploy_lab.asl.json")["States"]
    create, waves = states["Create VMs"], states["Bootstrap Waves"]
    wave = waves["ItemProcessor"]["States"]["Bootstrap Wave"]

    assert (create["ItemsPath"], create["MaxConcurrency"]) == ("$.cluster.vms", 5)
    # Keep Lab Image? finds keep_image where Create VM puts it: no image of a cluster.
    assert create["ResultPath"] == "$.create"
    assert create["ResultSelector"]["result"]["keep_image"] is False
    assert create["Next"] == "Share Cluster Facts"
    assert states["Share Cluster Facts"]["Parameters"]["Payload"]["share_facts"] is True
    assert states["Share Cluster Facts"]["Next"] == "Bootstrap Waves"
    assert (waves["ItemsPath"], waves["MaxConcurrency"]) == ("$.cluster.waves", 1)
    assert wave["Type"] == "Map" and wave["ItemsPath"] == "$.vms"
    assert waves["Next"] == "Check Health"
    # Each item carries the lab id and the execution id as the single-VM states pass them.
    for selector in (create["ItemSelector"], wave["ItemSelector"]):
        assert selector["lab_id.$"] == "$.lab_id"
        assert selector["vm_name.$"] == "$$.Map.Item.Value.vm_name"
        assert selector["execution_id.$"] in ("$$.Execution.Id", "$.execution_id")
    assert waves["ItemSelector"]["execution_id.$"] == "$$.Execution.Id"
    inner = create["ItemProcessor"]
    assert inner["StartAt"] == "Create Cluster VM"
    assert inner["States"]["Create Cluster VM"]["Next"] == "Wait Until Cluster VM Running"
    steps = wave["ItemProcessor"]
    assert steps["StartAt"] == "Initialise Cluster VM"
    assert steps["States"]["Initialise Cluster VM"]["Next"] == "Await Cluster VM Init"
    assert steps["States"]["Await Cluster VM Init"]["Next"] == "Check Cluster VM Health"


@pytest.mark.parametrize(
    ("cluster_state", "single_state"),
    [
        ("Create Cluster VM", "Create VM"),
        ("Wait Until Cluster VM Running", "Wait Until Running"),
        ("Initialise Cluster VM", "Initialise VM"),
        ("Await Cluster VM Init", "Await Init"),
        ("Check Cluster VM Health", "Check Health"),
    ],
)
def test_given_a_vms_step_when_read_then_it_calls_the_same_function_with_the_same_retries_and_deadline_as_the_single_vms(
    cluster_state: str, single_state: str
) -> None:
    states = _cluster_states()
    cluster, single = states[cluster_state], states[single_state]

    assert cluster["Resource"] == single["Resource"]
    assert cluster["Retry"] == single["Retry"]
    assert cluster.get("TimeoutSeconds") == single.get("TimeoutSeconds")
    cluster_payload = cluster["Parameters"]["Payload"]
    assert cluster["Parameters"]["FunctionName"] == single["Parameters"]["FunctionName"]
    assert cluster_payload["vm_name.$"] == "$.vm_name"
    assert {
        k: v for k, v in cluster_payload.items() if k not in ("vm_name.$", "execution_id.$")
    } == {
        k: v
        for k, v in single["Parameters"]["Payload"].items()
        # DeployLab's Check Health records READY of a lab of one VM; a VM's check never.
        if k not in ("execution_id.$", "mark_ready")
    }
    if single_state == "Await Init":
        assert cluster["TimeoutSecondsPath"] == "$.init_poll_s"
        assert (
            _definition("deploy_lab.asl.json")["States"]["Bootstrap Waves"]["ItemSelector"][
                "init_poll_s.$"
            ]
            == "$.create.result.init_poll_s"
        )


@pytest.mark.parametrize(
    ("step", "named"),
    [
        ("Create Cluster VM", "Create VM"),
        ("Wait Until Cluster VM Running", "Wait Until Running"),
        ("Initialise Cluster VM", "Initialise VM"),
        ("Await Cluster VM Init", "Initialise VM"),
        ("Check Cluster VM Health", "Check VM Health"),
    ],
)
def test_given_a_vms_step_fails_when_caught_then_its_map_fails_naming_the_vm_and_the_failure_path_destroys_every_vm(
    step: str, named: str
) -> None:
    states = _cluster_states()
    noted = states[states[step]["Catch"][0]["Next"]]
    fail = states[noted["Next"]]

    assert states[step]["Catch"][0]["ResultPath"] == "$.error"
    assert noted["Parameters"] == {
        "failed_step.$": f"States.Format('{named} ({{}})', $.vm_name)",
        "error.$": "$.error",
    }
    assert fail == {**fail, "Type": "Fail", "ErrorPath": "$.failed_step"}
    assert fail["CausePath"] == "States.JsonToString($.error)"
    top = _definition("deploy_lab.asl.json")["States"]
    for map_state in ("Create VMs", "Bootstrap Waves"):
        (catch,) = top[map_state]["Catch"]
        assert catch == {
            "ErrorEquals": ["States.ALL"],
            "ResultPath": "$.error",
            "Next": "Cluster Step Failed",
        }
    restored = top["Cluster Step Failed"]
    assert restored["Parameters"] == {
        "lab_id.$": "$.lab_id",
        "failed_step.$": "$.error.Error",
        "error.$": "States.StringToJson($.error.Cause)",
    }
    assert top[restored["Next"]]["Default"] == "Destroy VM"
    assert top["Share Cluster Facts Failed"]["Parameters"]["failed_step"] == "Share Cluster Facts"
