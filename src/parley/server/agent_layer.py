"""The agent layer of each session: its agent's content policy, loop detection and
knowledge bases as turn hooks (see :mod:`parley.core.hooks`) and its server-side tools,
wired from storage and the provider pool."""

from __future__ import annotations

from typing import Any

from parley.core.agent import AgentLayer, SessionModels
from parley.core.hooks import TurnHook
from parley.errors import SessionError
from parley.knowledge.hook import KnowledgeHook
from parley.languages.packs import pack_or_default
from parley.safety.judge import CriteriaJudge
from parley.safety.loop_hook import LoopHook
from parley.safety.loops import LoopSettings
from parley.safety.policy import PolicyBody
from parley.safety.policy_hook import PolicyHook, SessionPolicy
from parley.safety.terms import BlockedTerms
from parley.server.session_config import session_values, tool_definitions
from parley.server.state import ServerState
from parley.storage import AgentRecord, SessionRecord
from parley.tools.builtins import TwilioCredentials
from parley.tools.definitions import WebhookTool
from parley.tools.runner import ServerTools, ToolContext
from parley.tools.signing import new_secret


async def session_policy(
    state: ServerState, policy_id: str, models: SessionModels
) -> SessionPolicy:
    """A snapshot of content policy ``policy_id`` for one session, its models loaded
    (Presidio on first use, the judge's LLM). A policy that vanished refuses the session:
    an agent never talks without the policy it was given."""
    record = await state.policies.get(policy_id)
    if record is None:
        raise SessionError(
            f"the agent's content policy {policy_id!r} no longer exists; "
            "attach another one or set content_policy_id to null"
        )
    body = PolicyBody.model_validate(record.body)
    pii = None
    if body.pii.entities:
        await state.pii.ready()
        pii = state.pii
    judge = None
    if body.criteria:
        llm = models.llm
        if body.judge_provider is not None:
            llm = await state.providers.load(body.judge_provider)
        judge = CriteriaJudge(llm, body.criteria, body.judge_timeout_ms / 1000.0)
    terms, user_terms = BlockedTerms(body.blocked_terms), BlockedTerms(body.user_blocked_terms)
    return SessionPolicy(record.id, body, terms, user_terms, pii, judge)


async def agent_layer(
    state: ServerState, agent: AgentRecord, session: SessionRecord, models: SessionModels
) -> AgentLayer:
    """The hooks of a new session of ``agent``: its content policy, loop detection, then
    grounding in its knowledge bases."""
    hooks: list[TurnHook] = []
    lines: set[str] = set()
    pack = pack_or_default(agent.language)  # auto: English until the caller is heard
    if agent.content_policy_id is not None:
        policy = await session_policy(state, agent.content_policy_id, models)
        hooks.append(PolicyHook(policy))
        lines |= policy.fixed_lines(pack)
    loops = LoopSettings.model_validate(agent.loop_detection or {})
    if loops.enabled:
        hooks.append(LoopHook(loops))
        if loops.action != "steer":
            lines.add(loops.spoken_line(pack))
    if agent.knowledge_base_ids:
        hooks.append(KnowledgeHook(state.retriever, agent.knowledge_base_ids))
    tools = await server_tools(state, agent, session)
    lines |= tools.lines(pack.code)
    return AgentLayer(hooks=tuple(hooks), tools=tools, fixed_lines=frozenset(lines))


async def server_tools(
    state: ServerState, agent: AgentRecord, session: SessionRecord
) -> ServerTools:
    """The session's tool runner: the agent's webhooks and built-ins (client tools go to
    the client), with its knowledge bases and the server's web search behind them."""
    definitions = tool_definitions(agent.tools)
    secret = None
    if any(isinstance(d, WebhookTool) for d in definitions):
        secret = await state.agents.signing_secret(agent.id, new_secret())
    kb_ids = list(agent.knowledge_base_ids)

    async def knowledge(query: str, k: int) -> list[dict[str, Any]]:
        found = await state.retriever.search(kb_ids, query, k)
        state.metrics.retrieval(found.took_ms / 1000.0, "tool")
        return [
            {"title": p.title, "section": p.heading, "text": p.text, "document_id": p.document_id}
            for p in found.passages
        ]

    web = state.providers.web_search() if agent.web_search else None

    async def web_search(query: str) -> list[dict[str, Any]]:
        assert web is not None
        return [r.as_dict() for r in await web.search(query)]

    twilio = state.settings.twilio
    call_sid = session.metadata.get("call_sid")
    context = ToolContext(
        session.id,
        agent.id,
        state.http(),
        variables=session_values(agent, session.id, session.metadata),
        signing_secret=secret,
        twilio_call_sid=call_sid if isinstance(call_sid, str) else None,
        twilio=TwilioCredentials(twilio.account_sid, twilio.auth_token)
        if twilio.account_sid and twilio.auth_token
        else None,
        allow_private=state.settings.allow_private_urls,
        knowledge=knowledge if kb_ids else None,
        web=web_search if web is not None else None,
        record=state.metrics.tool_call,
    )
    return ServerTools(definitions, context, web_search=agent.web_search)
