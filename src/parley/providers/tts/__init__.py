"""TTS providers."""
