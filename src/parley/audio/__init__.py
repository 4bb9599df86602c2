"""PCM16 audio helpers: frames, conversion, resampling, WAV files."""
