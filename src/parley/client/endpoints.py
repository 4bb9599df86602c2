"""The requests of the REST API, built once for the sync and the async client.

Each function names one endpoint and returns an :class:`Endpoint`: the request to send
and how to read its answer. A client only sends it and hands the response back to
:meth:`Endpoint.result`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

import httpx

from parley.client import types

T = TypeVar("T")


def _json(response: httpx.Response) -> Any:
    return response.json()


def _data(response: httpx.Response) -> Any:
    return response.json()["data"]


def _content(response: httpx.Response) -> bytes:
    return response.content


@dataclass(frozen=True, slots=True)
class Endpoint(Generic[T]):
    """One request and how to read its answer (``read``); an error answer raises
    :class:`ApiError` unless ``raises`` is off."""

    method: str
    path: str
    read: Callable[[httpx.Response], T] = _json
    params: dict[str, Any] | None = None
    body: dict[str, Any] | None = None
    raises: bool = True

    def result(self, response: httpx.Response) -> T:
        """The answer to this request, or :class:`ApiError` for an error response."""
        if self.raises and response.status_code >= 400:
            raise types.ApiError.of(response)
        return self.read(response)


def http_options(base_url: str, api_key: str, timeout: float) -> dict[str, Any]:
    """The arguments of the ``httpx`` client that sends the requests."""
    return {
        "base_url": base_url.rstrip("/"),
        "headers": {"Authorization": f"Bearer {api_key}"},
        "timeout": timeout,
    }


def _drop_none(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _path(collection: str, id_: str, tail: str = "") -> str:
    return f"/v1/{collection}/{quote(id_, safe='')}{tail}"


def health() -> Endpoint[dict[str, Any]]:
    return Endpoint("GET", "/healthz", raises=False)  # 503 while loading is an answer too


def create_agent(fields: dict[str, Any]) -> Endpoint[types.Agent]:
    return Endpoint("POST", "/v1/agents", body=fields)


def list_agents(limit: int, offset: int) -> Endpoint[types.AgentPage]:
    return Endpoint("GET", "/v1/agents", params={"limit": limit, "offset": offset})


def get_agent(agent_id: str) -> Endpoint[types.Agent]:
    return Endpoint("GET", _path("agents", agent_id))


def update_agent(agent_id: str, fields: dict[str, Any]) -> Endpoint[types.Agent]:
    return Endpoint("PATCH", _path("agents", agent_id), body=fields)


def delete_agent(agent_id: str) -> Endpoint[types.AgentDeleted]:
    return Endpoint("DELETE", _path("agents", agent_id))


def create_policy(fields: dict[str, Any]) -> Endpoint[types.Policy]:
    return Endpoint("POST", "/v1/policies", body=fields)


def list_policies(limit: int, offset: int) -> Endpoint[types.PolicyPage]:
    return Endpoint("GET", "/v1/policies", params={"limit": limit, "offset": offset})


def get_policy(policy_id: str) -> Endpoint[types.Policy]:
    return Endpoint("GET", _path("policies", policy_id))


def update_policy(policy_id: str, fields: dict[str, Any]) -> Endpoint[types.Policy]:
    return Endpoint("PATCH", _path("policies", policy_id), body=fields)


def delete_policy(policy_id: str) -> Endpoint[types.PolicyDeleted]:
    return Endpoint("DELETE", _path("policies", policy_id))


def create_session(
    agent_id: str,
    *,
    metadata: dict[str, Any] | None = None,
    initial_message: str | None = None,
    expires_in: int | None = None,
) -> Endpoint[types.Session]:
    body = _drop_none(
        {"metadata": metadata, "initial_message": initial_message, "expires_in": expires_in}
    )
    return Endpoint("POST", _path("agents", agent_id, "/sessions"), body=body)


def list_sessions(
    agent_id: str, limit: int, offset: int, status: str | None
) -> Endpoint[types.SessionPage]:
    params = _drop_none({"limit": limit, "offset": offset, "status": status})
    return Endpoint("GET", _path("agents", agent_id, "/sessions"), params=params)


def get_session(session_id: str) -> Endpoint[types.SessionDetail]:
    return Endpoint("GET", _path("sessions", session_id))


def end_session(session_id: str) -> Endpoint[types.Session]:
    return Endpoint("POST", _path("sessions", session_id, "/end"))


def list_voices(language: str | None = None) -> Endpoint[list[types.Voice]]:
    return Endpoint("GET", "/v1/voices", _data, params=_drop_none({"language": language}))


def list_languages() -> Endpoint[list[types.Language]]:
    return Endpoint("GET", "/v1/languages", _data)


def list_providers() -> Endpoint[list[types.Provider]]:
    return Endpoint("GET", "/v1/providers", _data)


def get_cluster() -> Endpoint[types.ClusterState]:
    return Endpoint("GET", "/v1/cluster", _json)


def voice_preview(voice_id: str, text: str | None) -> Endpoint[bytes]:
    params = _drop_none({"text": text})
    return Endpoint("GET", _path("voices", voice_id, "/preview"), _content, params=params)


def create_key(
    name: str,
    *,
    kind: Literal["secret", "publishable"] = "secret",
    admin: bool = False,
    agent_ids: list[str] | None = None,
    rate_limit: types.RateLimit | None = None,
) -> Endpoint[types.ApiKeyCreated]:
    fields = {
        "name": name,
        "kind": kind,
        "admin": admin,
        "agent_ids": agent_ids,
        "rate_limit": rate_limit,
    }
    return Endpoint("POST", "/v1/api-keys", body=_drop_none(fields))


def list_keys() -> Endpoint[list[types.ApiKey]]:
    return Endpoint("GET", "/v1/api-keys", _data)


def revoke_key(key_id: str) -> Endpoint[types.ApiKey]:
    return Endpoint("DELETE", _path("api-keys", key_id))
