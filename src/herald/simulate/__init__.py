"""`herald simulate`: a realistic contact-center event stream published through the API."""

from herald.simulate.driver import SimulateOptions, run_simulate
from herald.simulate.model import SimEvent, Simulation, parse_families

__all__ = ["SimEvent", "SimulateOptions", "Simulation", "parse_families", "run_simulate"]
