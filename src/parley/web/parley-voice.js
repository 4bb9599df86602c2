/*!
 * ParleyVoice: the browser SDK for Parley voice agents (native WebSocket protocol v1).
 * One file, no dependencies. Load it as a classic <script> (global `ParleyVoice`),
 * with require() (CommonJS), or with `import '/v1/voice/sdk.js'` and then
 * `globalThis.ParleyVoice` (an ES module side-effect import). See docs/sdk.md.
 * License: Apache-2.0.
 */
(function (root, factory) {
  'use strict';
  var ParleyVoice = factory();
  if (typeof module === 'object' && module && typeof module.exports === 'object') {
    module.exports = ParleyVoice;
    module.exports.default = ParleyVoice;
    module.exports.ParleyVoice = ParleyVoice;
  } else if (root) {
    root.ParleyVoice = ParleyVoice; // classic <script>, or `import '/v1/voice/sdk.js'`
  }
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  var VERSION = '1.0.0';
  var WIRE_RATE = 16000; // PCM16 mono 16 kHz both ways
  var CHUNK_SAMPLES = 512; // 32 ms per `audio` message, one VAD frame
  var REPORT_INTERVAL_MS = 250; // `playback` reports while agent audio plays
  var PLAY_LEAD_S = 0.04; // scheduling margin for the first chunk of a turn
  var CONVERSATION_PATH = '/v1/voice/conversation';
  var STATUSES = ['disconnected', 'connecting', 'connected'];
  var EVENTS = [
    'transcript', 'connected', 'disconnected', 'status', 'error', 'interruption',
    'message', 'metrics', 'agentSpeaking', 'reconnecting', 'reconnected'
  ];
  // Closes after which the conversation is resumed (docs/sdk.md, "Reconnection"): going
  // away, no status, abnormal (a network drop), server fault, restart/drain, capacity, gateway.
  var RETRY_CLOSE_CODES = [1001, 1005, 1006, 1011, 1012, 1013, 1014];
  var MAX_TOKEN_CHARS = 4096;
  var MAX_WINDOW_MS = 3600000;

  // Runs on the audio thread: mixes the microphone to mono, low-passes it below 8 kHz
  // (windowed-sinc FIR), resamples it to 16 kHz and posts PCM16 chunks.
  var CAPTURE_WORKLET = [
    'class ParleyCapture extends AudioWorkletProcessor {',
    '  constructor(options) {',
    '    super();',
    '    var o = (options && options.processorOptions) || {};',
    '    var outRate = o.outRate || 16000;',
    '    this.chunk = o.chunkSamples || 512;',
    '    this.step = sampleRate / outRate;',
    '    var ratio = this.step;',
    '    var half = ratio > 1 ? Math.ceil(16 * ratio) : 0;',
    '    var n = 2 * half + 1;',
    '    var h = new Float32Array(n);',
    '    var fc = ratio > 1 ? 0.45 / ratio : 0.5;',
    '    var sum = 0;',
    '    for (var k = 0; k < n; k++) {',
    '      var m = k - half;',
    '      var sinc = m === 0 ? 2 * fc : Math.sin(2 * Math.PI * fc * m) / (Math.PI * m);',
    '      var w = n === 1 ? 1 : 0.42 - 0.5 * Math.cos(2 * Math.PI * k / (n - 1)) + 0.08 * Math.cos(4 * Math.PI * k / (n - 1));',
    '      h[k] = sinc * w;',
    '      sum += h[k];',
    '    }',
    '    for (var j = 0; j < n; j++) h[j] /= sum;',
    '    this.h = h;',
    '    this.n = n;',
    '    this.hist = new Float32Array(2 * n);',
    '    this.p = 0;',
    '    this.i = 0;',
    '    this.t = 0;',
    '    this.prev = 0;',
    '    this.out = new Int16Array(this.chunk);',
    '    this.len = 0;',
    '  }',
    '  process(inputs) {',
    '    var input = inputs[0];',
    '    if (!input || input.length === 0 || !input[0]) return true;',
    '    var channels = input.length, frames = input[0].length;',
    '    var h = this.h, n = this.n, hist = this.hist;',
    '    for (var f = 0; f < frames; f++) {',
    '      var x = 0;',
    '      for (var c = 0; c < channels; c++) x += input[c][f];',
    '      x /= channels;',
    '      this.p = (this.p + 1) % n;',
    '      hist[this.p] = x;',
    '      hist[this.p + n] = x;',
    '      var y = 0, base = this.p + n;',
    '      for (var k = 0; k < n; k++) y += h[k] * hist[base - k];',
    '      while (this.t <= this.i) {',
    '        var v = this.prev + (y - this.prev) * (this.t - (this.i - 1));',
    '        v = v > 1 ? 1 : v < -1 ? -1 : v;',
    '        this.out[this.len++] = v < 0 ? Math.round(v * 32768) : Math.round(v * 32767);',
    '        if (this.len === this.chunk) {',
    '          this.port.postMessage(this.out, [this.out.buffer]);',
    '          this.out = new Int16Array(this.chunk);',
    '          this.len = 0;',
    '        }',
    '        this.t += this.step;',
    '      }',
    '      this.prev = y;',
    '      this.i += 1;',
    '    }',
    '    return true;',
    '  }',
    '}',
    "registerProcessor('parley-capture', ParleyCapture);"
  ].join('\n');

  /** An error with one of the shared Parley error codes. */
  class ParleyVoiceError extends Error {
    constructor(code, message, options) {
      super(message);
      var o = options || {};
      this.name = o.name || 'ParleyVoiceError';
      this.code = code;
      if (o.cause !== undefined) this.cause = o.cause;
      if (o.closeCode !== undefined) this.closeCode = o.closeCode;
    }
  }

  function toBase64(int16) {
    var bytes = new Uint8Array(int16.buffer, int16.byteOffset, int16.byteLength);
    var parts = [];
    for (var i = 0; i < bytes.length; i += 0x8000) {
      parts.push(String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000)));
    }
    return btoa(parts.join(''));
  }

  function pcm16ToFloat(b64) {
    var bin = atob(b64);
    var n = bin.length >> 1;
    var out = new Float32Array(n);
    for (var i = 0; i < n; i++) {
      var v = bin.charCodeAt(2 * i) | (bin.charCodeAt(2 * i + 1) << 8);
      if (v >= 0x8000) v -= 0x10000;
      out[i] = v / 32768;
    }
    return out;
  }

  function defaultWsUrl() {
    if (typeof location === 'undefined' || !location.host) return null;
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + CONVERSATION_PATH;
  }

  function normalizeWsUrl(url) {
    var u = String(url).replace(/^http(s?):\/\//i, 'ws$1://');
    if (/^wss?:\/\/[^/]+\/?$/i.test(u)) u = u.replace(/\/?$/, CONVERSATION_PATH);
    return u;
  }

  function withQuery(url, params) {
    var keys = Object.keys(params || {}).filter(function (k) {
      return params[k] !== undefined && params[k] !== null;
    });
    if (!keys.length) return url;
    var q = keys.map(function (k) {
      return encodeURIComponent(k) + '=' + encodeURIComponent(String(params[k]));
    }).join('&');
    return url + (url.indexOf('?') >= 0 ? '&' : '?') + q;
  }

  function micError(e) {
    var name = (e && e.name) || 'Error';
    var text = {
      NotAllowedError: 'Microphone permission was denied',
      SecurityError: 'Microphone access is blocked here (a secure context is needed)',
      NotFoundError: 'No microphone was found',
      NotReadableError: 'The microphone could not be opened (is another application using it?)',
      OverconstrainedError: 'The microphone does not support the requested settings'
    }[name] || 'The microphone could not be opened';
    return new ParleyVoiceError('audio_error', text + (e && e.message ? ': ' + e.message : ''), {
      name: name, cause: e
    });
  }

  function noop() {}

  function stoppedError() {
    return new ParleyVoiceError('session_error', 'Stopped before the agent was ready', { name: 'AbortError' });
  }

  function stopTracks(stream) {
    stream.getTracks().forEach(function (t) { t.stop(); });
  }

  function retryable(code) {
    return RETRY_CLOSE_CODES.indexOf(code) >= 0;
  }

  // The conversation URL with the resume token in place of the credentials; the turn
  // settings of the query string stay (a resume does not keep them).
  function resumeUrl(url, token) {
    var parts = String(url).split('#')[0].split('?');
    var kept = (parts[1] || '').split('&').filter(function (pair) {
      return pair && ['api_key', 'agent_id', 'token', 'resume_token'].indexOf(pair.split('=')[0]) < 0;
    });
    return parts[0] + '?' + kept.concat('resume_token=' + encodeURIComponent(token)).join('&');
  }

  function positive(value, fallback) {
    return typeof value === 'number' && value >= 0 ? value : fallback;
  }

  /**
   * A voice conversation with a Parley agent in the browser.
   * `new ParleyVoice({sessionUrl})` (recommended) or `new ParleyVoice({apiKey, agentId, wsUrl})`.
   */
  class ParleyVoice {
    constructor(options) {
      var o = options || {};
      if (!o.sessionUrl && !o.getSessionUrl && !(o.apiKey && o.agentId)) {
        throw new ParleyVoiceError(
          'validation_error',
          'ParleyVoice needs {sessionUrl} (or getSessionUrl), or {apiKey, agentId}'
        );
      }
      if (o.getSessionUrl !== undefined && typeof o.getSessionUrl !== 'function') {
        throw new ParleyVoiceError('validation_error', 'getSessionUrl must be a function');
      }
      var rc = o.reconnect === false ? { maxAttempts: 0 } : o.reconnect || {};
      this._opts = {
        apiKey: o.apiKey || null,
        agentId: o.agentId || null,
        wsUrl: o.wsUrl ? normalizeWsUrl(o.wsUrl) : null,
        sessionUrl: o.sessionUrl || null,
        getSessionUrl: o.getSessionUrl || null,
        query: o.query || null,
        pingIntervalMs: o.pingIntervalMs > 0 ? o.pingIntervalMs : 10000,
        audioConstraints: o.audioConstraints || null,
        reconnect: {
          maxAttempts: Math.min(positive(rc.maxAttempts, 64), 10000),
          baseDelayMs: positive(rc.baseDelayMs, 250),
          maxDelayMs: positive(rc.maxDelayMs, 4000),
          windowMs: Math.min(positive(rc.windowMs, 30000), MAX_WINDOW_MS)
        }
      };
      if (!this._opts.sessionUrl && !this._opts.getSessionUrl && !this._opts.wsUrl) {
        this._opts.wsUrl = defaultWsUrl();
        if (!this._opts.wsUrl) {
          throw new ParleyVoiceError('validation_error', 'wsUrl is needed outside a web page');
        }
      }
      this._listeners = {};
      this._status = 'disconnected';
      this._conversationId = null;
      this._muted = false;
      this._speaking = false;
      this._sessionUrlUsed = false;
      this._gen = 0; // bumped by stop(): callbacks of an older generation do nothing
      this._ws = null;
      this._pending = null; // {resolve, reject} of the start() in flight
      this._audio = null; // {ctx, stream, source, node, out}
      this._play = null; // the agent turn being played: {turnId, ledger, ended, reported}
      this._sources = []; // scheduled AudioBufferSourceNodes
      this._playNext = 0; // AudioContext time where the next chunk starts
      this._ledger = new Ledger(); // every chunk played since construction (stats)
      this._droppedTurn = null;
      this._resumeToken = null; // from the latest `connected`: the credential of a resume
      this._drop = null; // while reconnecting: {at, windowMs, attempt, reason, code, resume}
      this._socketUrl = null;
      this._timers = { ping: null, report: null, reconnect: null };
      this._lastHeard = 0;
      this._stats = {
        chunksSent: 0, audioMsSent: 0, chunksReceived: 0, audioMsReceived: 0,
        playbackReports: 0, reconnects: 0
      };
    }

    /** 'disconnected' | 'connecting' | 'connected' */
    get status() { return this._status; }
    /** The `ses_...` id of the current (or last) conversation, or null. */
    get conversationId() { return this._conversationId; }
    /** Whether the microphone is muted. */
    get muted() { return this._muted; }
    /** Whether agent audio is playing (or queued to play) now. */
    get agentSpeaking() { return this._speaking; }
    /** Counters since construction (a fresh copy each read). */
    get stats() {
      var s = Object.assign({}, this._stats);
      s.msPlayed = Math.round(this._ledger.played(this._now()));
      return s;
    }

    /** Listen to an event; returns a function that removes the listener. */
    on(event, cb) {
      if (EVENTS.indexOf(event) < 0) throw new ParleyVoiceError('validation_error', 'Unknown event ' + event);
      if (typeof cb !== 'function') throw new ParleyVoiceError('validation_error', 'The listener must be a function');
      (this._listeners[event] = this._listeners[event] || []).push(cb);
      var self = this;
      return function () { self.off(event, cb); };
    }

    /** Remove a listener added with on(). */
    off(event, cb) {
      var list = this._listeners[event];
      if (!list) return;
      var i = list.indexOf(cb);
      if (i >= 0) list.splice(i, 1);
    }

    /**
     * Open the microphone and the conversation. Call it from a user gesture (a click).
     * Resolves with the conversation id once the agent is ready.
     */
    start() {
      if (this._status === 'connecting') {
        return Promise.reject(new ParleyVoiceError('session_error', 'Already connecting'));
      }
      if (this._status === 'connected') {
        return Promise.reject(new ParleyVoiceError('session_error', 'Already connected'));
      }
      var self = this;
      var gen = ++this._gen;
      this._resumeToken = this._drop = null; // a new conversation
      this._setStatus('connecting');
      var ctx = null;
      var ready = new Promise(function (resolve, reject) {
        self._pending = { resolve: resolve, reject: reject };
      });
      ready.catch(noop); // stop() may reject it before anyone waits on it
      // The AudioContext is created before any await, while the user gesture still counts.
      try {
        ctx = this._newAudioContext();
      } catch (e) {
        var err = e && e.code ? e : new ParleyVoiceError('audio_error', String(e && e.message || e), { name: 'NotSupportedError', cause: e });
        return Promise.resolve().then(function () { return self._failStart(gen, err); });
      }
      var work = this._openAudio(ctx, gen)
        .then(function () { return self._nextUrl(); })
        .then(function (url) {
          if (gen !== self._gen) return ready;
          self._connect(url, gen);
          return ready;
        });
      return work.then(
        function (id) { return id; },
        function (e) { return self._failStart(gen, e); }
      );
    }

    /** End the conversation now: stop playback, release the microphone, close the socket. */
    stop() {
      this._gen++;
      var ws = this._ws;
      var hadSocket = !!ws;
      this._ws = null;
      this._resumeToken = this._drop = null;
      clearTimeout(this._timers.reconnect);
      this._timers.reconnect = null;
      if (this._pending) {
        var p = this._pending;
        this._pending = null;
        p.reject(stoppedError());
      }
      if (ws) {
        ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
        try {
          if (ws.readyState === 1) ws.send(JSON.stringify({ type: 'end' }));
          ws.close(1000, 'client stopped');
        } catch (e) { /* already closed */ }
      }
      this._dropPlayback();
      this._stopTimers();
      this._releaseAudio();
      var was = this._status;
      this._setStatus('disconnected');
      if (hadSocket && was !== 'disconnected') this._emit('disconnected', 1000, 'client stopped');
    }

    /** Send a typed user turn (it interrupts the agent if the agent is speaking). */
    sendText(text) {
      if (typeof text !== 'string' || !text.trim()) {
        throw new ParleyVoiceError('validation_error', 'sendText needs a non-empty string');
      }
      this._requireConnected('sendText');
      this._send({ type: 'text', text: text });
    }

    /** Stop sending microphone audio (the server is told with `stop_listening`). */
    mute() {
      if (this._muted) return;
      this._muted = true;
      this._setTracksEnabled(false);
      if (this._status === 'connected') this._send({ type: 'control', action: 'stop_listening' });
    }

    /** Send microphone audio again. */
    unmute() {
      if (!this._muted) return;
      this._muted = false;
      this._setTracksEnabled(true);
      if (this._status === 'connected') this._send({ type: 'control', action: 'start_listening' });
    }

    /** Stop the agent now: drops the queued audio here and tells the server. */
    interrupt() {
      this._requireConnected('interrupt');
      if (this._play) this._report(true);
      this._send({ type: 'control', action: 'interrupt' });
      this._dropPlayback();
    }

    // ---- internals -------------------------------------------------------------

    _emit(event) {
      var args = Array.prototype.slice.call(arguments, 1);
      var list = (this._listeners[event] || []).slice();
      for (var i = 0; i < list.length; i++) {
        try {
          list[i].apply(this, args);
        } catch (e) {
          if (typeof console !== 'undefined') console.error('ParleyVoice: a "' + event + '" listener threw', e);
        }
      }
    }

    _setStatus(status) {
      if (STATUSES.indexOf(status) < 0 || this._status === status) return;
      this._status = status;
      this._emit('status', status);
    }

    _error(err) {
      if (err && err._parleyEmitted) return err;
      try { Object.defineProperty(err, '_parleyEmitted', { value: true }); } catch (e) { /* frozen */ }
      this._emit('error', err);
      return err;
    }

    _failStart(gen, err) {
      if (gen !== this._gen) throw stoppedError(); // stop() came first: no events
      this._pending = null;
      var ws = this._ws;
      this._ws = null;
      if (ws) {
        ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
        try { ws.close(); } catch (e) { /* ignore */ }
      }
      this._stopTimers();
      this._releaseAudio();
      this._setStatus('disconnected');
      this._error(err);
      throw err;
    }

    _requireConnected(what) {
      if (this._status !== 'connected' || !this._ws) {
        throw new ParleyVoiceError('session_error', what + '() needs a connected conversation');
      }
    }

    _newAudioContext() {
      if (typeof window === 'undefined' || typeof navigator === 'undefined') {
        throw new ParleyVoiceError('audio_error', 'ParleyVoice runs in a browser', { name: 'NotSupportedError' });
      }
      if (!window.isSecureContext) {
        throw new ParleyVoiceError('audio_error', 'The microphone needs a secure context (https:// or http://localhost)', { name: 'SecurityError' });
      }
      var AC = window.AudioContext || window.webkitAudioContext;
      if (!AC || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        throw new ParleyVoiceError('audio_error', 'This browser lacks Web Audio or getUserMedia', { name: 'NotSupportedError' });
      }
      var ctx = new AC({ latencyHint: 'interactive' });
      if (!ctx.audioWorklet) {
        ctx.close();
        throw new ParleyVoiceError('audio_error', 'This browser lacks AudioWorklet', { name: 'NotSupportedError' });
      }
      return ctx;
    }

    _openAudio(ctx, gen) {
      var self = this;
      var audio = { ctx: ctx, stream: null, source: null, node: null, out: null };
      this._audio = audio;
      var constraints = Object.assign({
        echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1
      }, this._opts.audioConstraints || {});
      // Browsers keep a context created outside a user gesture suspended; do not wait forever.
      var resumed = ctx.state === 'running' ? Promise.resolve() : Promise.race([
        ctx.resume().catch(noop),
        new Promise(function (resolve) { setTimeout(resolve, 1500); })
      ]);
      return navigator.mediaDevices.getUserMedia({ audio: constraints })
        .catch(function (e) { throw micError(e); })
        .then(function (stream) {
          audio.stream = stream;
          if (audio.released) stopTracks(stream); // stop() came first
          if (gen !== self._gen) throw stoppedError();
          var url = URL.createObjectURL(new Blob([CAPTURE_WORKLET], { type: 'text/javascript' }));
          return ctx.audioWorklet.addModule(url).then(
            function () { URL.revokeObjectURL(url); },
            function (e) {
              URL.revokeObjectURL(url);
              throw new ParleyVoiceError('audio_error', 'Could not load the capture worklet: ' + (e && e.message || e), { name: 'NotSupportedError', cause: e });
            }
          );
        })
        .then(function () { return resumed; })
        .then(function () {
          if (gen !== self._gen) throw stoppedError();
          if (ctx.state !== 'running') {
            throw new ParleyVoiceError('audio_error', 'The browser keeps audio off until the user interacts with the page: call start() from a click or key handler');
          }
          audio.source = ctx.createMediaStreamSource(audio.stream);
          audio.node = new AudioWorkletNode(ctx, 'parley-capture', {
            numberOfInputs: 1, numberOfOutputs: 1, outputChannelCount: [1],
            processorOptions: { outRate: WIRE_RATE, chunkSamples: CHUNK_SAMPLES }
          });
          audio.node.port.onmessage = function (e) { self._onCapture(e.data); };
          audio.source.connect(audio.node);
          audio.node.connect(ctx.destination); // silent output; keeps the node pulled
          audio.out = ctx.createGain();
          audio.out.connect(ctx.destination);
          if (self._muted) self._setTracksEnabled(false);
        });
    }

    _releaseAudio() {
      var audio = this._audio;
      this._audio = null;
      if (!audio) return;
      audio.released = true;
      if (audio.stream) stopTracks(audio.stream);
      try { if (audio.source) audio.source.disconnect(); } catch (e) { /* ignore */ }
      if (audio.node) {
        audio.node.port.onmessage = null;
        try { audio.node.disconnect(); } catch (e) { /* ignore */ }
      }
      if (audio.ctx && audio.ctx.state !== 'closed') audio.ctx.close().catch(noop);
    }

    _setTracksEnabled(on) {
      if (this._audio && this._audio.stream) {
        this._audio.stream.getAudioTracks().forEach(function (t) { t.enabled = on; });
      }
    }

    _nextUrl() {
      var o = this._opts;
      if (o.sessionUrl && !this._sessionUrlUsed) {
        this._sessionUrlUsed = true;
        return Promise.resolve(withQuery(o.sessionUrl, o.query));
      }
      if (o.getSessionUrl) {
        return Promise.resolve()
          .then(function () { return o.getSessionUrl(); })
          .then(function (url) {
            if (typeof url !== 'string' || !url) {
              throw new ParleyVoiceError('validation_error', 'getSessionUrl() must resolve to a websocket_url string');
            }
            return withQuery(url, o.query);
          }, function (e) {
            throw e && e.code ? e : new ParleyVoiceError('session_error', 'getSessionUrl() failed: ' + (e && e.message || e), { cause: e });
          });
      }
      if (o.sessionUrl) return Promise.resolve(withQuery(o.sessionUrl, o.query)); // spent: the server will say so
      var q = Object.assign({ api_key: o.apiKey, agent_id: o.agentId }, o.query || {});
      return Promise.resolve(withQuery(o.wsUrl, q));
    }

    _connect(url, gen) {
      var self = this;
      var ws;
      try {
        ws = new WebSocket(url);
      } catch (e) {
        this._settle(false, new ParleyVoiceError('validation_error', 'Invalid WebSocket URL: ' + (e && e.message || e), { cause: e }));
        return;
      }
      this._ws = ws;
      this._socketUrl = url;
      var serverError = null;
      var ended = false;
      var connected = false;
      var opened = false;
      var resumable = null; // a draining server's `session_ended` with `resumable: true`
      ws.onopen = function () { opened = true; };
      ws.onmessage = function (ev) {
        if (self._ws !== ws || gen !== self._gen) return;
        self._lastHeard = Date.now();
        var msg;
        try {
          msg = JSON.parse(ev.data);
        } catch (e) {
          self._emit('message', { type: 'invalid', data: ev.data });
          return;
        }
        if (!msg || typeof msg !== 'object') return;
        if (msg.type === 'error') serverError = new ParleyVoiceError(msg.code || 'internal_error', msg.message || 'error');
        if (msg.type === 'session_ended') {
          if (msg.resumable === true && self._canResume()) {
            resumable = msg; // not final: the close follows, then the resume
            return;
          }
          ended = true;
        }
        if (msg.type === 'connected') connected = true;
        self._onMessage(msg, serverError);
      };
      ws.onerror = function () { /* the close event follows */ };
      ws.onclose = function (ev) {
        if (self._ws !== ws || gen !== self._gen) return;
        self._ws = null;
        self._onClose(ev.code, ev.reason || '', connected, ended, serverError, opened, resumable);
      };
    }

    _settle(ok, value) {
      var p = this._pending;
      if (!p) return;
      this._pending = null;
      if (ok) p.resolve(value);
      else p.reject(value);
    }

    _onMessage(msg, serverError) {
      switch (msg.type) {
        case 'connected':
          var token = msg.resume_token;
          this._resumeToken = typeof token === 'string' && token && token.length <= MAX_TOKEN_CHARS ? token : null;
          this._conversationId = msg.conversation_id || null;
          this._droppedTurn = null;
          this._setStatus('connected');
          this._startPing();
          if (this._muted) this._send({ type: 'control', action: 'stop_listening' });
          var drop = this._drop;
          if (drop && drop.resume) {
            this._drop = null;
            this._stats.reconnects += 1;
            this._emit('reconnected', this._conversationId, drop.attempt);
          } else {
            this._emit('connected', this._conversationId);
          }
          this._settle(true, this._conversationId);
          break;
        case 'audio':
          this._onAgentAudio(msg);
          break;
        case 'transcript':
          this._emit('transcript', msg.role, msg.text, {
            final: !!msg.final,
            turnId: msg.turn_id || null,
            language: msg.language || null,
            languageProbability: typeof msg.language_probability === 'number' ? msg.language_probability : null,
          });
          break;
        case 'metrics':
          this._emit('metrics', { turnId: msg.turn_id || null, latencyMs: msg.latency_ms || {} });
          break;
        case 'interruption':
          this._dropPlayback(msg.turn_id);
          this._emit('interruption', msg.turn_id || null);
          break;
        case 'agent_turn_end':
          if (this._play && this._play.turnId === msg.turn_id) {
            this._play.ended = true;
            this._tick();
          } else if (!this._play && this._sources.length === 0) {
            this._quiet();
          }
          this._emit('message', msg);
          break;
        case 'error':
          this._error(serverError);
          break;
        case 'pong':
          break;
        default:
          // everything else reaches `message` listeners as is: speech_started/stopped,
          // agent_turn_start, tool_call, tool_run, citations, transfer, safety, turn_prediction,
          // control_ack, session_ended (reasons include agent_ended and transferred), ...
          this._emit('message', msg);
      }
    }

    _onClose(code, reason, wasConnected, ended, serverError, opened, resumable) {
      var pending = !!this._pending;
      this._stopTimers();
      this._dropPlayback();
      if (opened) this._emit('disconnected', code, reason);
      if (pending) {
        // start() (or a reconnect) never got `connected`
        var err = serverError || new ParleyVoiceError(
          'session_error',
          'Could not connect to the Parley server (closed with ' + code + (reason ? ': ' + reason : '') + ')',
          { closeCode: code }
        );
        if (err.closeCode === undefined) err.closeCode = code;
        this._settle(false, err);
        return;
      }
      var why = resumable ? String(resumable.reason || 'server_shutdown') : retryable(code) ? 'close_' + code : null;
      var rc = this._opts.reconnect;
      var canRenew = this._opts.apiKey || this._opts.getSessionUrl;
      if (wasConnected && !ended && why && rc.maxAttempts > 0) {
        if (this._resumeToken || canRenew) {
          var within = resumable && resumable.resume_within_s > 0 ? Math.min(resumable.resume_within_s * 1000, MAX_WINDOW_MS) : rc.windowMs;
          this._drop = { at: Date.now(), windowMs: within, attempt: 0, reason: why, code: code, resume: !!this._resumeToken };
          this._setStatus('connecting');
          this._scheduleReconnect();
          return;
        }
        this._error(new ParleyVoiceError('session_error', 'The connection was lost; pass getSessionUrl to reconnect with a new session', { closeCode: code }));
      } else if (wasConnected && !ended && why) {
        this._error(new ParleyVoiceError('session_error', 'The connection was lost (' + code + ')', { closeCode: code }));
      }
      this._releaseAudio();
      this._setStatus('disconnected');
    }

    _canResume() {
      return this._opts.reconnect.maxAttempts > 0 && !!this._resumeToken;
    }

    // One attempt after a drop: resume with the token (or, from a server that gives none, a
    // new session), after a delay with full jitter; give up once the window has passed.
    _scheduleReconnect() {
      var self = this;
      var rc = this._opts.reconnect;
      var d = this._drop;
      var left = d.at + d.windowMs - Date.now();
      if (d.attempt >= rc.maxAttempts || left <= 0) {
        this._drop = null;
        this._error(new ParleyVoiceError('session_error', 'Could not ' + (d.resume ? 'resume the conversation' : 'reconnect') +
          ' (' + d.attempt + ' attempts): ' + d.reason, { closeCode: d.code }));
        this._releaseAudio();
        this._setStatus('disconnected');
        return;
      }
      var ceiling = Math.min(rc.maxDelayMs, rc.baseDelayMs * Math.pow(2, Math.min(d.attempt, 30)));
      var delay = Math.round(Math.min(left, Math.random() * ceiling));
      var gen = this._gen;
      d.attempt += 1;
      this._emit('reconnecting', d.attempt, delay, d.reason);
      this._timers.reconnect = setTimeout(function () {
        self._timers.reconnect = null;
        if (gen !== self._gen) return;
        var ready = new Promise(function (resolve, reject) {
          self._pending = { resolve: resolve, reject: reject };
        });
        ready.catch(noop);
        var next = d.resume ? Promise.resolve(resumeUrl(self._socketUrl, self._resumeToken)) : self._nextUrl();
        next
          .then(function (url) {
            if (gen !== self._gen) return null;
            self._connect(url, gen);
            return ready;
          })
          .then(function (id) {
            if (gen !== self._gen || !id || d.resume) return;
            self._drop = null; // a new session (`connected` was emitted)
            self._stats.reconnects += 1;
          }, function (e) {
            if (gen !== self._gen) return;
            self._pending = null;
            var code = e && e.closeCode !== undefined ? e.closeCode : 1006;
            if (retryable(code) && !(e && e.code && e.code !== 'session_error')) {
              d.reason = 'close_' + code;
              d.code = code;
              self._scheduleReconnect();
            } else {
              self._drop = null;
              self._error(e);
              self._releaseAudio();
              self._setStatus('disconnected');
            }
          });
      }, delay);
    }

    _send(obj) {
      var ws = this._ws;
      if (!ws || ws.readyState !== 1) return false;
      ws.send(JSON.stringify(obj));
      return true;
    }

    _onCapture(int16) {
      if (this._status !== 'connected' || this._muted || !(int16 instanceof Int16Array)) return;
      if (this._send({ type: 'audio', audio: toBase64(int16) })) {
        this._stats.chunksSent += 1;
        this._stats.audioMsSent += (int16.length * 1000) / WIRE_RATE;
      }
    }

    _startPing() {
      var self = this;
      clearInterval(this._timers.ping);
      this._lastHeard = Date.now();
      var every = this._opts.pingIntervalMs;
      this._timers.ping = setInterval(function () {
        var ws = self._ws;
        if (!ws) return;
        if (Date.now() - self._lastHeard > 2 * every + 5000) {
          // Nothing heard (not even a pong) for too long: the network is gone.
          self._ws = null;
          ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
          try { ws.close(); } catch (e) { /* ignore */ }
          self._onClose(1006, 'keepalive timeout', true, false, null, true);
          return;
        }
        self._send({ type: 'ping', ts: Date.now() });
      }, every);
    }

    _stopTimers() {
      clearInterval(this._timers.ping);
      clearInterval(this._timers.report);
      this._timers.ping = this._timers.report = null;
    }

    // ---- playback ----------------------------------------------------------------

    _onAgentAudio(msg) {
      var audio = this._audio;
      if (!audio || !audio.out || typeof msg.audio !== 'string') return;
      var turnId = msg.turn_id || null;
      if (turnId !== null && turnId === this._droppedTurn) return; // interrupted: late chunks
      var samples = pcm16ToFloat(msg.audio);
      if (!samples.length) return;
      if (!this._play || this._play.turnId !== turnId) this._beginTurn(turnId);
      var play = this._play;
      var ctx = audio.ctx;
      var buffer = ctx.createBuffer(1, samples.length, WIRE_RATE);
      buffer.getChannelData(0).set(samples);
      var src = ctx.createBufferSource();
      src.buffer = buffer;
      src.connect(audio.out);
      // Gap-free: each chunk starts where the previous one ends (after an underrun, a
      // little ahead of now).
      var at = Math.max(this._playNext, ctx.currentTime + PLAY_LEAD_S);
      src.start(at);
      this._playNext = at + buffer.duration;
      play.ledger.add(at, buffer.duration);
      this._ledger.add(at, buffer.duration);
      this._sources.push(src);
      var self = this;
      src.onended = function () {
        var i = self._sources.indexOf(src);
        if (i >= 0) self._sources.splice(i, 1);
        self._tick();
      };
      this._stats.chunksReceived += 1;
      this._stats.audioMsReceived += buffer.duration * 1000;
      if (!this._speaking) {
        this._speaking = true;
        this._emit('agentSpeaking', true);
      }
    }

    _beginTurn(turnId) {
      // A previous turn's tail (at most ~500 ms) keeps playing; this turn is queued after it.
      var self = this;
      this._play = { turnId: turnId, ledger: new Ledger(), ended: false, reported: -1 };
      if (!this._timers.report) {
        this._timers.report = setInterval(function () { self._tick(); }, REPORT_INTERVAL_MS);
      }
    }

    _now() {
      return this._audio ? this._audio.ctx.currentTime : Infinity;
    }

    _report(force, playedMs) {
      var play = this._play;
      if (!play || this._status !== 'connected') return;
      var ms = Math.floor(playedMs !== undefined ? playedMs : play.ledger.played(this._now()));
      if (!force && ms === play.reported) return;
      if (this._send({ type: 'playback', played_ms: ms })) {
        play.reported = ms;
        this._stats.playbackReports += 1;
      }
    }

    _tick() {
      var play = this._play;
      if (play) {
        var now = this._now();
        if (play.ended && play.ledger.pending(now) === 0) {
          this._report(false, play.ledger.played(now)); // the final one: all of the turn
          this._play = null;
        } else {
          this._report(false);
        }
      }
      if (!this._play && this._sources.length === 0) this._quiet();
    }

    _quiet() {
      clearInterval(this._timers.report);
      this._timers.report = null;
      if (this._speaking) {
        this._speaking = false;
        this._emit('agentSpeaking', false);
      }
    }

    // Stop every scheduled chunk now (interruption, interrupt(), stop(), disconnect).
    _dropPlayback(turnId) {
      var play = this._play;
      if (turnId) this._droppedTurn = turnId;
      else if (play && play.turnId) this._droppedTurn = play.turnId;
      var now = this._now();
      this._sources.forEach(function (src) {
        src.onended = null;
        try { src.stop(); } catch (e) { /* not started */ }
        try { src.disconnect(); } catch (e) { /* ignore */ }
      });
      this._sources = [];
      this._ledger.cut(now);
      this._playNext = 0;
      this._play = null;
      this._quiet();
    }
  }

  /** Scheduled audio chunks and how much of them has been heard. */
  class Ledger {
    constructor() {
      this.chunks = [];
      this.done = 0; // ms of chunks entirely played
    }
    add(start, dur) {
      this.chunks.push({ start: start, dur: dur });
    }
    played(now) {
      while (this.chunks.length && now >= this.chunks[0].start + this.chunks[0].dur) {
        this.done += this.chunks.shift().dur * 1000;
      }
      var c = this.chunks[0];
      return this.done + (c && now > c.start ? (now - c.start) * 1000 : 0);
    }
    pending(now) {
      this.played(now);
      return this.chunks.length;
    }
    cut(now) {
      this.done = this.played(now);
      this.chunks = [];
    }
  }

  ParleyVoice.version = VERSION;
  ParleyVoice.ParleyVoiceError = ParleyVoiceError;
  /** Whether this browser and page can run ParleyVoice (secure context, Web Audio, mic, WebSocket). */
  ParleyVoice.isSupported = function () {
    return typeof window !== 'undefined' && !!window.isSecureContext &&
      typeof WebSocket !== 'undefined' && typeof AudioWorkletNode !== 'undefined' &&
      !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  };
  return ParleyVoice;
});
