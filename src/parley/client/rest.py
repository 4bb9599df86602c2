"""The REST clients, :class:`ParleyClient` (blocking) and :class:`AsyncParleyClient`.

Both offer the same methods; each one sends a request built in :mod:`.endpoints` (or, for
knowledge bases, :mod:`.knowledge`).
"""

from __future__ import annotations

import asyncio
import os
import time
from types import TracebackType
from typing import Any, TypeVar, Unpack

import httpx

from parley.client import endpoints, knowledge
from parley.client.caller import CallResult, call
from parley.client.conversation import Conversation
from parley.client.endpoints import Endpoint
from parley.client.knowledge import POLL_INTERVAL_S, WAIT_TIMEOUT_S, Form
from parley.client.reconnect import ReconnectPolicy
from parley.client.types import (
    Agent,
    AgentDeleted,
    AgentPage,
    ApiKey,
    ApiKeyCreated,
    ClusterState,
    Document,
    DocumentDeleted,
    DocumentPage,
    KeyOptions,
    KnowledgeBase,
    KnowledgeBaseDeleted,
    KnowledgeBasePage,
    Language,
    Policy,
    PolicyDeleted,
    PolicyPage,
    Provider,
    QueryResult,
    Session,
    SessionDetail,
    SessionOptions,
    SessionPage,
    SigningSecret,
    Voice,
)

T = TypeVar("T")


