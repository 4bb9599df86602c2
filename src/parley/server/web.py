"""Static files: the browser SDK at ``/v1/voice/sdk.js`` and the dashboard at ``/``."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
SDK_FILE = WEB_DIR / "parley-voice.js"
SDK_TYPES_FILE = WEB_DIR / "parley-voice.d.ts"
DASHBOARD_DIR = WEB_DIR / "dashboard"

router = APIRouter(tags=["web"])
#: The SDK files are public code: any origin may load them (a cross-origin module import
#: needs CORS), and browsers revalidate them so an upgraded server is picked up.
_SDK_HEADERS = {"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"}
#: Appended to the SDK to make its ES-module form: the same code, with real exports.
MODULE_EXPORTS = """
const ParleyVoice = globalThis.ParleyVoice;
export default ParleyVoice;
export { ParleyVoice };
export const ParleyVoiceError = ParleyVoice.ParleyVoiceError;
"""


@router.api_route("/v1/voice/sdk.js", methods=["GET", "HEAD"], include_in_schema=False)
async def sdk() -> FileResponse:
    """The single-file browser SDK (global ``ParleyVoice``, CommonJS or ES module)."""
    return FileResponse(SDK_FILE, media_type="text/javascript", headers=_SDK_HEADERS)


@router.api_route("/v1/voice/sdk.mjs", methods=["GET", "HEAD"], include_in_schema=False)
async def sdk_module() -> Response:
    """The SDK as an ES module: ``import ParleyVoice from '/v1/voice/sdk.mjs'``."""
    source = SDK_FILE.read_text(encoding="utf-8") + MODULE_EXPORTS
    return Response(source, media_type="text/javascript", headers=_SDK_HEADERS)


@router.api_route("/v1/voice/sdk.d.ts", methods=["GET", "HEAD"], include_in_schema=False)
async def sdk_types() -> FileResponse:
    """TypeScript declarations for the SDK."""
    return FileResponse(SDK_TYPES_FILE, media_type="application/typescript", headers=_SDK_HEADERS)


def mount_dashboard(app: FastAPI) -> None:
    """Serve the dashboard at ``/`` (after every API route, so it never shadows one)."""
    app.mount("/", StaticFiles(directory=DASHBOARD_DIR, html=True), name="dashboard")
