"""``GET /v1/providers``: the STT, LLM, TTS and VAD providers of this server (built in,
and those of the operator's providers file), whether each is reachable, never secrets."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from pydantic import BaseModel, Field

from parley.server.auth import ApiKey, State
from parley.server.errors import error_responses

router = APIRouter(prefix="/v1/providers", tags=["providers"])


class Provider(BaseModel):
    """One provider, as agents name it in ``provider_overrides``."""

    name: str = Field(description="kind:name, e.g. llm:llama-local")
    kind: str = Field(description="stt, llm, tts or vad")
    type: str = Field(description="local (in this process), gguf, or openai (a remote server)")
    model: str
    base_url: str | None = Field(description="a remote provider's server (no credentials)")
    default: bool = Field(description="used by agents that name no provider of this kind")
    loaded: bool = Field(description="loaded in this process (remote: its client is ready)")
    reachable: bool = Field(
        description="local: always; remote: its server answered in the last 10 s"
    )


class ProviderList(BaseModel):
    """Every provider of this server."""

    data: list[Provider]


@router.get("", response_model=ProviderList, responses=error_responses(403))
async def list_providers(state: State, _key: ApiKey) -> ProviderList:
    """The providers agents may name; remote ones are checked for reachability."""
    pool = state.providers
    infos = pool.infos()
    reachable = await asyncio.gather(*(pool.reachable(i.name) for i in infos))
    return ProviderList(
        data=[
            Provider(
                name=info.name,
                kind=info.kind,
                type=info.type,
                model=info.model,
                base_url=info.base_url,
                default=pool.defaults.get(info.kind) == info.name,
                loaded=pool.is_loaded(info.name),
                reachable=ok,
            )
            for info, ok in zip(infos, reachable, strict=True)
        ]
    )
