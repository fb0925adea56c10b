"""The ``${...}`` placeholders of the ASL files: one list of names, one pattern.

CDK fills them through ``definition_substitutions`` (``cdk_app.workflow_construct``) and
the local plane fills them itself before creating its state machines
(``ads.local.runtime``); both read the names and the pattern from here, so an ASL file
that names a placeholder neither knows fails at synth and at ``ads local up`` alike.
"""

from __future__ import annotations

import re

# The placeholder of each step Lambda's ARN, by step (handler) name.
STEP_FUNCTION_PLACEHOLDERS: dict[str, str] = {
    "create_vm": "CreateVmFunctionArn",
    "wait_running": "WaitRunningFunctionArn",
    "init_vm": "InitVmFunctionArn",
    "health_check": "HealthCheckFunctionArn",
    "destroy_vm": "DestroyVmFunctionArn",
    "record_status": "RecordStatusFunctionArn",
    "power_vm": "PowerVmFunctionArn",
    "run_action": "RunActionFunctionArn",
    "redeploy_vm": "RedeployVmFunctionArn",
    "keep_image": "KeepImageFunctionArn",
    "record_cohort": "RecordCohortFunctionArn",
}
# The placeholder of each state machine another one starts (DeployCohort starts DeployLab).
STATE_MACHINE_PLACEHOLDERS: dict[str, str] = {"DeployLab": "DeployLabStateMachineArn"}
# The ASL names the partition of its service ARNs through ${Partition}.
PARTITION_PLACEHOLDER = "Partition"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def placeholders_of(asl_text: str) -> set[str]:
    """The placeholder names an ASL text uses."""
    return set(PLACEHOLDER.findall(asl_text))


def fill_placeholders(asl_text: str, values: dict[str, str], *, source: str = "ASL") -> str:
    """``asl_text`` with every placeholder replaced by its value; a placeholder without
    one is refused, naming it (an unfilled ARN would only fail at the first execution)."""
    missing = sorted(placeholders_of(asl_text) - set(values))
    if missing:
        raise ValueError(f"{source}: no value for placeholder(s) {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], asl_text)
