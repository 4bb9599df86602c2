"""The requests of the knowledge-base API (``/v1/knowledge-bases``) and of an agent's
webhook signing secret, built once for the sync and the async client like those of
:mod:`.endpoints`.

A new document is JSON (``text`` or ``url``) or, for a file, a multipart :class:`Form`
that the client sends with the request.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from parley.client import types
from parley.client.endpoints import Endpoint

COLLECTION = "/v1/knowledge-bases"
# How long wait_for_document waits by default, and how often it asks (seconds).
WAIT_TIMEOUT_S = 120.0
POLL_INTERVAL_S = 0.25


@dataclass(frozen=True, slots=True)
class Form:
    """A multipart body: text ``fields`` and ``files`` (part name → filename, bytes)."""

    fields: dict[str, str]
    files: dict[str, tuple[str, bytes]]


def _kb(kb_id: str, tail: str = "") -> str:
    return f"{COLLECTION}/{quote(kb_id, safe='')}{tail}"


def _doc(kb_id: str, doc_id: str) -> str:
    return _kb(kb_id, f"/documents/{quote(doc_id, safe='')}")


def _some(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def create_knowledge_base(name: str, description: str | None) -> Endpoint[types.KnowledgeBase]:
    return Endpoint("POST", COLLECTION, body=_some({"name": name, "description": description}))


def list_knowledge_bases(limit: int, offset: int) -> Endpoint[types.KnowledgeBasePage]:
    return Endpoint("GET", COLLECTION, params={"limit": limit, "offset": offset})


def get_knowledge_base(kb_id: str) -> Endpoint[types.KnowledgeBase]:
    return Endpoint("GET", _kb(kb_id))


def update_knowledge_base(
    kb_id: str, name: str | None, description: str | None
) -> Endpoint[types.KnowledgeBase]:
    return Endpoint("PATCH", _kb(kb_id), body=_some({"name": name, "description": description}))


def delete_knowledge_base(kb_id: str) -> Endpoint[types.KnowledgeBaseDeleted]:
    return Endpoint("DELETE", _kb(kb_id))


def add_document(
    kb_id: str,
    *,
    text: str | None = None,
    url: str | None = None,
    file: str | os.PathLike[str] | bytes | None = None,
    filename: str | None = None,
    title: str | None = None,
) -> tuple[Endpoint[types.Document], Form | None]:
    """The request of a new document and, for a file, its multipart body (a path is read
    here). ValueError unless exactly one of ``text``, ``url``, ``file`` is given, or for
    bytes without a ``filename``."""
    given = [name for name, v in (("text", text), ("url", url), ("file", file)) if v is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of text=, url=, file= (got {given or 'none'})")
    endpoint: Endpoint[types.Document]
    if file is None:
        body = _some({"text": text, "url": url, "title": title})
        endpoint = Endpoint("POST", _kb(kb_id, "/documents"), body=body)
        return endpoint, None
    if isinstance(file, bytes):
        if not filename:
            raise ValueError("file= as bytes needs filename= (its extension names the format)")
        data = file
    else:
        data = Path(file).read_bytes()
        filename = filename or Path(file).name
    form = Form(_some({"title": title}), {"file": (filename, data)})
    return Endpoint("POST", _kb(kb_id, "/documents")), form


def list_documents(kb_id: str, limit: int, offset: int) -> Endpoint[types.DocumentPage]:
    return Endpoint("GET", _kb(kb_id, "/documents"), params={"limit": limit, "offset": offset})


def get_document(kb_id: str, doc_id: str) -> Endpoint[types.Document]:
    return Endpoint("GET", _doc(kb_id, doc_id))


def delete_document(kb_id: str, doc_id: str) -> Endpoint[types.DocumentDeleted]:
    return Endpoint("DELETE", _doc(kb_id, doc_id))


def query_knowledge_base(kb_id: str, query: str, k: int) -> Endpoint[types.QueryResult]:
    return Endpoint("POST", _kb(kb_id, "/query"), body={"query": query, "k": k})


def rotate_signing_secret(agent_id: str) -> Endpoint[types.SigningSecret]:
    return Endpoint("POST", f"/v1/agents/{quote(agent_id, safe='')}/signing-secret")


def settled(document: types.Document) -> bool:
    """Whether ingestion of ``document`` is over (``ready`` or ``failed``)."""
    return document["status"] != "processing"


def still_processing(document: types.Document, timeout: float) -> TimeoutError:
    """The error of :meth:`wait_for_document` when ``timeout`` ran out."""
    return TimeoutError(
        f"document {document['id']!r} of {document['knowledge_base_id']!r} is still "
        f"processing after {timeout:g} s"
    )
