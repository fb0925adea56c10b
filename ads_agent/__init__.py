"""The VMManager agent: reports a lab VM's health and runs the lab's own commands.

It runs on lab VMs with nothing but the Python 3 standard library (3.9 and newer), so
every module here imports only from the standard library; a test enforces it.
"""

from __future__ import annotations

AGENT_VERSION = "1.0.0"
