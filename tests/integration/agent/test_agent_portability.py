"""What lets the agent run on any lab image: standard library only, Python 3.9 syntax,
a POSIX install script, and an OpenAPI document that matches the served routes."""

from __future__ import annotations

import ast
import glob
import os
import re
import shutil
import subprocess
import sys

import pytest

from ads_agent.server import EXECUTE_PREFIX, ROUTES
from tests.integration.agent.conftest import AGENT_PACKAGE, INSTALL_SH
from tests.integration.agent.openapi_check import response_problems

MODULES = sorted(AGENT_PACKAGE.glob("*.py"))


def _imported_roots(tree: ast.AST) -> set[str]:
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_given_the_agent_package_when_its_imports_are_scanned_then_only_the_standard_library_is_used():
    assert len(MODULES) >= 8
    foreign = {}
    for module in MODULES:
        roots = _imported_roots(ast.parse(module.read_text()))
        outside = {r for r in roots if r not in sys.stdlib_module_names and r != "ads_agent"}
        if outside:
            foreign[module.name] = sorted(outside)
    assert foreign == {}


def test_given_a_module_importing_a_third_party_package_when_scanned_then_the_check_catches_it():
    roots = _imported_roots(
        ast.parse("import os\nfrom pydantic import BaseModel\nimport boto3.session\n")
    )
    assert {r for r in roots if r not in sys.stdlib_module_names} == {"pydantic", "boto3"}


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_given_an_agent_module_when_parsed_as_python_3_9_then_it_is_valid_and_defers_annotations(
    module,
):
    source = module.read_text()
    tree = ast.parse(source, feature_version=(3, 9))
    assert not any(type(node).__name__ == "Match" for node in ast.walk(tree))
    futures = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "__future__"]
    assert any(alias.name == "annotations" for n in futures for alias in n.names), module.name


def test_given_a_match_statement_when_parsed_as_python_3_9_then_it_is_rejected():
    with pytest.raises(SyntaxError):
        ast.parse("match x:\n    case 1:\n        pass\n", feature_version=(3, 9))


@pytest.mark.parametrize("shell", ["sh", "dash", "bash"])
def test_given_the_install_script_when_checked_by_each_shell_then_its_syntax_is_accepted(shell):
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    result = subprocess.run([shell, "-n", str(INSTALL_SH)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_given_the_openapi_document_when_compared_with_the_server_then_every_route_is_documented(
    openapi_document,
):
    assert openapi_document["openapi"].startswith("3.")
    documented = {p for p in openapi_document["paths"] if not p.startswith(EXECUTE_PREFIX)}
    assert documented == set(ROUTES)


def test_given_the_openapi_document_when_its_refs_are_followed_then_each_names_a_schema(
    openapi_document,
):
    schemas = openapi_document["components"]["schemas"]

    def refs(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for item in node:
                yield from refs(item)

    found = list(refs(openapi_document))
    assert found
    for ref in found:
        assert ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] in schemas, ref


def test_given_the_systemd_unit_template_when_read_then_it_runs_serve_with_the_placeholders_install_fills():
    unit = (AGENT_PACKAGE / "ads-agent.service.in").read_text()
    assert "-m ads_agent serve" in unit and "Restart=always" in unit
    install = INSTALL_SH.read_text()
    body = "\n".join(line for line in unit.splitlines() if not line.startswith("#"))
    placeholders = set(re.findall(r"@([A-Z_]+)@", body))
    assert {"PYTHON", "STATE_DIR", "PORT"} <= placeholders
    for name in placeholders:
        assert f"@{name}@" in install, name


def _python_3_9() -> str | None:
    """The oldest Python the agent supports, when this machine has one (PATH or pyenv)."""
    candidates = [shutil.which("python3.9")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.9*/bin/python3.9")))
    for candidate in filter(None, candidates):
        # A pyenv shim is on PATH even where it refuses to run: ask the interpreter itself.
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys; print(sys.version_info[:2] == (3, 9))"],
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.stdout.strip() == "True":
            return candidate
    return None


PYTHON_3_9 = _python_3_9()


@pytest.mark.skipif(PYTHON_3_9 is None, reason="no Python 3.9 interpreter on this machine")
def test_given_python_3_9_when_the_agent_deploys_runs_actions_and_serves_then_every_endpoint_answers(
    sandbox, openapi_document
):
    # Parsing with feature_version=(3, 9) misses runtime-only 3.10 features (int | None in
    # isinstance, zip(strict=)); running the real thing on 3.9 does not.
    sandbox.env["PYTHONDONTWRITEBYTECODE"] = "1"  # no 3.9 bytecode in the checkout
    sandbox.write_plan(
        steps=[("build", ["echo built"]), ("start", ["true"])],
        actions={"backup": ["echo saved"], "stop": ["sleep 30"]},
    )
    sandbox.write_lab()
    deploy = sandbox.lab_commands("deploy", python=PYTHON_3_9)
    assert deploy.returncode == 0, deploy.stderr
    assert sandbox.lab_commands("action", "backup", python=PYTHON_3_9).returncode == 0
    timed_out = sandbox.lab_commands("action", "stop", "--timeout", "0.5", python=PYTHON_3_9)
    assert timed_out.returncode == 124, timed_out.stderr

    agent = sandbox.start_agent(python=PYTHON_3_9)
    for path, item in openapi_document["paths"].items():
        for method in (m for m in item if m != "parameters"):
            answer = agent.get(path.replace("{command}", "uptime"), method=method.upper())
            body = (
                answer.json() if answer.content_type == "application/json" else answer.body.decode()
            )
            assert (
                response_problems(
                    openapi_document, path, method, answer.status, answer.content_type, body
                )
                == []
            ), (method, path)
            assert answer.status == (410 if "execute" in path else 200), (method, path)
    history = agent.get("/api/1.0/actions").json()["actions"]
    assert [(a["action"], a["exit_code"]) for a in history] == [
        ("stop", 124),
        ("backup", 0),
        ("deploy", 0),
    ]
