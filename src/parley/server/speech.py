"""OpenAI-compatible speech endpoints, served by this server's own models (docs/speech-api.md):
``POST /v1/audio/transcriptions`` (speech to text) and ``POST /v1/audio/speech`` (text to
speech, streamed clause by clause as it is synthesized)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, Literal

import pydantic
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field, field_validator

from parley.audio.decode import AudioTooLongError, decode_audio
from parley.audio.levels import is_silent, split_at_pauses
from parley.audio.pcm import BYTES_PER_SAMPLE, SAMPLE_RATE, duration_ms
from parley.audio.resample import StreamResampler
from parley.audio.wav import WAV_HEADER_BYTES, wav_header
from parley.core.clauses import ClauseAggregator
from parley.errors import AudioError, PayloadTooLargeError, ValidationError
from parley.languages import base_code
from parley.protocols.json_frames import first_error
from parley.providers.pool import DEFAULTS, MULTILINGUAL_STT, ProviderPool
from parley.providers.stt.base import SpeechToText
from parley.providers.tts.base import TextToSpeech, Voice
from parley.server.auth import ApiKey, State, get_state
from parley.server.errors import error_responses
from parley.server.uploads import limit_body, parse_form
from parley.server.validation import NoBool, NoNull
from parley.server.voices import spoken_text

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 25 * 1024 * 1024
"""Largest transcription upload (OpenAI's limit, 25 MB); a larger body is a 413."""
MAX_AUDIO_SECONDS = 600.0
"""Longest audio a transcription takes; longer is a 413."""
STT_PIECE_MS = 25_000.0
"""Audio goes to the STT in pieces of at most this (Whisper's window is 30 s)..."""
STT_PAUSE_SEARCH_MS = 5_000.0
"""...each cut at the quietest moment of its last 5 s."""
MAX_SPEECH_BODY_BYTES = 64 * 1024
"""Largest ``/v1/audio/speech`` body (4096 characters fit, even escaped)."""
MAX_INPUT_CHARS = 4096
PCM_RATE = 24_000
"""Sample rate of the ``pcm`` response format (as OpenAI's: PCM16 LE mono, 24 kHz)."""
LANGUAGE_CODE = re.compile(r"^[A-Za-z]{2,3}$")
FORMAT_TYPES = {"wav": "audio/wav", "pcm": "audio/pcm"}

_DECODERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="audio-decode")
"""Uploads are decoded two at a time, so a burst of them cannot take every core."""

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def _router(endpoint: str, max_body_bytes: int) -> APIRouter:
    """The router of ``/v1/audio/<endpoint>``: its body is limited to ``max_body_bytes``
    and its refusals are counted in ``parley_speech_requests`` (successes by the handler)."""

    class SpeechRoute(APIRoute):
        def get_route_handler(self) -> Handler:
            handler = super().get_route_handler()

            async def run(request: Request) -> Response:
                try:
                    return await handler(limit_body(request, max_body_bytes))
                except Exception as exc:
                    status = getattr(exc, "http_status", getattr(exc, "status_code", 500))
                    if isinstance(exc, RequestValidationError):
                        status = 422
                    outcome = "rejected" if status < 500 else "error"
                    get_state(request).metrics.speech_request(endpoint, outcome)
                    raise

            return run

    return APIRouter(prefix="/v1/audio", tags=["audio"], route_class=SpeechRoute)


async def _stt(pool: ProviderPool, model: str, language: str | None) -> SpeechToText:
    """The STT provider ``model`` names; else, for a language other than English, the
    multilingual model (when installed and the default is the built-in English one);
    else the default one."""
    if model in pool.names("stt"):
        stt: SpeechToText = await pool.load(model)
        return stt
    english = language is None or base_code(language) == "en"
    if not english and pool.defaults["stt"] == DEFAULTS["stt"] and pool.available(MULTILINGUAL_STT):
        stt = await pool.load(MULTILINGUAL_STT)
        return stt
    return pool.stt


async def _tts(pool: ProviderPool, model: str) -> TextToSpeech:
    """The TTS provider ``model`` names, or the default one."""
    tts: TextToSpeech = await pool.load(model) if model in pool.names("tts") else pool.tts
    return tts


# ------------------------------------------------------------------ transcriptions

_MODEL_DOC = "any name; a provider of this server (`{kind}:...`) selects it, others the default"


