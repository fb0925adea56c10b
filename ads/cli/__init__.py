"""The `ads` command."""
