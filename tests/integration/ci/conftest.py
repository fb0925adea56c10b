"""The CI trigger against the same moto control plane as the API tests."""

from tests.integration.api.conftest import call_api, control_plane  # noqa: F401
