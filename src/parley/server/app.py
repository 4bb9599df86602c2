"""The app factory: wires settings, storage, models and routers together."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from threadpoolctl import threadpool_limits

from parley import __version__
from parley.config import Settings
from parley.providers._threads import ModelWorker
from parley.providers.pool import ProviderPool
from parley.providers.remote import CALL_OBSERVERS
from parley.server import (
    agents,
    cluster,
    keys,
    knowledge,
    languages_api,
    policies,
    providers_api,
    realtime,
    sessions,
    socketio_agent,
    speech,
    twilio,
    voices,
    web,
    ws_native,
)
from parley.server.agent_layer import agent_layer as default_agent_layer
from parley.server.auth import require_admin
from parley.server.body_limit import BodyLimitMiddleware
from parley.server.errors import install_error_handlers
from parley.server.json_body import JsonBodyCheckMiddleware
from parley.server.state import AgentLayerFactory, ServerState
from parley.storage.permissions import secure_data_dir

log = logging.getLogger(__name__)


async def _load_models(state: ServerState) -> None:
    t0 = time.perf_counter()
    try:
        await state.providers.preload()
    except Exception:
        log.exception("model loading failed; the server stays unhealthy")
        return
    state.models_ready.set()
    seconds = round(time.perf_counter() - t0, 3)
    log.info("models ready", extra={"seconds": seconds, "per_model": state.providers.load_seconds})


def create_app(
    settings: Settings | None = None,
    *,
    providers: ProviderPool | None = None,
    agent_layer: AgentLayerFactory | None = None,
) -> FastAPI:
    """Build the ASGI app. Its default models load in the background, unless a pool
    whose defaults are already loaded is given (``providers``). ``agent_layer`` makes
    each session's hooks and tool runner (none by default)."""
    settings = settings or Settings()
    state = ServerState.create(settings)
    if providers is not None:
        state.providers = providers
        state.models_ready.set()
    state.agent_layer = agent_layer or partial(default_agent_layer, state)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        secure_data_dir(settings.data_dir)  # 0700; looser modes tightened, one warning
        # numpy's BLAS (knowledge-base dense search) on one thread: with a pool of its
        # own it fights the model threads for the cores and search p95 doubles
        threadpool_limits(1, user_api="blas")
        await state.db.connect()
        ModelWorker.wait_observers.append(state.metrics.model_wait)
        CALL_OBSERVERS.append(state.metrics.provider_call)
        await state.replica.start()  # ends this replica's sessions left by an earlier run
        stopped = await state.ingestor.interrupted(settings.cluster.replica_id)
        if stopped:
            log.warning("documents left processing by an earlier run", extra={"count": stopped})
        loader = None if state.models_ready.is_set() else asyncio.create_task(_load_models(state))
        try:
            yield
        finally:
            for live in state.live:
                await live.session.close("error")
            for task in list(state.tasks):
                task.cancel()
            await state.ingestor.close()
            await state.close_http()
            if loader is not None:
                loader.cancel()
            if providers is None:
                state.providers.close()
            ModelWorker.wait_observers.remove(state.metrics.model_wait)
            CALL_OBSERVERS.remove(state.metrics.provider_call)
            await state.replica.stop()
            await state.db.close()

    app = FastAPI(
        title="Parley",
        version=__version__,
        lifespan=lifespan,
        description=(
            "Self-hosted real-time voice agents. Every `/v1` endpoint needs "
            "`Authorization: Bearer <API key>`; errors share one body, "
            '`{"error": {"type", "code", "message", "param"}}`. '
            "Conversations run over the WebSocket in a session's `websocket_url` "
            "(see docs/protocol.md)."
        ),
    )
    app.state.parley = state
    install_error_handlers(app)
    app.add_middleware(JsonBodyCheckMiddleware)  # inside the body limit, which bounds it
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.limits.max_body_bytes)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> JSONResponse:
        """200 once the models are loaded; 503 before (``loading``) and while the replica
        drains after SIGTERM (``draining``: a load balancer stops routing to it). With the
        conversations running, the most this replica holds (``capacity``, null: no limit)
        and its ``replica_id``."""
        body = {
            "active_sessions": len(state.live),
            "capacity": state.capacity.limit or None,
            "replica_id": settings.cluster.replica_id,
            "draining": state.draining,
        }
        if state.draining:
            return JSONResponse({"status": "draining", **body}, 503)
        if state.models_ready.is_set():
            return JSONResponse({"status": "ok", **body})
        return JSONResponse({"status": "loading", **body}, 503)

    @app.get(
        "/metrics",
        tags=["health"],
        response_class=Response,
        dependencies=[] if settings.metrics_public else [Depends(require_admin)],
    )
    async def metrics() -> Response:
        """Prometheus metrics. Needs an admin API key unless ``PARLEY_METRICS_PUBLIC``."""
        return Response(state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(agents.router)
    app.include_router(policies.router)
    app.include_router(knowledge.router)
    app.include_router(sessions.router)
    app.include_router(voices.router)
    app.include_router(languages_api.router)
    app.include_router(keys.router)
    app.include_router(cluster.router)
    app.include_router(providers_api.router)
    app.include_router(speech.router)
    app.include_router(ws_native.router)
    app.include_router(realtime.router)
    app.include_router(twilio.router)
    app.include_router(web.router)
    socketio_agent.mount(app)
    web.mount_dashboard(app)  # last: it serves everything no route above claims
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = agents.list_providers_in_schema(generate(), state)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