class TranscriptionForm(BaseModel):
    """The text fields of a transcription request (the audio is the ``file`` field).
    Other OpenAI fields (``timestamp_granularities[]``, ``include[]``, ...) are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(max_length=200, description=_MODEL_DOC.format(kind="stt"))
    language: str | NoNull = Field(
        None,
        description="ISO-639-1 code of the speech (a hint)",
        json_schema_extra={"pattern": LANGUAGE_CODE.pattern},
    )
    response_format: Literal["json", "text", "verbose_json"] = "json"
    temperature: float = Field(0.0, ge=0.0, le=1.0, description="accepted and ignored")
    prompt: str | NoNull = Field(None, max_length=4096, description="accepted and ignored")
    stream: bool = Field(False, description="only false: transcripts are not streamed")

    @field_validator("language")
    @classmethod
    def _language_code(cls, value: str | None) -> str | None:
        if value is not None and not LANGUAGE_CODE.match(value):
            raise ValueError("must be a language code such as 'en'")
        return value.lower() if value else value


def _form_body() -> dict[str, Any]:
    """The OpenAPI request body of a transcription: the form fields plus ``file``."""
    schema = TranscriptionForm.model_json_schema()
    audio = "the audio: WAV, FLAC, MP3, Ogg, WebM or MP4/M4A; at most 25 MB and 600 s"
    schema["properties"] = {
        "file": {"type": "string", "format": "binary", "description": audio},
        **schema["properties"],
    }
    schema["required"] = ["file", *schema.get("required", [])]
    return {"required": True, "content": {"multipart/form-data": {"schema": schema}}}


class Transcription(BaseModel):
    """``response_format=json``: the text."""

    text: str


class TranscriptionVerbose(BaseModel):
    """``response_format=verbose_json``: the text, its language and the audio's duration."""

    task: Literal["transcribe"] = "transcribe"
    language: str = Field(description="ISO-639-1 code ('und' when the STT cannot tell)")
    duration: float = Field(description="seconds of audio")
    text: str
    segments: list[dict[str, Any]] = Field(default_factory=list, description="always empty")


def _decode(data: bytes) -> bytes:
    try:
        return decode_audio(data, MAX_AUDIO_SECONDS)
    except AudioTooLongError as exc:
        raise PayloadTooLargeError(f"file: {exc.message}", param="file") from None
    except AudioError as exc:
        raise ValidationError(f"file: {exc.message}", param="file") from None


transcriptions = _router("transcriptions", MAX_UPLOAD_BYTES)


