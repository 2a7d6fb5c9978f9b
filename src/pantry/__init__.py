"""pantry: a caching proxy for package registries."""

__version__ = "0.1.0"
