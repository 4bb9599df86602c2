// Test harness for the ParleyVoice test pages: records every SDK event, the outcome of each
// start(), and (as an observer only: the real APIs run) the microphone streams and sockets
// the page opens, so a test can check that stop() released them. Load it before the SDK.
(function () {
  'use strict';
  var streams = [];
  var sockets = [];
  var realGetUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = function (constraints) {
    return realGetUserMedia(constraints).then(function (stream) {
      streams.push({ stream: stream, constraints: constraints });
      return stream;
    });
  };
  // Frames as they cross the socket: audio is summarised (turn, samples), except the
  // microphone's own audio while harness.keepSentAudio is set.
  var sent = [];
  var received = [];
  var order = 0; // one counter for both lists, to tell which came first
  function samplesOf(b64) { return Math.floor(atob(b64).length / 2); }
  var RealWebSocket = window.WebSocket;
  window.WebSocket = class extends RealWebSocket {
    constructor(url, protocols) {
      super(url, protocols);
      sockets.push(this);
      this.addEventListener('message', function (e) {
        var m = JSON.parse(e.data);
        if (m.type === 'audio') m = { type: 'audio', turn_id: m.turn_id, samples: samplesOf(m.audio) };
        m.order = order++;
        received.push(m);
      });
    }
    send(data) {
      var m = JSON.parse(data);
      if (m.type === 'audio' && !harness.keepSentAudio) m = { type: 'audio', samples: samplesOf(m.audio) };
      m.order = order++;
      sent.push(m);
      return super.send(data);
    }
  };
  var contexts = [];
  var RealAudioContext = window.AudioContext;
  window.AudioContext = class extends RealAudioContext {
    constructor(options) {
      super(options);
      contexts.push(this);
    }
  };

  var EVENTS = ['status', 'connected', 'disconnected', 'transcript', 'error', 'interruption',
    'message', 'metrics', 'agentSpeaking', 'reconnecting', 'reconnected'];

  function plain(v) {
    if (v instanceof Error) return { name: v.name, code: v.code, message: v.message };
    return v === undefined ? null : JSON.parse(JSON.stringify(v));
  }

  function show(name, args) {
    var status = document.getElementById('status');
    if (name === 'status' && status) status.textContent = args[0];
    var conv = document.getElementById('conversation');
    if (name === 'connected' && conv) conv.textContent = args[0];
    var log = document.getElementById('log');
    if (!log) return;
    var line = document.createElement('div');
    line.textContent = name + ' ' + JSON.stringify(args);
    log.appendChild(line);
  }

  var harness = {
    Ctor: null, // the ParleyVoice class; the global one unless a page sets it
    keepSentAudio: false,
    sent: sent,
    received: received,
    voice: null,
    events: [],
    starts: [],
    /** new ParleyVoice(options); every event of it is recorded in harness.events. */
    create: function (options) {
      var Ctor = harness.Ctor || window.ParleyVoice;
      var voice = new Ctor(options);
      EVENTS.forEach(function (name) {
        voice.on(name, function () {
          var args = Array.prototype.slice.call(arguments).map(plain);
          harness.events.push({ event: name, args: args });
          show(name, args);
        });
      });
      harness.voice = voice;
      return true;
    },
    /** Calls voice.start(); its outcome lands in harness.starts (in call order). */
    start: function () {
      var entry = { settled: false };
      harness.starts.push(entry);
      harness.voice.start().then(function (id) {
        entry.settled = true;
        entry.ok = true;
        entry.value = id;
      }, function (e) {
        entry.settled = true;
        entry.ok = false;
        entry.name = e.name;
        entry.code = e.code;
        entry.message = e.message;
        entry.closeCode = e.closeCode === undefined ? null : e.closeCode;
      });
    },
    of: function (name) {
      return harness.events.filter(function (e) { return e.event === name; });
    },
    transcripts: function (role) {
      return harness.of('transcript').filter(function (e) { return e.args[0] === role; })
        .map(function (e) { return { text: e.args[1], final: e.args[2].final, turnId: e.args[2].turnId }; });
    },
    messages: function (type) {
      return harness.of('message').map(function (e) { return e.args[0]; })
        .filter(function (m) { return m.type === type; });
    },
    micTracks: function () {
      var out = [];
      streams.forEach(function (s) {
        s.stream.getTracks().forEach(function (t) { out.push({ kind: t.kind, state: t.readyState }); });
      });
      return out;
    },
    micConstraints: function () {
      return streams.map(function (s) { return s.constraints; });
    },
    contextStates: function () {
      return contexts.map(function (c) { return c.state; });
    },
    socketStates: function () {
      return sockets.map(function (s) { return s.readyState; });
    }
  };

  // Real clicks are the user gestures start() needs.
  document.addEventListener('click', function (e) {
    var id = e.target && e.target.id;
    if (id === 'start') harness.start();
    if (id === 'start-twice') { harness.start(); harness.start(); }
    if (id === 'stop') harness.voice.stop();
  });
  window.harness = harness;
})();
