"""What the built-in tools do. Each returns the JSON result for the LLM and, where the
call changes the conversation, a :class:`ToolEffect` for the engine:

- ``end_call``: the goodbye line is said and the session ends (``agent_ended``);
- ``transfer_call``: on a Twilio call the line is said, then the call is redirected to the
  number through Twilio's REST API and the session ends (``transferred``); elsewhere the
  client gets a ``transfer`` event and the conversation goes on;
- ``knowledge_search`` and ``web_search``: the results, with their titles and sources.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import httpx

from parley.tools.definitions import Destination, EndCallTool, TransferCallTool

log = logging.getLogger(__name__)

KnowledgeSearch = Callable[[str, int], Awaitable[list[dict[str, Any]]]]
"""``(query, k)`` → passages, each a dict with at least ``title`` and ``text`` (and e.g.
``document_id``, ``score``); given by the server per session."""
WebSearch = Callable[[str], Awaitable[list[dict[str, Any]]]]
"""``query`` → results, each a dict with ``title``, ``url`` and ``snippet``."""

TWILIO_API = "https://api.twilio.com/2010-04-01"
MAX_QUERY_CHARS = 500


@dataclass(frozen=True, slots=True)
class ToolEffect:
    """What a server-run tool call does beyond its result.

    - ``say``: a line the agent says (instead of asking the LLM again when ``end`` is
      set);
    - ``transfer``: send the client a ``transfer`` event with this payload
      (``{"name", "phone_number"}``);
    - ``after``: awaited once ``say`` has been played (e.g. redirecting a phone call);
    - ``end``: then end the session with this reason.
    """

    say: str | None = None
    end: str | None = None
    transfer: dict[str, str] | None = None
    after: Callable[[], Awaitable[None]] | None = None


Result = tuple[dict[str, Any], ToolEffect | None]


def _error(code: str, text: str) -> dict[str, Any]:
    return {"error": text, "code": code}


def end_call(defn: EndCallTool) -> Result:
    """Say the goodbye line and hang up."""
    return {"ended": True}, ToolEffect(say=defn.message, end="agent_ended")


@dataclass(frozen=True, slots=True)
class TwilioCredentials:
    """An account SID and auth token for Twilio's REST API."""

    account_sid: str
    auth_token: str


def dial_twiml(phone_number: str) -> str:
    """The TwiML that connects the caller to ``phone_number``."""
    return f"<Response><Dial>{escape(phone_number)}</Dial></Response>"


async def twilio_redirect(
    credentials: TwilioCredentials,
    call_sid: str,
    phone_number: str,
    client: httpx.AsyncClient,
    *,
    api: str = TWILIO_API,
) -> None:
    """Point the live call ``call_sid`` at new TwiML that dials ``phone_number`` (the
    media stream then ends). Raises ``httpx.HTTPError`` if Twilio refuses."""
    url = f"{api}/Accounts/{credentials.account_sid}/Calls/{call_sid}.json"
    response = await client.post(
        url,
        data={"Twiml": dial_twiml(phone_number)},
        auth=(credentials.account_sid, credentials.auth_token),
        timeout=10.0,
    )
    response.raise_for_status()


def _destination(
    defn: TransferCallTool, arguments: Mapping[str, Any]
) -> Destination | dict[str, Any]:
    wanted = str(arguments.get("destination") or "").strip()
    for destination in defn.destinations:
        if wanted.casefold() in (destination.name.casefold(), destination.phone_number):
            return destination
    names = ", ".join(d.name for d in defn.destinations)
    return _error("bad_arguments", f"there is no destination {wanted!r}; choose one of: {names}")


def transfer_call(
    defn: TransferCallTool,
    arguments: Mapping[str, Any],
    *,
    twilio_call_sid: str | None,
    twilio: TwilioCredentials | None,
    client: httpx.AsyncClient,
) -> Result:
    """Transfer to the destination the LLM chose (see the module's docstring)."""
    destination = _destination(defn, arguments)
    if isinstance(destination, dict):
        return destination, None
    payload = {"name": destination.name, "phone_number": destination.phone_number}
    if twilio_call_sid is None:
        return {"transferring_to": destination.name}, ToolEffect(transfer=payload)
    if twilio is None:
        text = (
            "call transfer is not set up on this server: PARLEY_TWILIO__ACCOUNT_SID and "
            "PARLEY_TWILIO__AUTH_TOKEN are not set"
        )
        return _error("config", text), None
    credentials, call_sid = twilio, twilio_call_sid

    async def redirect() -> None:
        try:
            await twilio_redirect(credentials, call_sid, destination.phone_number, client)
        except httpx.HTTPError as exc:
            log.error("transfer of call %s failed: %s", call_sid, type(exc).__name__)

    effect = ToolEffect(say=defn.message, end="transferred", transfer=payload, after=redirect)
    return {"transferring_to": destination.name}, effect


def _query(arguments: Mapping[str, Any]) -> str | None:
    query = arguments.get("query")
    if not isinstance(query, str) or not query.strip():
        return None
    return query.strip()[:MAX_QUERY_CHARS]


async def knowledge_search(
    search: KnowledgeSearch | None, arguments: Mapping[str, Any], k: int
) -> dict[str, Any]:
    """The passages that best match the LLM's ``query``, with their titles."""
    if search is None:
        return _error("config", "this agent has no knowledge base to search")
    query = _query(arguments)
    if query is None:
        return _error("bad_arguments", "knowledge_search needs a non-empty 'query'")
    try:
        passages = await search(query, k)
    except Exception as exc:
        log.exception("knowledge search failed")
        return _error("search_failed", f"the knowledge search failed ({type(exc).__name__})")
    if not passages:
        return {"results": [], "note": "nothing in the knowledge base matches"}
    return {"results": passages}


async def web_search(search: WebSearch | None, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Web results (title, url, snippet) for the LLM's ``query``."""
    if search is None:
        return _error("config", "web search is not set up on this server")
    query = _query(arguments)
    if query is None:
        return _error("bad_arguments", "web_search needs a non-empty 'query'")
    try:
        results = await search(query)
    except Exception as exc:
        log.exception("web search failed")
        return _error("search_failed", f"the web search failed ({type(exc).__name__})")
    if not results:
        return {"results": [], "note": "the web search found nothing"}
    return {"results": results}
