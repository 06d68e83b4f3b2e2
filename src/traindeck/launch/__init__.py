"""Launching runs: templates, their configs and overrides, executors (DESIGN §8).

``templates`` (a folder of launchable templates), ``overrides`` (the Hydra override
grammar), ``schema`` (JSON Schema inference and validation), ``estimate`` (a template's
estimate hook, in a child process). The server uses this package; it never imports the
server.
"""
