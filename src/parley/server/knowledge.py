"""Knowledge bases: create, list, get, update, delete (refused while agents use one);
their documents (a file upload, text, or a URL the server fetches), ingested in the
background; and a query endpoint to see what retrieval finds.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

import pydantic
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from parley.errors import ConflictError, NotFoundError, ValidationError
from parley.knowledge.ingest import MAX_DOCUMENT_BYTES, Source
from parley.knowledge.parsing import UnsupportedDocument, detect_kind
from parley.protocols.json_frames import first_error
from parley.safe_fetch import FetchFailed, check_url_async
from parley.server.auth import ApiKey, State
from parley.server.errors import error_responses
from parley.server.state import ServerState
from parley.server.uploads import parse_form
from parley.single_line import ONE_LINE, SingleLine, line_problem
from parley.storage.knowledge import DocumentRecord, KnowledgeBaseRecord

router = APIRouter(prefix="/v1/knowledge-bases", tags=["knowledge bases"])
_ERRORS = error_responses(403, 404)

Name = Annotated[str, Field(min_length=1, max_length=200), ONE_LINE]
Description = Annotated[str, Field(max_length=2000)]
Title = Annotated[str, Field(min_length=1, max_length=300), ONE_LINE]


class KnowledgeBaseCreate(BaseModel):
    """A new knowledge base."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description = ""


class KnowledgeBaseUpdate(BaseModel):
    """Fields to change; those left out keep their value."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None


class KnowledgeBase(BaseModel):
    """A knowledge base and how much it holds."""

    id: str
    object: Literal["knowledge_base"] = "knowledge_base"
    name: str
    description: str
    document_count: int
    chunk_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, r: KnowledgeBaseRecord) -> KnowledgeBase:
        """The API form of a stored knowledge base."""
        return cls(
            id=r.id, name=r.name, description=r.description, document_count=r.document_count,
            chunk_count=r.chunk_count, created_at=r.created_at, updated_at=r.updated_at,
        )  # fmt: skip


class KnowledgeBaseList(BaseModel):
    """A page of knowledge bases."""

    data: list[KnowledgeBase]
    total: int
    limit: int
    offset: int
    has_more: bool


class Deleted(BaseModel):
    """The result of a delete."""

    id: str
    object: Literal["knowledge_base", "document"]
    deleted: bool = True


class TextDocument(BaseModel):
    """A document given as text."""

    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, Field(min_length=1, max_length=MAX_DOCUMENT_BYTES // 4)]
    title: Title


class UrlDocument(BaseModel):
    """A document the server fetches (http or https; public addresses only unless the
    operator allows private ones)."""

    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, Field(min_length=1, max_length=2000), ONE_LINE]
    title: Title | None = None


class Document(BaseModel):
    """A document of a knowledge base; ``status`` is ``processing`` until its chunks are
    stored (``ready``) or it failed (``failed``, with ``error`` saying why)."""

    id: str
    object: Literal["document"] = "document"
    knowledge_base_id: str
    title: str
    source: Literal["upload", "text", "url"]
    filename: str | None
    url: str | None
    content_type: str | None
    size_bytes: int
    status: Literal["processing", "ready", "failed"]
    error: str | None
    chunk_count: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, r: DocumentRecord) -> Document:
        """The API form of a stored document."""
        return cls.model_validate(r, from_attributes=True)


class DocumentList(BaseModel):
    """A page of documents."""

    data: list[Document]
    total: int
    limit: int
    offset: int
    has_more: bool


class QueryRequest(BaseModel):
    """A question to search the knowledge base with."""

    model_config = ConfigDict(extra="forbid")

    query: Annotated[str, Field(min_length=1, max_length=2000)]
    k: Annotated[int, Field(ge=1, le=50)] = 5


class QueryHit(BaseModel):
    """A retrieved chunk: ``score`` is its fused reciprocal-rank score, ``similarity``
    its cosine similarity to the query, ``text_match`` whether full-text search found it."""

    chunk_id: int
    document_id: str
    title: str
    heading: str
    text: str
    score: float
    similarity: float
    text_match: bool


class QueryResult(BaseModel):
    """What retrieval found, best first, and how long it took."""

    data: list[QueryHit]
    took_ms: float


Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=2**62)]


async def known_kb(state: ServerState, kb_id: str) -> KnowledgeBaseRecord:
    """The stored knowledge base (404 ``not_found_error`` if unknown)."""
    record = await state.knowledge.get(kb_id)
    if record is None:
        raise NotFoundError(f"knowledge base {kb_id!r} not found", param="knowledge_base_id")
    return record


async def check_kb_ids(state: ServerState, kb_ids: list[str] | None) -> None:
    """An agent's ``knowledge_base_ids`` must all exist (422 otherwise)."""
    missing = sorted(set(kb_ids or []) - await state.knowledge.existing(kb_ids or []))
    if missing:
        raise ValidationError(
            f"knowledge_base_ids: no knowledge base {', '.join(map(repr, missing))} "
            "(GET /v1/knowledge-bases lists them)",
            param="knowledge_base_ids",
        )


