"""moto's Step Functions ``states:startExecution`` integration, given AWS's field names.

The ASL names a task's parameters as AWS documents them (``StateMachineArn``, ``Name``,
``Input``) and reads the answer the same way (``ExecutionArn``, ``Status``, ``Output``).
moto's interpreter (ported from LocalStack, whose translation to and from boto3's names
it left out) hands the parameters to boto3 as written, which botocore refuses, and
answers with boto3's names. DeployCohort starts DeployLab through this integration
(``.sync:2``), so the local plane translates both ways, as AWS does; nothing else of the
integration changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ads.local.patching import patch, undo_all


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _upper_first(name: str) -> str:
    return name[:1].upper() + name[1:]


def install() -> Callable[[], None]:
    """Patch the integration; returns the undo action."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_sfn as sfn_service,
    )

    service = sfn_service.StateTaskServiceSfn
    original_parameters = service._normalise_parameters
    original_response = service._normalise_response

    def normalise_parameters(
        self: Any,
        parameters: dict[str, Any],
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        original_parameters(self, parameters, boto_service_name, service_action_name)
        for key in list(parameters):
            parameters[_lower_first(key)] = parameters.pop(key)

    def normalise_response(
        self: Any,
        response: Any,
        boto_service_name: str | None = None,
        service_action_name: str | None = None,
    ) -> None:
        original_response(self, response, boto_service_name, service_action_name)
        if isinstance(response, dict):
            for key in list(response):
                response[_upper_first(key)] = response.pop(key)

    return undo_all(
        [
            patch(service, "_normalise_parameters", normalise_parameters),
            patch(service, "_normalise_response", normalise_response),
        ]
    )
