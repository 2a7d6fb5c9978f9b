"""The HTTP layer: routes, handlers, middleware, pages under ``/-/``."""
