"""The server's tool runner for one session: runs webhook and built-in tools, hands
client tools to the client.

:meth:`ServerTools.run` gives the engine the result and what else the call does (a
goodbye, a transfer); while a call runs longer than 700 ms the engine says
:meth:`ServerTools.filler`. Each call is reported to ``ToolContext.record`` as
``(tool type, outcome, seconds)`` for metrics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import httpx

from parley.core.events import EndReason, TransferOut
from parley.core.hooks import ToolOutcome, ToolRunner, TurnInfo
from parley.languages.packs import ENGLISH, LanguagePack, pack_or_default
from parley.providers.llm.base import ToolCall, ToolSpec
from parley.tools import builtins
from parley.tools.builtins import KnowledgeSearch, ToolEffect, TwilioCredentials, WebSearch
from parley.tools.definitions import (
    WEB_SEARCH_TOOL,
    AnyTool,
    EndCallTool,
    KnowledgeSearchTool,
    TransferCallTool,
    WebhookTool,
    runs_on_server,
    tool_spec,
)
from parley.tools.webhook import run_webhook

log = logging.getLogger(__name__)

DEFAULT_FILLER = ENGLISH.lines.tool_filler
"""Said while a slow tool runs (English; other languages: the pack's ``tool_filler``)."""
SEARCH_FILLER = ENGLISH.lines.search_filler
"""Said while a slow search runs (English; other languages: the pack's ``search_filler``)."""

Recorder = Callable[[str, str, float], None]
"""Told ``(tool type, outcome, seconds)`` after each call; outcome is ``ok`` or an error
code (timeout, http_error, not_json, too_large, refused, connection, config,
bad_arguments, search_failed, failed)."""


@dataclass(frozen=True, slots=True)
class ToolContext:
    """What a session's server-run tools need."""

    session_id: str
    agent_id: str
    http: httpx.AsyncClient
    variables: Mapping[str, str] = field(default_factory=dict)
    """The session's dynamic variables (:func:`parley.tools.variables.session_variables`)."""
    signing_secret: str | None = None
    protocol: str = "native"
    twilio_call_sid: str | None = None
    """The Twilio call this session is (None: not a Twilio call)."""
    twilio: TwilioCredentials | None = None
    allow_private: bool = False
    knowledge: KnowledgeSearch | None = None
    web: WebSearch | None = None
    record: Recorder | None = None


class ServerTools(ToolRunner):
    """Runs ``definitions`` (and ``web_search`` when on) for one session.

    ``pack``: the language of the built-in fillers; set it when the language changes.
    """

    def __init__(
        self,
        definitions: Sequence[AnyTool],
        context: ToolContext,
        *,
        web_search: bool = False,
        pack: LanguagePack = ENGLISH,
    ) -> None:
        self.context = context
        self.pack = pack
        self.web_search = web_search
        self._tools = {d.name: d for d in definitions}

    def specs(self) -> list[ToolSpec]:
        """What the LLM is offered."""
        specs = [tool_spec(d) for d in self._tools.values()]
        return [*specs, WEB_SEARCH_TOOL] if self.web_search else specs

    def runs_on_server(self, name: str) -> bool:
        if name == WEB_SEARCH_TOOL.name and self.web_search:
            return True
        defn = self._tools.get(name)
        return defn is not None and runs_on_server(defn)

    def lines(self, language: str | None = None) -> set[str]:
        """Every fixed line these tools may have the agent say (fillers, goodbyes) in
        ``language`` (default: :attr:`pack`'s): worth synthesizing once."""
        said: set[str] = set()
        for name, defn in self._tools.items():
            if runs_on_server(defn) and (filler := self.filler(name, language)) is not None:
                said.add(filler)
            if isinstance(defn, EndCallTool | TransferCallTool):
                said.add(defn.message)
        if self.web_search and (search := self.filler(WEB_SEARCH_TOOL.name, language)):
            said.add(search)
        return said

    def filler(self, name: str, language: str | None = None) -> str | None:
        """The line said while tool ``name`` runs longer than 700 ms: the tool's own,
        else that of ``language`` (default: :attr:`pack`'s; None: the language has none,
        the agent stays silent)."""
        defn = self._tools.get(name)
        if isinstance(defn, WebhookTool) and defn.filler:
            return defn.filler
        lines = pack_or_default(language, self.pack).lines
        if name == WEB_SEARCH_TOOL.name or isinstance(defn, KnowledgeSearchTool):
            return lines.search_filler
        return lines.tool_filler

    def _kind(self, name: str) -> str:
        defn = self._tools.get(name)
        return defn.type if defn is not None else WEB_SEARCH_TOOL.name

    async def run(self, call: ToolCall, turn: TurnInfo) -> ToolOutcome:
        started = time.perf_counter()
        try:
            output, code, effect = await self._run(call)
        except NotImplementedError:
            raise
        except Exception as exc:
            log.exception("tool %s failed", call.name)
            output = {"error": f"the tool {call.name} failed ({type(exc).__name__})"}
            code, effect = "failed", None
        if self.context.record is not None:
            self.context.record(self._kind(call.name), code, time.perf_counter() - started)
        return _outcome(output, code == "ok", effect, turn.turn_id)

    async def _run(self, call: ToolCall) -> tuple[dict[str, Any], str, ToolEffect | None]:
        ctx, args = self.context, call.arguments if isinstance(call.arguments, dict) else {}
        defn = self._tools.get(call.name)
        if isinstance(defn, WebhookTool):
            outcome = await run_webhook(
                defn,
                args,
                variables=ctx.variables,
                signing_secret=ctx.signing_secret,
                client=ctx.http,
                allow_private=ctx.allow_private,
            )
            return outcome.output, outcome.code, None
        if isinstance(defn, EndCallTool):
            output, effect = builtins.end_call(defn)
        elif isinstance(defn, TransferCallTool):
            output, effect = builtins.transfer_call(
                defn, args, twilio_call_sid=ctx.twilio_call_sid, twilio=ctx.twilio, client=ctx.http
            )
        elif isinstance(defn, KnowledgeSearchTool):
            output, effect = await builtins.knowledge_search(ctx.knowledge, args, defn.k), None
        elif call.name == WEB_SEARCH_TOOL.name and self.web_search:
            output, effect = await builtins.web_search(ctx.web, args), None
        else:
            raise NotImplementedError(f"tool {call.name!r} is run by the client")
        return output, str(output.get("code", "ok")) if "error" in output else "ok", effect


def _outcome(
    output: dict[str, Any], ok: bool, effect: ToolEffect | None, turn_id: str
) -> ToolOutcome:
    """The engine's view of a call's result and effect."""
    if effect is None:
        return ToolOutcome(output, ok)
    transfer = None
    if effect.transfer is not None:
        name, number = effect.transfer["name"], effect.transfer["phone_number"]
        transfer = TransferOut(turn_id, name, number)
    end = cast(EndReason | None, effect.end)
    return ToolOutcome(output, ok, effect.say, end, transfer, effect.after)
