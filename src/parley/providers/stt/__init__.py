"""STT providers."""
