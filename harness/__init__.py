"""dlclaims harness: models, measurements, statistics, the pytest plugin and report writers."""

__version__ = "0.1.0"
