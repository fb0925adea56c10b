"""Reading the install script's failure report out of its output.

A failed deploy ends with the agent's report on stderr::

    ads-agent: deploy failed in step 'build': command 'make -C ../src' exited 2
    --- output tail ---
    ...
    --- end of output ---

Both providers only have that text (SSM returns the command's stdout/stderr, the local
provider reads its output file), so the one parser lives here.
"""

from __future__ import annotations

import ast
import re

from ads.providers.base import output_tail

_AGENT_REPORT = re.compile(
    r"failed(?: in step (?P<step>'[^']*'|\"[^\"]*\"))?: command (?P<command>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r" (?P<how>exited -?\d+|timed out)"
)
# Plainer phrasings (other scripts, older agents); only used when the agent's is absent.
_PLAIN = re.compile(
    r"^\s*(?:[\w-]+:\s*)?(?:failed|failing) command\s*[:=]\s*(?P<command>.+?)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_TAIL = re.compile(r"--- output tail ---\n(?P<tail>.*?)\n?--- end of output ---", re.DOTALL)


def find_failing_command(text: str) -> str | None:
    """The command that failed, as the report names it (the last report wins)."""
    matches = list(_AGENT_REPORT.finditer(text or ""))
    if matches:
        quoted = matches[-1].group("command")
        try:
            return str(ast.literal_eval(quoted))
        except (ValueError, SyntaxError):
            return quoted[1:-1]
    plain = list(_PLAIN.finditer(text or ""))
    return plain[-1].group("command") if plain else None


def find_failing_step(text: str) -> str | None:
    matches = list(_AGENT_REPORT.finditer(text or ""))
    if matches and matches[-1].group("step"):
        return matches[-1].group("step")[1:-1]
    return None


def failure_tail(text: str) -> str:
    """The failing command's own output when the report carries it, else the text's end."""
    tails = list(_TAIL.finditer(text or ""))
    return output_tail(tails[-1].group("tail") if tails else text or "")
