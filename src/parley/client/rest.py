"""The REST clients, :class:`ParleyClient` (blocking) and :class:`AsyncParleyClient`.

Both offer the same methods; each one sends a request built in :mod:`.endpoints`.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, TypeVar, Unpack

import httpx

from parley.client import endpoints
from parley.client.caller import CallResult, call
from parley.client.conversation import Conversation
from parley.client.endpoints import Endpoint
from parley.client.types import (
    Agent,
    AgentDeleted,
    AgentPage,
    ApiKey,
    ApiKeyCreated,
    KeyOptions,
    Policy,
    PolicyDeleted,
    PolicyPage,
    Provider,
    Session,
    SessionDetail,
    SessionOptions,
    SessionPage,
    Voice,
)

T = TypeVar("T")


def _conversation(session: Session) -> Conversation:
    url = session.get("websocket_url")
    if not url:
        raise ValueError("this session has no websocket_url (it is only in the create answer)")
    return Conversation(url)


class ParleyClient:
    """Blocking client of the REST API (and, with :meth:`call`, of conversations).

    Every method raises :class:`ApiError` for an error response::

        with ParleyClient("http://127.0.0.1:8000", key) as client:
            agent = client.create_agent(name="Support", system_prompt="You help.")
            session = client.create_session(agent["id"], initial_message="Hi!")
    """

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0) -> None:
        self.base_url, self._api_key = base_url.rstrip("/"), api_key
        self._http = httpx.Client(**endpoints.http_options(base_url, api_key, timeout))

    def __enter__(self) -> ParleyClient:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def _send(self, endpoint: Endpoint[T]) -> T:
        response = self._http.request(
            endpoint.method, endpoint.path, params=endpoint.params, json=endpoint.body
        )
        return endpoint.result(response)

    def health(self) -> dict[str, Any]:
        """``GET /healthz`` (200 or 503, both returned)."""
        return self._send(endpoints.health())

    # agents
    def create_agent(self, **fields: Any) -> Agent:
        """``POST /v1/agents``."""
        return self._send(endpoints.create_agent(fields))

    def list_agents(self, limit: int = 20, offset: int = 0) -> AgentPage:
        """``GET /v1/agents``."""
        return self._send(endpoints.list_agents(limit, offset))

    def get_agent(self, agent_id: str) -> Agent:
        """``GET /v1/agents/{id}``."""
        return self._send(endpoints.get_agent(agent_id))

    def update_agent(self, agent_id: str, **fields: Any) -> Agent:
        """``PATCH /v1/agents/{id}``."""
        return self._send(endpoints.update_agent(agent_id, fields))

    def pause_agent(self, agent_id: str) -> Agent:
        """Refuse new conversations (``PATCH`` status ``paused``)."""
        return self._send(endpoints.update_agent(agent_id, {"status": "paused"}))

    def resume_agent(self, agent_id: str) -> Agent:
        """Take conversations again (``PATCH`` status ``active``)."""
        return self._send(endpoints.update_agent(agent_id, {"status": "active"}))

    def delete_agent(self, agent_id: str) -> AgentDeleted:
        """``DELETE /v1/agents/{id}``: permanent; ends its live sessions."""
        return self._send(endpoints.delete_agent(agent_id))

    # content policies
    def create_policy(self, **fields: Any) -> Policy:
        """``POST /v1/policies``."""
        return self._send(endpoints.create_policy(fields))

    def list_policies(self, limit: int = 20, offset: int = 0) -> PolicyPage:
        """``GET /v1/policies``."""
        return self._send(endpoints.list_policies(limit, offset))

    def get_policy(self, policy_id: str) -> Policy:
        """``GET /v1/policies/{id}``."""
        return self._send(endpoints.get_policy(policy_id))

    def update_policy(self, policy_id: str, **fields: Any) -> Policy:
        """``PATCH /v1/policies/{id}``."""
        return self._send(endpoints.update_policy(policy_id, fields))

    def delete_policy(self, policy_id: str) -> PolicyDeleted:
        """``DELETE /v1/policies/{id}`` (409 while an agent uses it)."""
        return self._send(endpoints.delete_policy(policy_id))

    # sessions
    def create_session(self, agent_id: str, **options: Unpack[SessionOptions]) -> Session:
        """``POST /v1/agents/{id}/sessions`` (options: :class:`SessionOptions`); connect to
        ``websocket_url`` before it expires."""
        return self._send(endpoints.create_session(agent_id, **options))

    def get_session(self, session_id: str) -> SessionDetail:
        """``GET /v1/sessions/{id}``, with the transcript."""
        return self._send(endpoints.get_session(session_id))

    def list_sessions(
        self, agent_id: str, limit: int = 20, offset: int = 0, status: str | None = None
    ) -> SessionPage:
        """``GET /v1/agents/{id}/sessions``."""
        return self._send(endpoints.list_sessions(agent_id, limit, offset, status))

    def end_session(self, session_id: str) -> Session:
        """``POST /v1/sessions/{id}/end``."""
        return self._send(endpoints.end_session(session_id))

    # voices
    def list_voices(self) -> list[Voice]:
        """``GET /v1/voices``."""
        return self._send(endpoints.list_voices())

    def voice_preview(self, voice_id: str, text: str | None = None) -> bytes:
        """``GET /v1/voices/{id}/preview``: a WAV file."""
        return self._send(endpoints.voice_preview(voice_id, text))

    def list_providers(self) -> list[Provider]:
        """``GET /v1/providers``."""
        return self._send(endpoints.list_providers())

    # API keys
    def create_key(self, name: str, **options: Unpack[KeyOptions]) -> ApiKeyCreated:
        """``POST /v1/api-keys`` (admin keys only; options: :class:`KeyOptions`); ``key`` is
        shown only now."""
        return self._send(endpoints.create_key(name, **options))

    def list_keys(self) -> list[ApiKey]:
        """``GET /v1/api-keys`` (admin keys only)."""
        return self._send(endpoints.list_keys())

    def revoke_key(self, key_id: str) -> ApiKey:
        """``DELETE /v1/api-keys/{id}`` (admin keys only)."""
        return self._send(endpoints.revoke_key(key_id))

    # conversations
    def connect(self, session: Session) -> Conversation:
        """The conversation of a session just created (use it as ``async with``)."""
        return _conversation(session)

    def call(self, agent_id: str, utterances: list[bytes], **options: Any) -> CallResult:
        """Talk to an agent (blocking; see :func:`call`)."""
        return asyncio.run(call(self.base_url, self._api_key, agent_id, utterances, **options))


class AsyncParleyClient:
    """Asynchronous client of the REST API and of conversations; the same methods as
    :class:`ParleyClient`, awaited::

        async with AsyncParleyClient(url, key) as client:
            session = await client.create_session("agt_demo")
            async with client.connect(session) as conv:
                print(await conv.recv())
    """

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0) -> None:
        self.base_url, self._api_key = base_url.rstrip("/"), api_key
        self._http = httpx.AsyncClient(**endpoints.http_options(base_url, api_key, timeout))

    async def __aenter__(self) -> AsyncParleyClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP connection pool."""
        await self._http.aclose()

    async def _send(self, endpoint: Endpoint[T]) -> T:
        response = await self._http.request(
            endpoint.method, endpoint.path, params=endpoint.params, json=endpoint.body
        )
        return endpoint.result(response)

    async def health(self) -> dict[str, Any]:
        """``GET /healthz`` (200 or 503, both returned)."""
        return await self._send(endpoints.health())

    # agents
    async def create_agent(self, **fields: Any) -> Agent:
        """``POST /v1/agents``."""
        return await self._send(endpoints.create_agent(fields))

    async def list_agents(self, limit: int = 20, offset: int = 0) -> AgentPage:
        """``GET /v1/agents``."""
        return await self._send(endpoints.list_agents(limit, offset))

    async def get_agent(self, agent_id: str) -> Agent:
        """``GET /v1/agents/{id}``."""
        return await self._send(endpoints.get_agent(agent_id))

    async def update_agent(self, agent_id: str, **fields: Any) -> Agent:
        """``PATCH /v1/agents/{id}``."""
        return await self._send(endpoints.update_agent(agent_id, fields))

    async def pause_agent(self, agent_id: str) -> Agent:
        """Refuse new conversations (``PATCH`` status ``paused``)."""
        return await self._send(endpoints.update_agent(agent_id, {"status": "paused"}))

    async def resume_agent(self, agent_id: str) -> Agent:
        """Take conversations again (``PATCH`` status ``active``)."""
        return await self._send(endpoints.update_agent(agent_id, {"status": "active"}))

    async def delete_agent(self, agent_id: str) -> AgentDeleted:
        """``DELETE /v1/agents/{id}``: permanent; ends its live sessions."""
        return await self._send(endpoints.delete_agent(agent_id))

    # content policies
    async def create_policy(self, **fields: Any) -> Policy:
        """``POST /v1/policies``."""
        return await self._send(endpoints.create_policy(fields))

    async def list_policies(self, limit: int = 20, offset: int = 0) -> PolicyPage:
        """``GET /v1/policies``."""
        return await self._send(endpoints.list_policies(limit, offset))

    async def get_policy(self, policy_id: str) -> Policy:
        """``GET /v1/policies/{id}``."""
        return await self._send(endpoints.get_policy(policy_id))

    async def update_policy(self, policy_id: str, **fields: Any) -> Policy:
        """``PATCH /v1/policies/{id}``."""
        return await self._send(endpoints.update_policy(policy_id, fields))

    async def delete_policy(self, policy_id: str) -> PolicyDeleted:
        """``DELETE /v1/policies/{id}`` (409 while an agent uses it)."""
        return await self._send(endpoints.delete_policy(policy_id))

    # sessions
    async def create_session(self, agent_id: str, **options: Unpack[SessionOptions]) -> Session:
        """``POST /v1/agents/{id}/sessions`` (options: :class:`SessionOptions`); connect to
        ``websocket_url`` before it expires."""
        return await self._send(endpoints.create_session(agent_id, **options))

    async def get_session(self, session_id: str) -> SessionDetail:
        """``GET /v1/sessions/{id}``, with the transcript."""
        return await self._send(endpoints.get_session(session_id))

    async def list_sessions(
        self, agent_id: str, limit: int = 20, offset: int = 0, status: str | None = None
    ) -> SessionPage:
        """``GET /v1/agents/{id}/sessions``."""
        return await self._send(endpoints.list_sessions(agent_id, limit, offset, status))

    async def end_session(self, session_id: str) -> Session:
        """``POST /v1/sessions/{id}/end``."""
        return await self._send(endpoints.end_session(session_id))

    # voices
    async def list_voices(self) -> list[Voice]:
        """``GET /v1/voices``."""
        return await self._send(endpoints.list_voices())

    async def voice_preview(self, voice_id: str, text: str | None = None) -> bytes:
        """``GET /v1/voices/{id}/preview``: a WAV file."""
        return await self._send(endpoints.voice_preview(voice_id, text))

    async def list_providers(self) -> list[Provider]:
        """``GET /v1/providers``."""
        return await self._send(endpoints.list_providers())

    # API keys
    async def create_key(self, name: str, **options: Unpack[KeyOptions]) -> ApiKeyCreated:
        """``POST /v1/api-keys`` (admin keys only; options: :class:`KeyOptions`); ``key`` is
        shown only now."""
        return await self._send(endpoints.create_key(name, **options))

    async def list_keys(self) -> list[ApiKey]:
        """``GET /v1/api-keys`` (admin keys only)."""
        return await self._send(endpoints.list_keys())

    async def revoke_key(self, key_id: str) -> ApiKey:
        """``DELETE /v1/api-keys/{id}`` (admin keys only)."""
        return await self._send(endpoints.revoke_key(key_id))

    # conversations
    def connect(self, session: Session) -> Conversation:
        """The conversation of a session just created (use it as ``async with``)."""
        return _conversation(session)

    async def call(self, agent_id: str, utterances: list[bytes], **options: Any) -> CallResult:
        """Talk to an agent (see :func:`call`)."""
        return await call(self.base_url, self._api_key, agent_id, utterances, **options)
