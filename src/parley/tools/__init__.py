"""Server-side tools: webhook and built-in tool definitions, dynamic variables, secrets,
request signing, and the per-session runner (:class:`parley.tools.runner.ServerTools`).

Imports :mod:`parley.core`; the core never imports this package.
"""
