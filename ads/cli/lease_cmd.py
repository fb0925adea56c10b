"""`ads renew LAB DURATION`: renew a lab's lease, the client side of POST /labs/{id}/lease.

The new lease counts from now and stays within the control plane's maximum (a refusal
names it, exit 1); a lab being destroyed, destroyed or failed is refused (409, exit 4).
"""

from __future__ import annotations

import argparse
import urllib.parse
from typing import Any

from ads.cli import exit_codes, lab_cmds, render
from ads.cli.client import AdsApiClient


def register(subparsers: Any) -> None:
    common, signing = lab_cmds.endpoint_parents()
    renew = subparsers.add_parser(
        "renew",
        parents=[common, signing],
        help="renew a lab's lease",
        description="Renew a lab's lease: it expires DURATION from now (within the maximum).",
    )
    renew.add_argument("lab_id", metavar="LAB_ID")
    renew.add_argument(
        "duration", metavar="DURATION", help="30m, 4h, 2d; 'none' (admins only): never"
    )
    renew.set_defaults(func=renew_command)


def render_renewal(answer: dict[str, Any]) -> str:
    lease = answer.get("lease") or {}
    return (
        f"Lab {answer.get('lab_id')} ({render.text(answer.get('status'))}) now expires "
        f"{render.expiry(lease)}"
    )


def renew_command(args: argparse.Namespace) -> int:
    client = AdsApiClient.from_args(args)
    path = f"/labs/{urllib.parse.quote(args.lab_id, safe='')}/lease"
    answer = client.request("POST", path, body={"duration": args.duration})
    if args.as_json:
        lab_cmds.print_json(answer)
    else:
        print(render_renewal(answer))
    return exit_codes.OK
