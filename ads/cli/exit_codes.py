"""Exit codes of the `ads` command. Scripts may rely on them; the README lists them."""

OK = 0
FAILED = 1  # the operation ran and the lab ended FAILED (or the demo did not complete)
INVALID_INPUT = 2  # bad arguments or an invalid labspec / request (HTTP 400)
NOT_FOUND = 3  # unknown lab (HTTP 404)
CONFLICT = 4  # illegal state change, e.g. destroying a lab twice (HTTP 409)
UNREACHABLE = 5  # no endpoint configured, endpoint unreachable, or credentials refused
TIMEOUT = 6  # --wait gave up before the lab reached a final status
INTERRUPTED = 130  # Ctrl-C
# the reader of the output went away (`ads list | head -1`), as a shell reports SIGPIPE
BROKEN_PIPE = 141
