"""`ads images [--json]` and `ads images rm ID`: the caller's lab images (an admin's: all),
the client side of GET /images and DELETE /images/{image_id}.

An image is kept after the first healthy deploy of a lab that asked for one (`ads deploy
--reuse-image`, or the labspec's ``lab.build_requirements.platform.reuse_image``); removing
it deletes its storage too (on EC2 the AMI and its EBS snapshots). Exit 3 for an image
that does not exist (or is not the caller's), 4 for one still being made.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from ads.cli import exit_codes, lab_cmds, render
from ads.cli.client import AdsApiClient


def register(subparsers: Any) -> None:
    common, signing = lab_cmds.endpoint_parents()
    parser = subparsers.add_parser(
        "images",
        parents=[common, signing],
        help="list lab images (and remove one with `ads images rm ID`)",
        description="List the lab images you own (an admin: every one): their state, the lab "
        "they were taken from, the revision and what their storage costs a month.",
    )
    parser.set_defaults(func=list_command)
    actions = parser.add_subparsers(dest="images_action", metavar="ACTION")
    remove = actions.add_parser(
        "rm",
        parents=[common, signing],
        help="remove a lab image with its storage",
        description="Remove a lab image: on EC2 deregister its AMI and delete its EBS "
        "snapshots; locally delete its snapshot. Labs started from it are not touched.",
    )
    remove.add_argument("image_id", metavar="ID", help="an image id listed by `ads images`")
    remove.set_defaults(func=remove_command)


def render_images(answer: dict[str, Any]) -> str:
    images = answer.get("images") or []
    if not images:
        return "no lab images (deploy with --reuse-image to keep one)"
    rows = [
        (
            image["image_id"],
            image["image_state"],
            image.get("lab_name") or "-",
            image["source_lab_id"],
            (image.get("revision") or "-")[:12],
            render.format_time(image["created_at"]),
            str(len(image.get("used_by") or [])),
            _cost(image.get("storage_monthly_cost_usd")),
        )
        for image in images
    ]
    headers = ("IMAGE", "STATE", "LAB NAME", "TAKEN FROM", "REVISION", "CREATED", "USED", "$/MONTH")
    lines = [render.table(headers, rows)]
    lines += [
        f"{image['image_id']}: {image['failure']}" for image in images if image.get("failure")
    ]
    lines.append(f"storage: {_cost(answer.get('storage_monthly_cost_usd'))} a month")
    return "\n".join(lines)


def _cost(value: Any) -> str:
    return "-" if value is None else f"${float(value):.2f}"


def list_command(args: Any) -> int:
    answer = AdsApiClient.from_args(args).request("GET", "/images")
    if args.as_json:
        lab_cmds.print_json(answer)
    else:
        print(render_images(answer))
    return exit_codes.OK


def remove_command(args: Any) -> int:
    path = f"/images/{urllib.parse.quote(args.image_id, safe='')}"
    answer = AdsApiClient.from_args(args).request("DELETE", path)
    if args.as_json:
        lab_cmds.print_json(answer)
    else:
        snapshots = ", ".join(answer.get("snapshot_ids") or []) or "none"
        print(
            f"removed {answer['image_id']} ({answer.get('provider_image_id') or '-'}; snapshots: {snapshots})"
        )
    return exit_codes.OK
