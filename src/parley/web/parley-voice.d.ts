// TypeScript declarations for parley-voice.js (served at /v1/voice/sdk.js). See docs/sdk.md.

/** The error codes shared by every Parley protocol. */
export type ParleyErrorCode =
  | 'authentication_error'
  | 'authorization_error'
  | 'validation_error'
  | 'not_found_error'
  | 'session_error'
  | 'audio_error'
  | 'rate_limit_error'
  | 'internal_error';

export type ParleyStatus = 'disconnected' | 'connecting' | 'connected';

/** Every error the SDK reports, as an `error` event or a rejected start(). */
export declare class ParleyVoiceError extends Error {
  constructor(code: ParleyErrorCode, message: string, options?: { name?: string; cause?: unknown; closeCode?: number });
  /** One of the shared codes. */
  code: ParleyErrorCode;
  /** 'ParleyVoiceError', or the browser's DOMException name for microphone failures
   *  ('NotAllowedError', 'NotFoundError', 'NotReadableError', ...). */
  name: string;
  /** The WebSocket close code, when the error came with a closed socket. */
  closeCode?: number;
  cause?: unknown;
}

/** How a dropped conversation is resumed (docs/sdk.md, "Reconnection"): attempt k (from 1)
 *  waits a random time in [0, min(maxDelayMs, baseDelayMs * 2^(k-1))] (full jitter), until
 *  `windowMs` has passed since the drop (a draining server's `resume_within_s` wins). */
export interface ReconnectOptions {
  /** At most this many attempts per drop (default 64; 0 turns reconnecting off). */
  maxAttempts?: number;
  /** The first attempt's delay ceiling (default 250 ms), doubled each attempt. */
  baseDelayMs?: number;
  /** The largest delay ceiling (default 4000 ms). */
  maxDelayMs?: number;
  /** Give up this long after the drop (default 30 000 ms, the server's resume window). */
  windowMs?: number;
}

export interface ParleyVoiceOptions {
  /** The `websocket_url` of a session created server-side (POST /v1/agents/{id}/sessions).
   *  Recommended: no API key reaches the browser. Its token works once. */
  sessionUrl?: string;
  /** Returns a fresh `websocket_url` (your backend creates a session). Used for every
   *  new conversation after the first `sessionUrl` (or for all, without `sessionUrl`):
   *  start() after stop(). A drop is resumed with the server's resume token instead. */
  getSessionUrl?: () => string | Promise<string>;
  /** A key (a publishable `pk_live_...` one in a browser) with `agentId`. */
  apiKey?: string;
  agentId?: string;
  /** The conversation endpoint, e.g. `wss://voice.example.com/v1/voice/conversation`
   *  (an http(s):// or bare origin URL is accepted). Default: this page's origin. */
  wsUrl?: string;
  /** Extra query parameters: the turn settings `vad_threshold`,
   *  `end_of_turn_silence_ms`, `interrupt_threshold`, `turn_detection`. */
  query?: Record<string, string | number>;
  /** How a dropped conversation is resumed; `false` turns reconnecting off. */
  reconnect?: ReconnectOptions | false;
  /** Keepalive ping period (default 10 000 ms). */
  pingIntervalMs?: number;
  /** Overrides of the microphone constraints (echoCancellation, noiseSuppression and
   *  autoGainControl are on by default; deviceId picks a microphone). */
  audioConstraints?: MediaTrackConstraints;
}

export interface TranscriptInfo {
  /** false for the agent's live captions, true for a whole turn (users: always true). */
  final: boolean;
  turnId: string | null;
  /** The language of the turn: detected for the user's, answered in for the agent's
   *  (null when unknown, e.g. live captions). */
  language: string | null;
  /** How sure speech-to-text was of a user turn's language (0-1), else null. */
  languageProbability: number | null;
}

export interface TurnMetrics {
  turnId: string | null;
  /** Milliseconds per stage (docs/protocol.md, "Metrics"); null where it does not apply. */
  latencyMs: Record<string, number | null>;
}

export interface ParleyVoiceStats {
  /** `audio` messages sent, and the milliseconds of microphone audio in them. */
  chunksSent: number;
  audioMsSent: number;
  /** Agent `audio` messages received, and their milliseconds. */
  chunksReceived: number;
  audioMsReceived: number;
  /** Milliseconds of agent audio that have been played out. */
  msPlayed: number;
  /** `playback` progress reports sent. */
  playbackReports: number;
  /** Successful reconnects (resumes) after a drop. */
  reconnects: number;
}

/** A server message without a dedicated event (speech_started, speech_stopped,
 *  agent_turn_start, agent_turn_end, user_turn_dropped, tool_call, tool_run, citations,
 *  transfer, safety, turn_prediction, control_ack, session_ended, ...). The interfaces below type some of
 *  them: check `type`, then cast, e.g. `(m as ParleyCitationsMessage).citations`. */
export interface ParleyMessage {
  type: string;
  [key: string]: unknown;
}

/** Why a conversation ended (`session_ended`'s `reason`; docs/protocol.md). */
export type ParleyEndReason =
  | 'client'
  | 'max_turns'
  | 'expired'
  | 'agent_deleted'
  | 'idle'
  | 'error'
  | 'policy_violation'
  | 'loop_detected'
  /** The agent's `end_call` tool ended the call after its goodbye. */
  | 'agent_ended'
  /** The agent's `transfer_call` tool handed the caller on (see `transfer`). */
  | 'transferred'
  /** The server is draining (with `resumable: true` the SDK resumes elsewhere). */
  | 'server_shutdown';

