"""Python client for Parley: the REST API (sync and async) and real-time conversations
over the native protocol. It talks to a server over HTTP and WebSocket only and never
imports the engine.

Used by the ``parley`` command and by the tests::

    with ParleyClient("http://127.0.0.1:8000", key) as client:
        session = client.create_session("agt_demo")
    async with Conversation(session["websocket_url"]) as conv: ...

    result = asyncio.run(call("http://127.0.0.1:8000", key, "agt_demo", [read_wav("q.wav")]))

Modules: :mod:`.types` (what the API answers), :mod:`.endpoints` and :mod:`.knowledge`
(its requests), :mod:`.rest` (the two REST clients), :mod:`.conversation` (a raw
WebSocket conversation, resumed after a drop as :mod:`.reconnect` says),
:mod:`.microphone` (audio paced like a live microphone) and :mod:`.caller` (``call``).
"""

from parley.client.caller import (
    AgentReply,
    CallResult,
    CallTurn,
    call,
    trailing_silence_ms,
)
from parley.client.conversation import Conversation, conversation_url
from parley.client.microphone import Microphone
from parley.client.reconnect import ReconnectPolicy
from parley.client.rest import AsyncParleyClient, ParleyClient
from parley.client.types import (
    Agent,
    AgentDeleted,
    AgentPage,
    ApiError,
    ApiKey,
    ApiKeyCreated,
    Citation,
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
    QueryHit,
    QueryResult,
    RateLimit,
    Reconnected,
    Reconnecting,
    ReplicaLease,
    SafetyMark,
    Session,
    SessionDetail,
    SessionOptions,
    SessionPage,
    SigningSecret,
    ToolCallMade,
    Turn,
    Voice,
)

__all__ = [
    "Agent",
    "AgentDeleted",
    "AgentPage",
    "AgentReply",
    "ApiError",
    "ApiKey",
    "ApiKeyCreated",
    "AsyncParleyClient",
    "CallResult",
    "CallTurn",
    "Citation",
    "ClusterState",
    "Conversation",
    "Document",
    "DocumentDeleted",
    "DocumentPage",
    "KeyOptions",
    "KnowledgeBase",
    "KnowledgeBaseDeleted",
    "KnowledgeBasePage",
    "Language",
    "Microphone",
    "ParleyClient",
    "Policy",
    "PolicyDeleted",
    "PolicyPage",
    "Provider",
    "QueryHit",
    "QueryResult",
    "RateLimit",
    "ReconnectPolicy",
    "Reconnected",
    "Reconnecting",
    "ReplicaLease",
    "SafetyMark",
    "Session",
    "SessionDetail",
    "SessionOptions",
    "SessionPage",
    "SigningSecret",
    "ToolCallMade",
    "Turn",
    "Voice",
    "call",
    "conversation_url",
    "trailing_silence_ms",
]
