"""floe: a workflow engine for long-running business processes, and its toolchain."""

__version__ = "0.1.0"
