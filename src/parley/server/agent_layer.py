"""The agent layer of each session: its agent's loop detection and content policy as
turn hooks (see :mod:`parley.core.hooks`), wired from storage and the provider pool."""

from __future__ import annotations

from parley.core.agent import AgentLayer, SessionModels
from parley.core.hooks import TurnHook
from parley.errors import SessionError
from parley.safety.judge import CriteriaJudge
from parley.safety.loop_hook import LoopHook
from parley.safety.loops import LoopSettings
from parley.safety.policy import PolicyBody
from parley.safety.policy_hook import PolicyHook, SessionPolicy
from parley.safety.terms import BlockedTerms
from parley.server.state import ServerState
from parley.storage import AgentRecord, SessionRecord


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
    """The hooks of a new session of ``agent``: its content policy, then loop detection."""
    hooks: list[TurnHook] = []
    lines: set[str] = set()
    if agent.content_policy_id is not None:
        policy = await session_policy(state, agent.content_policy_id, models)
        hooks.append(PolicyHook(policy))
        lines |= policy.fixed_lines()
    loops = LoopSettings.model_validate(agent.loop_detection or {})
    if loops.enabled:
        hooks.append(LoopHook(loops))
        if loops.action != "steer":
            lines.add(loops.spoken_line())
    return AgentLayer(hooks=tuple(hooks), fixed_lines=frozenset(lines))
