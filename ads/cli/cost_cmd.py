"""`ads cost [--owner O] [--since DATE] [--json]`: what labs have cost so far.

It reads ``GET /costs`` page after page (at most :data:`MAX_PAGES`), so the sums per owner
cover every lab the caller may see: their own, or, for an admin, any owner's or all. The
table shows each lab's running and stopped hours and its compute, storage and total USD
at the bundled list prices, then each kept lab image's snapshot storage, and the sums per
owner (labs and images); ``--json`` prints the labs, the images and the sums as one document.
"""

from __future__ import annotations

import argparse
from typing import Any

from ads.cli import exit_codes, lab_cmds, render
from ads.cli.client import AdsApiClient
from ads.cli.exit_codes import CommandError
from ads.cost_report import LabCostLine, sum_per_owner
from ads.image_costs import ImageCostLine

MAX_PAGES = 50
HEADERS = (
    "LAB",
    "NAME",
    "OWNER",
    "HOURS RUNNING",
    "HOURS STOPPED",
    "COMPUTE $",
    "STORAGE $",
    "TOTAL $",
)


def register(subparsers: Any) -> None:
    common, signing = lab_cmds.endpoint_parents()
    parser = subparsers.add_parser(
        "cost",
        parents=[common, signing],
        help="what labs have cost so far, per lab and per owner",
        description="Sum what each lab has cost (running hours x its hourly price, its root "
        "volume's storage while it exists; stopped time costs storage only) per lab and per "
        "owner, with the kept lab images' snapshot storage since they became available, at "
        "the bundled list prices. An owner sees their own labs and images; an admin any "
        "owner's (--owner) or everyone's.",
    )
    parser.add_argument("--owner", metavar="O", help="an owner's ARN (admins only, or your own)")
    parser.add_argument(
        "--since",
        metavar="DATE",
        help="count from this ISO 8601 date or time (e.g. 2026-11-01 or 2026-11-01T08:00:00Z)",
    )
    parser.set_defaults(func=cost_command)


def _money(value: Any) -> str:
    return "-" if value is None else f"{float(value):.2f}"


def _hours(value: Any) -> str:
    return f"{float(value or 0):.1f}"


IMAGE_HEADERS = ("IMAGE", "NAME", "OWNER", "HOURS KEPT", "PER MONTH $", "STORAGE $")


def _image_rows(images: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    return [
        (
            image["image_id"],
            image.get("lab_name") or "",
            image["owner"],
            _hours(image.get("hours_kept")),
            _money(image.get("storage_monthly_cost_usd")),
            _money(image.get("storage_usd")),
        )
        for image in images
    ]


def render_costs(
    labs: list[dict[str, Any]],
    owners: list[dict[str, Any]],
    images: list[dict[str, Any]] | None = None,
) -> str:
    if not labs and not images:
        return "No lab has cost anything in this period."
    rows = [
        (
            lab["lab_id"],
            lab.get("lab_name") or "",
            lab["owner"],
            _hours(lab.get("hours_running")),
            _hours(lab.get("hours_stopped")),
            _money(lab.get("compute_usd")),
            _money(lab.get("storage_usd")),
            _money(lab.get("total_usd")),
        )
        for lab in labs
    ]
    totals = [
        (
            f"total ({owner['labs']} labs)",
            "",
            owner["owner"],
            _hours(owner["hours_running"]),
            _hours(owner["hours_stopped"]),
            _money(owner["compute_usd"]),
            _money(owner["storage_usd"]),
            _money(owner["total_usd"]),
        )
        for owner in owners
    ]
    lines = [render.table(HEADERS, [*rows, *totals])] if labs else []
    if images:
        lines.append(render.table(IMAGE_HEADERS, _image_rows(images)))
        stored = [o for o in owners if o.get("images")]
        lines += [
            f"{o['owner']}: {o['images']} image(s), storage {_money(o['image_storage_usd'])} $, "
            f"total with labs {_money(o['total_usd'])} $"
            for o in stored
        ]
    unpriced = sum(int(owner.get("unpriced_labs") or 0) for owner in owners)
    if unpriced:
        lines.append(f"{unpriced} lab(s) have no price in the bundled table ('-'): not summed")
    lines.append("List prices of the bundled table, not the bill.")
    return "\n".join(lines)


def cost_command(args: argparse.Namespace) -> int:
    client = AdsApiClient.from_args(args)
    query: dict[str, str] = {}
    if args.owner:
        query["owner"] = args.owner
    if args.since:
        query["since"] = args.since
    labs: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []
    answer: dict[str, Any] = {}
    for _ in range(MAX_PAGES):
        answer = client.request("GET", "/costs", query=query)
        labs.extend(answer.get("labs") or [])
        images.extend(answer.get("images") or [])  # the first page carries them
        token = answer.get("next_token")
        if not token:
            break
        query["next_token"] = token
    else:
        raise CommandError(
            f"more than {MAX_PAGES} pages of labs; narrow the question with --since or --owner",
            exit_code=exit_codes.FAILED,
        )
    owners = [
        o.model_dump(mode="json")
        for o in sum_per_owner(
            [LabCostLine.model_validate(lab) for lab in labs],
            [ImageCostLine.model_validate(image) for image in images],
        )
    ]
    if args.as_json:
        document = {
            "as_of": answer.get("as_of"),
            "since": answer.get("since"),
            "labs": labs,
            "images": images,
            "owners": owners,
        }
        lab_cmds.print_json(document)
    else:
        print(render_costs(labs, owners, images))
    return exit_codes.OK
