"""VAD providers."""
