"""Loads the dlclaims plugin for every test under this folder (claims/ and tests/)."""

pytest_plugins = ["harness.plugin"]
