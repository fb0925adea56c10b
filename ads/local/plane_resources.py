"""What the CDK stack creates, created in moto for the local control plane.

The names (table, event bus, role, state machines, the labs' schedule group) and the
creation of the resources behind them: the labs table, the event bus, one Lambda function
per workflow handler (never run by moto: ``ads.local.lambda_dispatch`` answers their
invocations), the schedule group and the state machines from the very same
``statemachine/*.asl.json`` with the same substitutions. ``ads.local.runtime`` starts
and stops the plane around them.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from ads.asl_placeholders import (
    PARTITION_PLACEHOLDER,
    STATE_MACHINE_PLACEHOLDERS,
    fill_placeholders,
)
from ads.local.lambda_dispatch import (
    ACCOUNT_ID,
    LAMBDA_MEMORY_MB,
    WORKFLOW_FUNCTIONS,
    function_name,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
STATEMACHINE_DIR = REPO_ROOT / "statemachine"
TABLE_NAME = "ads-labs"
EVENT_BUS_NAME = "ads-lab-events"
ROLE_NAME = "ads-local-workflow"
DEPLOY_STATE_MACHINE = "DeployLab"
DESTROY_STATE_MACHINE = "DestroyLab"
POWER_STATE_MACHINE = "PowerLab"
ACTION_STATE_MACHINE = "ActionLab"
REDEPLOY_STATE_MACHINE = "RedeployLab"
COHORT_STATE_MACHINE = "DeployCohort"
# Each state machine with its ASL file, in the order they are created.
STATE_MACHINE_FILES = (
    (DEPLOY_STATE_MACHINE, "deploy_lab.asl.json"),
    (DESTROY_STATE_MACHINE, "destroy_lab.asl.json"),
    (POWER_STATE_MACHINE, "power_lab.asl.json"),
    (ACTION_STATE_MACHINE, "action_lab.asl.json"),
    (REDEPLOY_STATE_MACHINE, "redeploy_lab.asl.json"),
    (COHORT_STATE_MACHINE, "deploy_cohort.asl.json"),
)
# The EventBridge Scheduler group of the labs' schedules (ads.lab_schedules) and the role
# its targets run as; fired by ads.local.schedule_timer.
SCHEDULE_GROUP = "ads-labs"
SCHEDULER_ROLE_NAME = "ads-local-scheduler"
# ARNs in the ASL name their partition through ${Partition}; moto answers for "aws".
LOCAL_PARTITION = "aws"


def render_definition(path: Path, substitutions: dict[str, str]) -> str:
    """The ASL text with its ``${Placeholder}`` names replaced, as CDK does at synth
    (``${Partition}`` is the emulation's partition unless ``substitutions`` names one)."""
    values = {PARTITION_PLACEHOLDER: LOCAL_PARTITION, **substitutions}
    return fill_placeholders(path.read_text(), values, source=path.name)


def create_resources(region: str, deploy_state_machine_arn: str) -> None:
    """Create the table, bus, role, functions, schedule group and state machines."""
    import boto3

    from ads.labs_table import create_table

    create_table(boto3.client("dynamodb", region_name=region), TABLE_NAME)
    boto3.client("events", region_name=region).create_event_bus(Name=EVENT_BUS_NAME)
    iam = boto3.client("iam", region_name=region)
    role_arn = iam.create_role(
        RoleName=ROLE_NAME,
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    lambda_client = boto3.client("lambda", region_name=region)
    # The code of a local function is never run by moto: invocations come here.
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("README.txt", "dispatched in-process by ads.local.lambda_dispatch\n")

    def create_function(handler: str) -> str:
        return str(
            lambda_client.create_function(
                FunctionName=function_name(handler),
                Runtime="python3.13",
                Architectures=["arm64"],
                Role=role_arn,
                Handler="handler.handler",
                Code={"ZipFile": package.getvalue()},
                MemorySize=LAMBDA_MEMORY_MB,
                Timeout=60,
            )["FunctionArn"]
        )

    substitutions = {
        placeholder: create_function(handler) for handler, placeholder in WORKFLOW_FUNCTIONS.items()
    }
    create_function("lab_timer")
    boto3.client("scheduler", region_name=region).create_schedule_group(Name=SCHEDULE_GROUP)
    sfn = boto3.client("stepfunctions", region_name=region)
    for name, file in STATE_MACHINE_FILES:
        sfn.create_state_machine(
            name=name,
            definition=render_definition(
                STATEMACHINE_DIR / file,
                # DeployCohort starts DeployLab (created first) for each member.
                {
                    **substitutions,
                    STATE_MACHINE_PLACEHOLDERS["DeployLab"]: deploy_state_machine_arn,
                },
            ),
            roleArn=role_arn,
            type="STANDARD",
        )


def lab_timer_function_arn(region: str) -> str:
    """The ARN the labs' schedules target (the lab_timer function created above)."""
    return f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:" + function_name("lab_timer")