@transcriptions.post(
    "/transcriptions",
    response_model=Transcription | TranscriptionVerbose,
    responses={
        200: {
            "description": "`json` and `verbose_json`: JSON; `text`: plain text",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **error_responses(403, 413, 503),
    },
    openapi_extra={"requestBody": _form_body()},
)
async def transcribe(request: Request, state: State, _key: ApiKey) -> Response:
    """Transcribe an audio file with this server's STT (OpenAI's
    ``/v1/audio/transcriptions``; a multipart form)."""
    pool = state.ready_providers()
    form = parse_form(await request.body(), request.headers.get("content-type"))
    try:
        fields = TranscriptionForm.model_validate(
            {name: form[name].text() for name in TranscriptionForm.model_fields if name in form}
        )
    except pydantic.ValidationError as exc:
        raise first_error(exc) from None
    if fields.stream:
        raise ValidationError("stream: streamed transcription is not supported", param="stream")
    if "file" not in form:
        raise ValidationError("file: Field required", param="file")
    stt = await _stt(pool, fields.model, fields.language)
    t0 = time.perf_counter()
    pcm = await asyncio.get_running_loop().run_in_executor(_DECODERS, _decode, form["file"].data)
    language = fields.language
    pieces = split_at_pauses(pcm, STT_PIECE_MS, STT_PAUSE_SEARCH_MS)
    pieces = [p for p in pieces if not is_silent(p)]
    results = [await stt.transcribe(p, language=language or "auto") for p in pieces]
    text = " ".join(r.text.strip() for r in results if r.text.strip())
    seconds = round(duration_ms(pcm, SAMPLE_RATE) / 1000.0, 3)
    state.metrics.speech_request("transcriptions", "ok", seconds)
    log.info(
        "transcribed",
        extra={"audio_s": seconds, "pieces": len(pieces), "ms": (time.perf_counter() - t0) * 1e3},
    )
    if fields.response_format == "text":
        return PlainTextResponse(text)
    if fields.response_format == "verbose_json":
        detected = next((r.language for r in results if r.language), language)
        verbose = TranscriptionVerbose(language=detected or "und", duration=seconds, text=text)
        return JSONResponse(verbose.model_dump())
    return JSONResponse(Transcription(text=text).model_dump())


# ------------------------------------------------------------------ speech


class VoiceRef(BaseModel):
    """A voice given as an object, as OpenAI's custom voices are."""

    id: str = Field(max_length=200)


class SpeechRequest(BaseModel):
    """Text to speak (OpenAI's ``/v1/audio/speech`` body). Unknown fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(max_length=200, description=_MODEL_DOC.format(kind="tts"))
    input: str = Field(min_length=1, max_length=MAX_INPUT_CHARS)
    voice: str | VoiceRef = Field(
        description="a voice id of `GET /v1/voices` (OpenAI's names are unknown here)"
    )
    response_format: Literal["wav", "pcm"] = Field(
        "wav",
        description="`wav` (PCM16 mono at the voice's rate, streamed: sizes 0xFFFFFFFF) or "
        "`pcm` (raw PCM16 LE mono at 24 kHz); no mp3, opus, aac or flac",
    )
    speed: Annotated[float, NoBool] = Field(
        1.0, ge=0.25, le=4.0, description="only 1.0: the voices cannot change speed"
    )
    instructions: str | NoNull = Field(None, max_length=4096, description="ignored")
    stream_format: Literal["audio"] = Field("audio", description="only `audio` (no SSE)")


def clauses(text: str) -> list[str]:
    """``text`` in the pieces it is synthesized in: a short first clause (the first audio
    comes sooner), then sentences of at most 200 characters."""
    aggregator = ClauseAggregator()
    words = [part for word in re.findall(r"\S+\s*", text) for part in aggregator.push(word)]
    return [*words, *aggregator.flush()]


async def synthesize(
    tts: TextToSpeech, voice: Voice, parts: list[str], response_format: str
) -> AsyncIterator[bytes]:
    """The audio of ``parts`` in ``response_format``, one chunk per synthesized piece."""
    resampler = StreamResampler(voice.sample_rate, PCM_RATE) if response_format == "pcm" else None
    header = wav_header(voice.sample_rate) if response_format == "wav" else b""
    for part in parts:
        async for pcm in tts.synthesize(part, voice_id=voice.id):
            out = resampler.push(pcm) if resampler else pcm
            if out:
                yield header + out
                header = b""
    tail = resampler.push(b"", last=True) if resampler else b""
    if tail or header:
        yield header + tail


speech_router = _router("speech", MAX_SPEECH_BODY_BYTES)


@speech_router.post(
    "/speech",
    response_class=Response,
    responses={
        200: {
            "content": {"audio/wav": {}, "audio/pcm": {}},
            "description": "the audio, streamed as it is synthesized",
        },
        **error_responses(403, 413, 503),
    },
)
async def speech(body: SpeechRequest, state: State, _key: ApiKey) -> Response:
    """Speak ``input`` with one of this server's voices (OpenAI's ``/v1/audio/speech``)."""
    pool = state.ready_providers()
    tts = await _tts(pool, body.model)
    voice_id = body.voice if isinstance(body.voice, str) else body.voice.id
    voice = next((v for v in tts.voices() if v.id == voice_id), None)
    if voice is None:
        known = ", ".join(v.id for v in tts.voices())
        raise ValidationError(
            f"voice: unknown voice {voice_id!r}; available: {known}", param="voice"
        )
    if body.speed != 1.0:
        raise ValidationError("speed: this server's voices speak at speed 1.0 only", param="speed")
    parts = clauses(spoken_text(body.input, "input"))
    if not parts:
        raise ValidationError("input: must contain something to say", param="input")
    audio = synthesize(tts, voice, parts, body.response_format)
    first = await anext(audio, b"")  # a failure before any audio is still an error response
    if body.response_format == "pcm":
        seconds_per_byte, header = 1 / (PCM_RATE * BYTES_PER_SAMPLE), 0
    else:
        seconds_per_byte, header = 1 / (voice.sample_rate * BYTES_PER_SAMPLE), WAV_HEADER_BYTES
    metrics = state.metrics

    async def counted() -> AsyncIterator[bytes]:
        """The audio; then the request is counted with the seconds of audio sent."""
        sent, outcome = -header, "aborted"
        try:
            yield first
            sent += len(first)
            async for chunk in audio:
                yield chunk
                sent += len(chunk)
            outcome = "ok"
        except Exception:
            outcome = "error"
            log.exception("speech synthesis failed while streaming")
            raise  # the client sees a cut-off response, not a short one that looks whole
        finally:
            metrics.speech_request("speech", outcome, max(0, sent) * seconds_per_byte)

    return StreamingResponse(counted(), media_type=FORMAT_TYPES[body.response_format])


router = APIRouter()
router.include_router(transcriptions)
router.include_router(speech_router)
