"""Content safety: content policies (blocked terms, personal data, LLM-judged criteria) and
loop detection, as turn hooks of the agent layer (see :mod:`parley.core.hooks`)."""
