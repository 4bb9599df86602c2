"""Parley: a self-hostable platform for real-time conversational voice agents."""

__version__ = "0.1.0"
