"""Subcommands (not yet registered)."""


def register(subparsers) -> None:  # pragma: no cover - replaced by the real module
    return None
