"""The floe engine runtime: what every built binary carries. Imports nothing above it."""
