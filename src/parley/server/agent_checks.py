"""What an agent's agent-layer fields must point at, checked on create and update (422
with the field named): its content policy, knowledge bases, the web search provider and
the secrets its webhook tools use."""

from __future__ import annotations

from typing import Any

from parley.errors import ValidationError
from parley.server.knowledge import check_kb_ids
from parley.server.policies import check_policy_id
from parley.server.session_config import tool_definitions
from parley.server.state import ServerState
from parley.tools.definitions import repeated_names
from parley.tools.secrets import missing_secrets

NO_SEARCH = (
    "web_search needs a search provider: add a [search.default] table to the providers "
    'file (parley serve --providers FILE) with type = "searxng" and base_url, or type = '
    '"brave" / "tavily" and api_key_env (docs/tools.md)'
)


async def check_agent_layer(
    state: ServerState, changes: dict[str, Any], current: dict[str, Any] | None = None
) -> None:
    """Check the agent-layer fields among ``changes`` (a create's values, or a PATCH with
    the agent's ``current`` tools and web_search)."""
    if "content_policy_id" in changes:
        await check_policy_id(state, changes["content_policy_id"])
    if "knowledge_base_ids" in changes:
        await check_kb_ids(state, changes["knowledge_base_ids"])
    if changes.get("web_search") and state.providers.web_search() is None:
        raise ValidationError(NO_SEARCH, param="web_search")
    if "tools" in changes or "web_search" in changes:
        now = {**(current or {}), **changes}
        definitions = tool_definitions(now.get("tools"))
        repeated = repeated_names(definitions, web_search=bool(now.get("web_search")))
        if repeated:
            raise ValidationError(
                f"tools: names must be unique (web_search is taken when it is on); "
                f"repeated: {repeated}",
                param="tools",
            )
        missing = missing_secrets(definitions)
        if missing:
            raise ValidationError(
                f"tools: the server has no environment variable {', '.join(missing)} for "
                "the {{secret.NAME}} references in webhook headers; set it and restart",
                param="tools",
            )
