"""The asyncio shell: clocks, control units, networks of units."""

from emulator.runtime.clock import Clock, TimerHandle, VirtualClock, WallClock
from emulator.runtime.control_unit import ControlUnit, UnitStats
from emulator.runtime.network import Network, NetworkConfigError, validate_network

__all__ = ["Clock", "ControlUnit", "Network", "NetworkConfigError", "TimerHandle", "UnitStats", "VirtualClock",
           "WallClock", "validate_network"]
