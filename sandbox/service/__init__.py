"""A simulated service for drills and tests: its error ratio follows what the sandbox cluster runs."""

from sandbox.service.order_api import SimulatedService

__all__ = ["SimulatedService"]