@router.post("", status_code=201, response_model=KnowledgeBase, responses=_ERRORS)
async def create_knowledge_base(
    body: KnowledgeBaseCreate, state: State, _key: ApiKey
) -> KnowledgeBase:
    """Create an empty knowledge base; add documents to it next."""
    return KnowledgeBase.of(await state.knowledge.create(body.name, body.description))


@router.get("", response_model=KnowledgeBaseList, responses=error_responses(403))
async def list_knowledge_bases(
    state: State, _key: ApiKey, limit: Limit = 20, offset: Offset = 0
) -> KnowledgeBaseList:
    """List knowledge bases, newest first."""
    items, total = await state.knowledge.list(limit, offset)
    return KnowledgeBaseList(
        data=[KnowledgeBase.of(r) for r in items], total=total, limit=limit, offset=offset,
        has_more=offset + len(items) < total,
    )  # fmt: skip


@router.get("/{kb_id}", response_model=KnowledgeBase, responses=_ERRORS)
async def get_knowledge_base(kb_id: SingleLine, state: State, _key: ApiKey) -> KnowledgeBase:
    """One knowledge base."""
    return KnowledgeBase.of(await known_kb(state, kb_id))


@router.patch("/{kb_id}", response_model=KnowledgeBase, responses=_ERRORS)
async def update_knowledge_base(
    kb_id: SingleLine, body: KnowledgeBaseUpdate, state: State, _key: ApiKey
) -> KnowledgeBase:
    """Rename or describe a knowledge base."""
    changes = body.model_dump(include=body.model_fields_set)
    for name in sorted(changes):
        if changes[name] is None:
            raise ValidationError(f"{name}: may not be null", param=name)
    record = await state.knowledge.update(kb_id, changes)
    if record is None:
        raise NotFoundError(f"knowledge base {kb_id!r} not found", param="knowledge_base_id")
    return KnowledgeBase.of(record)


@router.delete("/{kb_id}", response_model=Deleted, responses=error_responses(403, 404, 409))
async def delete_knowledge_base(kb_id: SingleLine, state: State, _key: ApiKey) -> Deleted:
    """Delete a knowledge base with its documents; refused (409 ``conflict_error``) while
    an agent uses it: detach it first (``PATCH /v1/agents/{id}``)."""
    await known_kb(state, kb_id)
    users = await state.knowledge.users(kb_id)
    if users:
        raise ConflictError(
            f"knowledge base {kb_id!r} is used by agents {', '.join(users)}; "
            "remove it from their knowledge_base_ids first",
            param="knowledge_base_id",
        )
    if not await state.knowledge.delete(kb_id):
        raise NotFoundError(f"knowledge base {kb_id!r} not found", param="knowledge_base_id")
    return Deleted(id=kb_id, object="knowledge_base")


# ---------------------------------------------------------------- documents


def _document_body() -> dict[str, Any]:
    """The OpenAPI request body of a new document: a file, text or a URL."""
    upload = {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {
                "type": "string",
                "format": "binary",
                "description": ".txt, .md, .html, .pdf or .docx; at most 20 MiB",
            },
            "title": {"type": "string", "maxLength": 300},
        },
    }
    json_body = {"oneOf": [TextDocument.model_json_schema(), UrlDocument.model_json_schema()]}
    return {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": upload},
            "application/json": {"schema": json_body},
        },
    }


async def _json_document(request: Request, state: ServerState) -> tuple[dict[str, Any], Source]:
    """The stored fields and the source of a JSON document (text or URL)."""
    try:
        raw = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValidationError("the body is not JSON") from None
    if not isinstance(raw, dict):
        raise ValidationError("the body must be a JSON object with text or url")
    try:
        if "url" in raw:
            doc: TextDocument | UrlDocument = UrlDocument.model_validate(raw)
        else:
            doc = TextDocument.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise first_error(exc) from None
    if isinstance(doc, TextDocument):
        data = doc.text.encode("utf-8")
        fields = {"title": doc.title, "source": "text", "size_bytes": len(data)}
        source = Source(data=data, filename="text.md", content_type="text/markdown", titled=True)
        return fields, source
    try:
        await check_url_async(doc.url, allow_private=state.settings.allow_private_urls)
    except FetchFailed as exc:
        raise ValidationError(f"url: {exc}", param="url") from None
    fields = {"title": doc.title or doc.url, "source": "url", "size_bytes": 0, "url": doc.url}
    return fields, Source(url=doc.url, titled=doc.title is not None)


