"""Which Lambdas trace with the X-Ray SDK, and why the others do not.

Every ADS Lambda has active tracing (CDK ``compute_construct``): Lambda itself records each
invocation's segment, and Step Functions (tracing enabled) links the workflow's task
invocations into one trace, with no SDK inside the function. The X-Ray SDK (Powertools
``Tracer``) adds subsegments for each AWS call and annotations, and costs more at cold
start than all the rest of a step handler's imports. It is worth that in the REST API,
whose latency a person waits on. The workflow steps are waited on by a state machine and
the CI trigger by no one (EventBridge invokes it asynchronously); their AWS calls are few,
the CI trigger's are the API's own request path, and what they did is in the lab record,
the execution history and the logs (with the lab and execution ids).

Importing this module needs neither Powertools nor AWS (the CDK app reads it at synth).
"""

from __future__ import annotations

SDK_TRACED_FUNCTIONS: tuple[str, ...] = ("api",)