def _conversation(session: Session, reconnect: bool | ReconnectPolicy) -> Conversation:
    url = session.get("websocket_url")
    if not url:
        raise ValueError("this session has no websocket_url (it is only in the create answer)")
    return Conversation(url, reconnect=reconnect)


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

    def _send(self, endpoint: Endpoint[T], form: Form | None = None) -> T:
        response = self._http.request(
            endpoint.method,
            endpoint.path,
            params=endpoint.params,
            json=endpoint.body,
            data=form.fields if form else None,
            files=form.files if form else None,
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

    def rotate_signing_secret(self, agent_id: str) -> SigningSecret:
        """``POST /v1/agents/{id}/signing-secret``: a new secret for its webhook signatures,
        shown only now."""
        return self._send(knowledge.rotate_signing_secret(agent_id))

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

    # knowledge bases
    def create_knowledge_base(self, name: str, description: str | None = None) -> KnowledgeBase:
        """``POST /v1/knowledge-bases``."""
        return self._send(knowledge.create_knowledge_base(name, description))

    def list_knowledge_bases(self, limit: int = 20, offset: int = 0) -> KnowledgeBasePage:
        """``GET /v1/knowledge-bases``, newest first."""
        return self._send(knowledge.list_knowledge_bases(limit, offset))

    def get_knowledge_base(self, kb_id: str) -> KnowledgeBase:
        """``GET /v1/knowledge-bases/{id}``."""
        return self._send(knowledge.get_knowledge_base(kb_id))

    def update_knowledge_base(
        self, kb_id: str, *, name: str | None = None, description: str | None = None
    ) -> KnowledgeBase:
        """``PATCH /v1/knowledge-bases/{id}`` (fields left None keep their value)."""
        return self._send(knowledge.update_knowledge_base(kb_id, name, description))

    def delete_knowledge_base(self, kb_id: str) -> KnowledgeBaseDeleted:
        """``DELETE /v1/knowledge-bases/{id}`` with its documents (409 while an agent uses
        it)."""
        return self._send(knowledge.delete_knowledge_base(kb_id))

    def add_document(
        self,
        kb_id: str,
        *,
        text: str | None = None,
        url: str | None = None,
        file: str | os.PathLike[str] | bytes | None = None,
        filename: str | None = None,
        title: str | None = None,
    ) -> Document:
        """``POST /v1/knowledge-bases/{id}/documents``: exactly one of ``text`` (with a
        ``title``), ``url`` (fetched by the server) or ``file`` (a path, or bytes with a
        ``filename``: .txt, .md, .html, .pdf, .docx). Ingested in the background:
        :meth:`wait_for_document` waits for it."""
        endpoint, form = knowledge.add_document(
            kb_id, text=text, url=url, file=file, filename=filename, title=title
        )
        return self._send(endpoint, form)

    def list_documents(self, kb_id: str, limit: int = 20, offset: int = 0) -> DocumentPage:
        """``GET /v1/knowledge-bases/{id}/documents``, newest first."""
        return self._send(knowledge.list_documents(kb_id, limit, offset))

    def get_document(self, kb_id: str, document_id: str) -> Document:
        """``GET /v1/knowledge-bases/{id}/documents/{doc_id}``, with its ``status``."""
        return self._send(knowledge.get_document(kb_id, document_id))

    def delete_document(self, kb_id: str, document_id: str) -> DocumentDeleted:
        """``DELETE /v1/knowledge-bases/{id}/documents/{doc_id}`` and its chunks."""
        return self._send(knowledge.delete_document(kb_id, document_id))

    def wait_for_document(
        self,
        kb_id: str,
        document_id: str,
        *,
        timeout: float = WAIT_TIMEOUT_S,
        interval: float = POLL_INTERVAL_S,
    ) -> Document:
        """The document once ingested: ``status`` ``ready``, or ``failed`` with ``error``
        (returned, not raised). TimeoutError if still processing after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not knowledge.settled(doc := self.get_document(kb_id, document_id)):
            if time.monotonic() >= deadline:
                raise knowledge.still_processing(doc, timeout)
            time.sleep(interval)
        return doc

    def query_knowledge_base(self, kb_id: str, query: str, k: int = 5) -> QueryResult:
        """``POST /v1/knowledge-bases/{id}/query``: the ``k`` chunks retrieval finds, best
        first, with their scores."""
        return self._send(knowledge.query_knowledge_base(kb_id, query, k))

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
    def list_voices(self, language: str | None = None) -> list[Voice]:
        """``GET /v1/voices`` (only those speaking ``language``, if given)."""
        return self._send(endpoints.list_voices(language))

    def list_languages(self) -> list[Language]:
        """``GET /v1/languages``: each language's speech-to-text, voices and turn rules."""
        return self._send(endpoints.list_languages())

    def voice_preview(self, voice_id: str, text: str | None = None) -> bytes:
        """``GET /v1/voices/{id}/preview``: a WAV file."""
        return self._send(endpoints.voice_preview(voice_id, text))

    def list_providers(self) -> list[Provider]:
        """``GET /v1/providers``."""
        return self._send(endpoints.list_providers())

    def get_cluster(self) -> ClusterState:
        """``GET /v1/cluster`` (admin keys only): the replicas whose lease is current."""
        return self._send(endpoints.get_cluster())

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
    def connect(
        self, session: Session, *, reconnect: bool | ReconnectPolicy = True
    ) -> Conversation:
        """The conversation of a session just created (use it as ``async with``); it
        resumes after a drop unless ``reconnect`` is off (see :class:`Conversation`)."""
        return _conversation(session, reconnect)

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

    async def _send(self, endpoint: Endpoint[T], form: Form | None = None) -> T:
        response = await self._http.request(
            endpoint.method,
            endpoint.path,
            params=endpoint.params,
            json=endpoint.body,
            data=form.fields if form else None,
            files=form.files if form else None,
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

    async def rotate_signing_secret(self, agent_id: str) -> SigningSecret:
        """``POST /v1/agents/{id}/signing-secret``: a new secret for its webhook signatures,
        shown only now."""
        return await self._send(knowledge.rotate_signing_secret(agent_id))

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

    # knowledge bases
    async def create_knowledge_base(
        self, name: str, description: str | None = None
    ) -> KnowledgeBase:
        """``POST /v1/knowledge-bases``."""
        return await self._send(knowledge.create_knowledge_base(name, description))

    async def list_knowledge_bases(self, limit: int = 20, offset: int = 0) -> KnowledgeBasePage:
        """``GET /v1/knowledge-bases``, newest first."""
        return await self._send(knowledge.list_knowledge_bases(limit, offset))

    async def get_knowledge_base(self, kb_id: str) -> KnowledgeBase:
        """``GET /v1/knowledge-bases/{id}``."""
        return await self._send(knowledge.get_knowledge_base(kb_id))

    async def update_knowledge_base(
        self, kb_id: str, *, name: str | None = None, description: str | None = None
    ) -> KnowledgeBase:
        """``PATCH /v1/knowledge-bases/{id}`` (fields left None keep their value)."""
        return await self._send(knowledge.update_knowledge_base(kb_id, name, description))

    async def delete_knowledge_base(self, kb_id: str) -> KnowledgeBaseDeleted:
        """``DELETE /v1/knowledge-bases/{id}`` with its documents (409 while an agent uses
        it)."""
        return await self._send(knowledge.delete_knowledge_base(kb_id))

    async def add_document(
        self,
        kb_id: str,
        *,
        text: str | None = None,
        url: str | None = None,
        file: str | os.PathLike[str] | bytes | None = None,
        filename: str | None = None,
        title: str | None = None,
    ) -> Document:
        """``POST /v1/knowledge-bases/{id}/documents``: exactly one of ``text`` (with a
        ``title``), ``url`` (fetched by the server) or ``file`` (a path, or bytes with a
        ``filename``: .txt, .md, .html, .pdf, .docx). Ingested in the background:
        :meth:`wait_for_document` waits for it."""
        endpoint, form = await asyncio.to_thread(  # a path is read from disk
            knowledge.add_document,
            kb_id,
            text=text,
            url=url,
            file=file,
            filename=filename,
            title=title,
        )
        return await self._send(endpoint, form)

    async def list_documents(self, kb_id: str, limit: int = 20, offset: int = 0) -> DocumentPage:
        """``GET /v1/knowledge-bases/{id}/documents``, newest first."""
        return await self._send(knowledge.list_documents(kb_id, limit, offset))

    async def get_document(self, kb_id: str, document_id: str) -> Document:
        """``GET /v1/knowledge-bases/{id}/documents/{doc_id}``, with its ``status``."""
        return await self._send(knowledge.get_document(kb_id, document_id))

    async def delete_document(self, kb_id: str, document_id: str) -> DocumentDeleted:
        """``DELETE /v1/knowledge-bases/{id}/documents/{doc_id}`` and its chunks."""
        return await self._send(knowledge.delete_document(kb_id, document_id))

    async def wait_for_document(
        self,
        kb_id: str,
        document_id: str,
        *,
        timeout: float = WAIT_TIMEOUT_S,
        interval: float = POLL_INTERVAL_S,
    ) -> Document:
        """The document once ingested: ``status`` ``ready``, or ``failed`` with ``error``
        (returned, not raised). TimeoutError if still processing after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while not knowledge.settled(doc := await self.get_document(kb_id, document_id)):
            if time.monotonic() >= deadline:
                raise knowledge.still_processing(doc, timeout)
            await asyncio.sleep(interval)
        return doc

    async def query_knowledge_base(self, kb_id: str, query: str, k: int = 5) -> QueryResult:
        """``POST /v1/knowledge-bases/{id}/query``: the ``k`` chunks retrieval finds, best
        first, with their scores."""
        return await self._send(knowledge.query_knowledge_base(kb_id, query, k))

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
    async def list_voices(self, language: str | None = None) -> list[Voice]:
        """``GET /v1/voices`` (only those speaking ``language``, if given)."""
        return await self._send(endpoints.list_voices(language))

    async def list_languages(self) -> list[Language]:
        """``GET /v1/languages``: each language's speech-to-text, voices and turn rules."""
        return await self._send(endpoints.list_languages())

    async def voice_preview(self, voice_id: str, text: str | None = None) -> bytes:
        """``GET /v1/voices/{id}/preview``: a WAV file."""
        return await self._send(endpoints.voice_preview(voice_id, text))

    async def list_providers(self) -> list[Provider]:
        """``GET /v1/providers``."""
        return await self._send(endpoints.list_providers())

    async def get_cluster(self) -> ClusterState:
        """``GET /v1/cluster`` (admin keys only): the replicas whose lease is current."""
        return await self._send(endpoints.get_cluster())

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
    def connect(
        self, session: Session, *, reconnect: bool | ReconnectPolicy = True
    ) -> Conversation:
        """The conversation of a session just created (use it as ``async with``); it
        resumes after a drop unless ``reconnect`` is off (see :class:`Conversation`)."""
        return _conversation(session, reconnect)

    async def call(self, agent_id: str, utterances: list[bytes], **options: Any) -> CallResult:
        """Talk to an agent (see :func:`call`)."""
        return await call(self.base_url, self._api_key, agent_id, utterances, **options)
