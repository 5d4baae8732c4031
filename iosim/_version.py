"""The package version: one place, imported by the package and the sweep run store."""

__version__ = "0.1.0"
