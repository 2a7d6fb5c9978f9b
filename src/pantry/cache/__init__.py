"""The cache engine shared by every format."""
