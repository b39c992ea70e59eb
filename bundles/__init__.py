"""The built-in contributions: the engine's own node types, packaged like any other."""
