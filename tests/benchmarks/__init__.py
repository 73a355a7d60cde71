"""The benchmarks of ``make bench`` (never part of ``make test``)."""

from shared.process import apply_runtime_environment

# The process settings the services run with, before any benchmark imports numpy.
apply_runtime_environment()
