"""Contributions on disk: descriptors, discovery and loading (not part of the contribution API)."""

from .descriptor import Descriptor, read_descriptor
from .registry import Contribution, Registry

__all__ = ["Contribution", "Descriptor", "Registry", "read_descriptor"]
