"""dse: design-space exploration for AI computing systems."""

__version__ = "0.1.0"