def _upload(body: bytes, content_type: str | None) -> tuple[dict[str, Any], Source]:
    """The stored fields and the source of an uploaded file."""
    form = parse_form(body, content_type)
    if "file" not in form:
        raise ValidationError("file: Field required", param="file")
    file = form["file"]
    name = (file.filename or "").strip()
    if not name:
        raise ValidationError("file: the part needs a filename", param="file")
    if not file.data:
        raise ValidationError(f"file: {name!r} is empty", param="file")
    try:
        detect_kind(file.data, filename=name, content_type=file.content_type)
    except UnsupportedDocument as exc:
        raise ValidationError(f"file: {exc}", param="file") from None
    title = form["title"].text().strip() if "title" in form else ""
    if len(title) > 300:
        raise ValidationError("title: at most 300 characters", param="title")
    problem = line_problem(title) if title else None
    if problem is not None:
        raise ValidationError(f"title: {problem}", param="title")
    fields = {
        "title": title or name, "source": "upload", "size_bytes": len(file.data),
        "filename": name[:300], "content_type": file.content_type,
    }  # fmt: skip
    source = Source(file.data, name, file.content_type, titled=bool(title))
    return fields, source


@router.post(
    "/{kb_id}/documents",
    status_code=202,
    response_model=Document,
    responses=error_responses(403, 404, 413),
    openapi_extra={"requestBody": _document_body()},
)
async def add_document(kb_id: SingleLine, request: Request, state: State, _key: ApiKey) -> Document:
    """Add a document: a file (multipart ``file``, optional ``title``), ``{"text",
    "title"}`` or ``{"url", "title"?}``. It is ingested in the background: poll it until
    ``status`` is ``ready`` or ``failed``."""
    await known_kb(state, kb_id)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        fields, source = _upload(await request.body(), content_type)
    elif content_type.split(";")[0].strip() == "application/json":
        fields, source = await _json_document(request, state)
    else:
        raise ValidationError(
            "the body must be multipart/form-data (a file) or application/json (text or url)"
        )
    record = await state.knowledge.add_document(
        kb_id, **fields, replica_id=state.settings.cluster.replica_id
    )
    state.ingestor.start(record, source)
    state.metrics.document(f"added_{fields['source']}")
    return Document.of(record)


@router.get("/{kb_id}/documents", response_model=DocumentList, responses=_ERRORS)
async def list_documents(
    kb_id: SingleLine, state: State, _key: ApiKey, limit: Limit = 20, offset: Offset = 0
) -> DocumentList:
    """The knowledge base's documents, newest first."""
    await known_kb(state, kb_id)
    items, total = await state.knowledge.documents(kb_id, limit, offset)
    return DocumentList(
        data=[Document.of(d) for d in items], total=total, limit=limit, offset=offset,
        has_more=offset + len(items) < total,
    )  # fmt: skip


async def _known_document(state: ServerState, kb_id: str, doc_id: str) -> DocumentRecord:
    await known_kb(state, kb_id)
    record = await state.knowledge.document(kb_id, doc_id)
    if record is None:
        raise NotFoundError(f"document {doc_id!r} not found in {kb_id!r}", param="document_id")
    return record


@router.get("/{kb_id}/documents/{doc_id}", response_model=Document, responses=_ERRORS)
async def get_document(
    kb_id: SingleLine, doc_id: SingleLine, state: State, _key: ApiKey
) -> Document:
    """One document, with its ingestion status."""
    return Document.of(await _known_document(state, kb_id, doc_id))


@router.delete("/{kb_id}/documents/{doc_id}", response_model=Deleted, responses=_ERRORS)
async def delete_document(
    kb_id: SingleLine, doc_id: SingleLine, state: State, _key: ApiKey
) -> Deleted:
    """Delete a document and its chunks (one still being ingested is dropped)."""
    await _known_document(state, kb_id, doc_id)
    if not await state.knowledge.delete_document(kb_id, doc_id):
        raise NotFoundError(f"document {doc_id!r} not found in {kb_id!r}", param="document_id")
    return Deleted(id=doc_id, object="document")


@router.post("/{kb_id}/query", response_model=QueryResult, responses=_ERRORS)
async def query_knowledge_base(
    kb_id: SingleLine, body: QueryRequest, state: State, _key: ApiKey
) -> QueryResult:
    """What retrieval finds for ``query``: the chunks with their scores (to check a
    knowledge base; calls search the same way)."""
    await known_kb(state, kb_id)
    found = await state.retriever.search([kb_id], body.query, body.k)
    state.metrics.retrieval(found.took_ms / 1000.0, "query")
    hits = [
        QueryHit(
            chunk_id=p.chunk_id,
            document_id=p.document_id,
            title=p.title,
            heading=p.heading,
            text=p.text,
            score=round(p.score, 5),
            similarity=round(p.similarity, 4),
            text_match=p.text_match,
        )
        for p in found.passages
    ]
    return QueryResult(data=hits, took_ms=found.took_ms)
