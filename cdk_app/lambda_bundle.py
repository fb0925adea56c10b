"""Stage the Lambda code (our own packages only) into a directory for `Code.from_asset`.

CDK's Python bundling needs Docker; our code needs none of it: third-party packages
come from the Powertools layer and boto3 from the runtime. The bundle holds the
`functions/` handlers and the `ads/` package without the parts that only the CLI and
the local control plane use.
"""

from __future__ import annotations

import shutil
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ads", "functions")
# Paths relative to the project root that never run inside a Lambda.
EXCLUDED = frozenset({Path("ads/cli"), Path("ads/local")})
IGNORED_NAMES = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".pytest_cache")


def stage_lambda_bundle(target: Path, project_root: Path = PROJECT_ROOT) -> Path:
    """Copy the Lambda packages into ``target`` (replacing what was there); return it."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for package in PACKAGES:
        source = project_root / package
        if not source.is_dir():
            raise FileNotFoundError(f"Lambda bundle: package directory {source} is missing")

        def ignore(directory: str, names: list[str]) -> set[str]:
            ignored = set(IGNORED_NAMES(directory, names))
            relative = Path(directory).resolve().relative_to(project_root.resolve())
            ignored.update(name for name in names if relative / name in EXCLUDED)
            return ignored

        shutil.copytree(source, target / package, ignore=ignore)
    return target