/** `session_ended`: the conversation is over; the socket closes next. One with
 *  `resumable: true` is not final: the SDK resumes the conversation and does not pass
 *  it on (unless reconnecting is off, or the resume fails in the end). */
export interface ParleySessionEndedMessage extends ParleyMessage {
  type: 'session_ended';
  reason: ParleyEndReason;
  resumable?: boolean;
  resume_within_s?: number;
}

/** `safety`: content safety changed or flagged the words of `role` in a turn before they
 *  were spoken or shown. `detail` names the rule, never the words (docs/safety.md). */
export interface ParleySafetyMessage extends ParleyMessage {
  type: 'safety';
  turn_id: string;
  policy_id: string | null;
  kind: 'blocked_term' | 'pii' | 'criterion' | 'loop';
  action: 'replaced' | 'redacted' | 'blocked' | 'flagged' | 'steered' | 'said' | 'ended';
  detail: string;
  role: 'user' | 'agent';
}

/** A knowledge-base passage an agent turn was given to answer from. */
export interface ParleyCitation {
  chunk_id: number;
  document_id: string;
  knowledge_base_id: string;
  /** The document's title and the heading the passage sits under. */
  title: string;
  heading: string;
  /** Its retrieval score (fused reciprocal rank; higher is better). */
  score: number;
}

/** `citations`: the passages of the agent's knowledge bases that agent turn `turn_id`
 *  answers from (also stored with the turn: GET /v1/sessions/{id}). */
export interface ParleyCitationsMessage extends ParleyMessage {
  type: 'citations';
  turn_id: string;
  citations: ParleyCitation[];
}

/** `tool_run`: the server ran a tool of agent turn `turn_id` (a webhook or a built-in);
 *  its result went to the LLM, not to the client. */
export interface ParleyToolRunMessage extends ParleyMessage {
  type: 'tool_run';
  turn_id: string;
  call_id: string;
  name: string;
  status: 'ok' | 'error';
  duration_ms: number;
}

/** `transfer`: the agent hands the caller to `phone_number` (`destination` names it).
 *  Outside Twilio calls the client carries it out; the session then ends (`transferred`). */
export interface ParleyTransferMessage extends ParleyMessage {
  type: 'transfer';
  turn_id: string;
  destination: string;
  phone_number: string;
}

/** `turn_prediction`: the end-of-turn model's verdict on a pause in the user's speech
 *  (agents with `turn_detection: "model"`; docs/protocol.md). `wait_ms` is the silence,
 *  from the end of speech, that now ends the turn. */
export interface ParleyTurnPredictionMessage extends ParleyMessage {
  type: 'turn_prediction';
  probability: number;
  finished: boolean;
  wait_ms: number;
  took_ms: number;
}

/** The agent now answers in `language` (an agent with `language: "auto"` followed the
 *  caller); also delivered through the `message` event. */
export interface ParleyLanguageChangedMessage extends ParleyMessage {
  type: 'language_changed';
  language: string;
  previous: string;
  turn_id: string;
  probability: number;
}

export interface ParleyVoiceEvents {
  transcript: (role: 'user' | 'agent', text: string, info: TranscriptInfo) => void;
  connected: (conversationId: string) => void;
  disconnected: (code: number, reason: string) => void;
  status: (status: ParleyStatus) => void;
  error: (error: ParleyVoiceError) => void;
  interruption: (turnId: string | null) => void;
  /** Every server message without a dedicated event, e.g. `citations`, `tool_run`,
   *  `transfer`, `safety`, `session_ended` (typed above as Parley*Message). */
  message: (message: ParleyMessage) => void;
  metrics: (turn: TurnMetrics) => void;
  agentSpeaking: (speaking: boolean) => void;
  /** The socket dropped: the next attempt (from 1), the delay before it, and why
   *  (`close_1006`, `close_1013`, `server_shutdown`, ...). */
  reconnecting: (attempt: number, delayMs: number, reason: string) => void;
  /** The conversation was resumed: the same id, after `attempts` tries (no `connected`
   *  event then). */
  reconnected: (conversationId: string, attempts: number) => void;
}

export declare class ParleyVoice {
  constructor(options: ParleyVoiceOptions);
  static readonly version: string;
  static readonly ParleyVoiceError: typeof ParleyVoiceError;
  /** Secure context, Web Audio with AudioWorklet, getUserMedia and WebSocket. */
  static isSupported(): boolean;

  readonly status: ParleyStatus;
  readonly conversationId: string | null;
  readonly muted: boolean;
  readonly agentSpeaking: boolean;
  readonly stats: ParleyVoiceStats;

  /** Open the microphone and the conversation; call it from a user gesture. Resolves with
   *  the conversation id when the agent is ready. */
  start(): Promise<string>;
  /** End now: stops playback, releases the microphone, sends `end`, closes the socket. */
  stop(): void;
  /** Listen; returns a function that removes the listener. */
  on<E extends keyof ParleyVoiceEvents>(event: E, listener: ParleyVoiceEvents[E]): () => void;
  off<E extends keyof ParleyVoiceEvents>(event: E, listener: ParleyVoiceEvents[E]): void;
  /** A typed user turn. Throws a `session_error` when not connected. */
  sendText(text: string): void;
  mute(): void;
  unmute(): void;
  /** Stop the agent: drops queued audio here and sends the `interrupt` control. */
  interrupt(): void;
}

export default ParleyVoice;

type ParleyVoiceClass = typeof ParleyVoice;

declare global {
  /** Set by a classic <script> or by `import '/v1/voice/sdk.js'`. */
  // eslint-disable-next-line no-var
  var ParleyVoice: ParleyVoiceClass;
}
