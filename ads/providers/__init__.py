"""Compute providers: where a lab's VM comes from. Chosen by configuration only."""

from __future__ import annotations

from typing import Any

from ads.config import AdsConfig
from ads.providers.base import ComputeProvider


def get_provider(config: AdsConfig, session: Any = None) -> ComputeProvider:
    """The provider named by ``config.provider`` (boto3 clients built from ``session``)."""
    if config.provider == "local":
        import boto3

        from ads.providers.local import LocalProvider

        s3 = (session or boto3).client("s3", region_name=config.region)
        return LocalProvider(config, s3=s3)
    from ads.providers.ec2 import Ec2Provider

    return Ec2Provider.from_config(config, session)


__all__ = ["ComputeProvider", "get_provider"]
