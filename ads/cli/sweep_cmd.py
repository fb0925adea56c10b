"""`ads sweep [--apply]`: the sweep on demand, an admin operation.

Without ``--apply`` it prints what the sweep would do (``GET /sweep``: nothing changes);
with it the sweep acts (``POST /sweep``) and each finding shows its outcome. Against a
local control plane the command signs with the plane's admin credential and acts as its
admin principal (:data:`ads.local.api_auth.LOCAL_ADMIN_PRINCIPAL`); on AWS the caller must
be one of ``ADS_ADMIN_PRINCIPALS`` (anyone else: 403, exit 5). Exit 1 when a finding
could not be acted on.
"""

from __future__ import annotations

import os
from typing import Any

from ads.cli import exit_codes, lab_cmds, render
from ads.cli.client import AdsApiClient
from ads.cli.endpoint import is_local_endpoint, local_api_credentials

PRINCIPAL_HEADER = "X-Ads-Principal"


def register(subparsers: Any) -> None:
    common, signing = lab_cmds.endpoint_parents()
    parser = subparsers.add_parser(
        "sweep",
        parents=[common, signing],
        help="find (and with --apply remove) orphaned VMs and stuck labs (admins)",
        description="Report what the sweep would do: VMs and per-lab resources whose lab is "
        "gone, labs stuck in a transitional status whose execution ended. With --apply, "
        "terminate and settle them.",
    )
    parser.add_argument(
        "--apply", action="store_true", help="act on the findings (default: report only)"
    )
    parser.set_defaults(func=sweep_command)


def _admin_client(args: Any) -> tuple[AdsApiClient, dict[str, str]]:
    client = AdsApiClient.from_args(args)
    if not is_local_endpoint(client.settings.endpoint):
        return client, {}
    from ads.local.api_auth import LOCAL_ADMIN_PRINCIPAL

    admin = local_api_credentials(os.environ, admin=True)
    if admin is None:
        return client, {}
    return AdsApiClient(client.settings, admin), {PRINCIPAL_HEADER: LOCAL_ADMIN_PRINCIPAL}


def render_report(report: dict[str, Any]) -> str:
    findings = report.get("findings") or []
    verb = "did" if report.get("applied") else "would do"
    lines = [f"Sweep at {report.get('started_at')}: {len(findings)} finding(s); what it {verb}:"]
    if findings:
        rows = [
            (
                f["kind"],
                f["resource"],
                f.get("lab_id") or "-",
                f["reason"],
                f["action"],
                f["outcome"] + (f": {f['error']}" if f.get("error") else ""),
            )
            for f in findings
        ]
        headers = ("KIND", "RESOURCE", "LAB", "REASON", "ACTION", "OUTCOME")
        lines.append(render.table(headers, rows))
    lines.append(
        f"kept: {report.get('kept', 0)}; younger than the grace period: "
        f"{', '.join(report.get('kept_young') or []) or 'none'}"
    )
    lines += [f"error: {e}" for e in report.get("errors") or []]
    if not report.get("applied") and findings:
        lines.append("nothing was changed; run `ads sweep --apply` to act")
    return "\n".join(lines)


def sweep_command(args: Any) -> int:
    client, headers = _admin_client(args)
    method = "POST" if args.apply else "GET"
    report = client.request(method, "/sweep", headers=headers)
    if args.as_json:
        lab_cmds.print_json(report)
    else:
        print(render_report(report))
    failed = report.get("errors") or any(
        f.get("outcome") == "error" for f in report.get("findings") or []
    )
    return exit_codes.FAILED if failed else exit_codes.OK
