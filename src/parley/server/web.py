"""Static files: the browser SDK at ``/v1/voice/sdk.js`` and the dashboard at ``/``."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
SDK_FILE = WEB_DIR / "parley-voice.js"
SDK_TYPES_FILE = WEB_DIR / "parley-voice.d.ts"
DASHBOARD_DIR = WEB_DIR / "dashboard"

router = APIRouter(tags=["web"])
_NO_STALE = {"Cache-Control": "no-cache"}


@router.get("/v1/voice/sdk.js", include_in_schema=False)
async def sdk() -> FileResponse:
    """The single-file browser SDK (global ``ParleyVoice``, CommonJS or ES module)."""
    return FileResponse(SDK_FILE, media_type="text/javascript", headers=_NO_STALE)


@router.get("/v1/voice/sdk.d.ts", include_in_schema=False)
async def sdk_types() -> FileResponse:
    """TypeScript declarations for the SDK."""
    return FileResponse(SDK_TYPES_FILE, media_type="application/typescript", headers=_NO_STALE)


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard at ``/`` (after every API route, so it never shadows one)."""
    app.mount("/", StaticFiles(directory=DASHBOARD_DIR, html=True), name="dashboard")
