"""The conversation engine: pure asyncio, no web framework and no vendor SDK."""
