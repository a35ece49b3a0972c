"""Test and demo doubles for the outside world warroom talks to. Never imported by production code.

`sandbox.cluster` is a Kubernetes API server emulator: real REST paths and JSON over real HTTP,
so the official client and the real `kubectl` can both be pointed at it.
"""
