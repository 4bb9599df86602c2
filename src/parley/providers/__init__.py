"""Model providers behind small interfaces: stt/, llm/, tts/, vad/."""
