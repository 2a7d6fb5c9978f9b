"""Storage: the content-addressed blob store and the SQLite index."""
