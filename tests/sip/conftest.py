from tests.service.conftest import mosquitto  # noqa: F401 - the broker fixture, for served units
