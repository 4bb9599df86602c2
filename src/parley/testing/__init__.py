"""Test helpers: scripted providers for isolating the core, real recordings for the rest.

Everything here is for tests and benchmarks; nothing in the server imports it.
"""
