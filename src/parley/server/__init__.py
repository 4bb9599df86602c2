"""The only package that imports FastAPI/Starlette: app factory, endpoints, auth."""

from parley.server.app import create_app

__all__ = ["create_app"]
