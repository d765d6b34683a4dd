"""The HTTP API: litestar over the core, thin."""
