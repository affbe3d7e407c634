"""Shared test settings."""

from hypothesis import HealthCheck, settings

# No test may depend on timing: hypothesis' per-example deadline and its "generation too slow"
# health check both measure wall time, which fails property tests on a busy machine. Tests that
# set their own settings keep them; this profile only fills in what they leave out.
settings.register_profile("regionopt", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("regionopt")
