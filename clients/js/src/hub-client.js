// Browser client of the hub protocol v1 (PROTOCOL.md): an ES module with no static dependencies.
//
//   import { HubClient } from "/static/hub-client.js";
//   const hub = new HubClient({ url: "http://127.0.0.1:8000", token });
//   const off = hub.on("quiz_status", (env) => console.log(env.data.progress));
//   await hub.start();   // resolves with the first welcome (or first poll answer)
//   ...
//   hub.close();
//
// Same behaviour as hub/client.py: hello/resume, seq dedupe, heartbeats with dead-connection
// detection, reconnection with exponential backoff and full jitter, a bounded offline queue, and a
// long-poll fallback (GET /api/events) that upgrades back to the WebSocket. With a token function,
// it refreshes the token before it expires (PROTOCOL.md section 2, "Token expiry").
// Rooms, presence and typing (PROTOCOL.md section 7): `hub.join(room)` returns a Room (hub-rooms.js,
// kept by hub-roomset.js);
// joined rooms are rejoined and resumed in the hello of each reconnect, and carried by the long-poll
// fallback (POST /api/events with `rooms`).
// MessagePack (PROTOCOL.md section 8): `new HubClient({ protocol: "msgpack" })` offers the subprotocol
// hub.v1.msgpack before hub.v1 and, when the hub selects it, sends and receives binary MessagePack frames
// holding exactly the objects JSON would carry; the codec (./hub-msgpack.js: @msgpack/msgpack) is loaded
// only then, by a dynamic import. A hub that selects hub.v1 gets JSON as before; long-polls stay JSON.

import { Emitter, HubRoomError, Room, RoomState, ROOM_ID } from "./hub-rooms.js";
import { RoomSet } from "./hub-roomset.js";

export { HubRoomError, Room, RoomState, ROOM_ID };
export { TYPING_EXPIRY_MS, TYPING_IDLE_MS, TYPING_REPEAT_MS } from "./hub-rooms.js";
// The seed web app's API (service.js): one shared connection per page.
export { configureWebSocketService, getWebSocketService, WebSocketService } from "./service.js";

export const SUBPROTOCOL = "hub.v1";
/** The subprotocol of MessagePack connections (PROTOCOL.md section 8). */
export const MSGPACK_SUBPROTOCOL = "hub.v1.msgpack";
/** The values of the `protocol` option (and of `client.protocol` on a live socket). */
export const PROTOCOLS = Object.freeze(["json", "msgpack"]);
export const MESSAGE_TYPES = Object.freeze(
  ["quiz_status", "question_replace", "document_processing", "analytics_update", "notification"]);
export const JOB_TYPES = Object.freeze(["quiz_status", "question_replace", "document_processing"]);
export const TERMINAL = Object.freeze(["completed", "failed", "cancelled"]);
export const STATES = Object.freeze(["idle", "connecting", "connected", "reconnecting", "polling", "closed"]);
// The hub's close codes (PROTOCOL.md section 2, "Close codes"; 1011 from docs/protocol.md, "Beyond the
// contract"; RFC 6455's 1000): a copy of hub/core/closecodes.py, held to it by
// tests/unit/test_close_codes.py. `reconnect`: the client reconnects and resumes from its last seq;
// `resume`: the contract says "reconnect and resume" (nothing the client did); the others are final,
// except a 4401 for an expired token when a token function can give a fresh one (section 2, "Token expiry").
const closeCode = (name, reconnect, resume, meaning) => Object.freeze({ name, reconnect, resume, meaning });
export const CLOSE_CODES = Object.freeze({
  1000: closeCode("NORMAL", true, false, "closed"),
  1001: closeCode("GOING_AWAY", true, true, "server shutting down"),
  1009: closeCode("TOO_LARGE", true, false, "frame too large"),
  1011: closeCode("INTERNAL_ERROR", true, true, "internal error"),
  1012: closeCode("SERVICE_RESTART", true, true, "server restarting"),
  4400: closeCode("BAD_HELLO", false, false, "bad hello"),
  4401: closeCode("UNAUTHORIZED", false, false, "unauthorized"),
  4403: closeCode("ORIGIN_REFUSED", false, false, "origin not allowed"),
  4408: closeCode("HELLO_TIMEOUT", true, false, "no hello in time"),
  4409: closeCode("SLOW_CONSUMER", true, true, "slow consumer"),
  4429: closeCode("TOO_MANY", true, false, "too many connections or frames"),
});
/** Each close code by its name (`CLOSE.UNAUTHORIZED` is 4401), from the table above. */
export const CLOSE = Object.freeze(Object.fromEntries(
  Object.entries(CLOSE_CODES).map(([code, c]) => [c.name, Number(code)])));
// RFC 6455's 1006: a connection that ended without a close frame (never sent on the wire; the
// client's own name for a dropped socket, a failed open or a silent peer).
const ABNORMAL = 1006;
/** The closes after which the client stops, each with what it says when the hub gave no reason. */
export const FATAL_CLOSE = Object.freeze(Object.fromEntries(
  Object.entries(CLOSE_CODES).filter(([, c]) => !c.reconnect).map(([code, c]) => [code, c.meaning])));
const KIND_OF_TYPE = { quiz_status: "quiz_generation", question_replace: "question_replace",
  document_processing: "document_processing" };
const DEFAULT_HEARTBEAT_MS = 20000;
export const REFRESH_AT = 0.85; // of a token's lifetime (iat to exp): when a connection sends `refresh`

/** Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)). */
export function backoffDelay(attempt, base = 1000, cap = 30000, random = Math.random) {
  return random() * Math.min(cap, base * 2 ** Math.max(0, attempt));
}

/** Delay before the `attempt`th try (0 first) to go from polling back to the WebSocket: doubling from
 * `first` up to `cap`, jittered in [half, whole) so that clients polling since one restart spread out. */
export function upgradeDelay(attempt, first = 1000, cap = 30000, random = Math.random) {
  const whole = Math.min(cap, first * 2 ** Math.max(0, attempt));
  return whole / 2 + (random() * whole) / 2;
}

export const NO_WEBSOCKET = "this runtime has no WebSocket (Node 20 has none built in): pass one, " +
  "e.g. new HubClient({ url, token, WebSocket }) with WebSocket from the \"ws\" package; long-polling instead";

/** The WebSocket URL of a hub given its http(s) or ws(s) base URL. */
export function wsUrl(base) {
  base = String(base).replace(/\/+$/, "");
  if (/^wss?:\/\//.test(base)) return base.endsWith("/ws") ? base : base + "/ws";
  return base.replace(/^https:\/\//, "wss://").replace(/^http:\/\//, "ws://") + "/ws";
}

/** The http(s) base URL of a hub given its http(s) or ws(s) URL. */
export function httpUrl(base) {
  base = String(base).replace(/\/+$/, "");
  if (base.endsWith("/ws")) base = base.slice(0, -3);
  return base.replace(/^wss:\/\//, "https://").replace(/^ws:\/\//, "http://");
}

/** A JWT's claims (an object; empty when unreadable), read without verifying it (a client has no secret). */
function tokenClaims(token) {
  try {
    const part = String(token).split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(Array.from(atob(part.padEnd(part.length + (4 - part.length % 4) % 4, "=")),
      (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""));
    const claims = JSON.parse(json);
    return claims && typeof claims === "object" ? claims : {};
  } catch {
    return {};
  }
}

/** A JWT's `iat` and `exp` (Unix seconds, or null), read without verifying it (a client has no secret). */
export function tokenTimes(token) {
  const claims = tokenClaims(token);
  const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
  return { iat: num(claims.iat), exp: num(claims.exp) };
}

/** Milliseconds from `now` (ms) until a connection holding `token` should refresh it: at `at` of its
 * lifetime (from `iat`, or from now without one, to `exp`); 0 once past; null without an `exp`. */
export function refreshDelay(token, now = Date.now(), at = REFRESH_AT) {
  const { iat, exp } = tokenTimes(token);
  if (exp == null) return null;
  const nowS = now / 1000;
  const start = iat != null && iat < exp ? iat : Math.min(nowS, exp);
  return Math.max(0, (start + at * (exp - start) - nowS) * 1000);
}

let msgpackLoad = null; // the page's one import of the codec: made on the first MessagePack socket

/** ./hub-msgpack.js ({ encode, decode }), imported once; a failed import is tried again next time. */
function loadMsgpack() {
  msgpackLoad ??= import("./hub-msgpack.js").catch((err) => { msgpackLoad = null; throw err; });
  return msgpackLoad;
}

/** True when JSON.stringify would carry `value` as it is (undefined object members aside): only
 * finite numbers, strings, booleans, null, arrays without holes or undefined, and plain objects
 * without toJSON. Anything else (a Date, NaN, a Map, a function...) is first turned into what JSON
 * would carry, so that a MessagePack frame holds exactly the object a JSON frame would. */
function plainJson(value, depth = 0) {
  if (value === null || typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (typeof value !== "object" || depth > 64) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (value[i] === undefined || !plainJson(value[i], depth + 1)) return false;
    }
    return true;
  }
  const proto = Object.getPrototypeOf(value);
  if ((proto !== Object.prototype && proto !== null) || typeof value.toJSON === "function") return false;
  for (const key in value) {
    if (!Object.prototype.hasOwnProperty.call(value, key)) return false;
    if (value[key] !== undefined && !plainJson(value[key], depth + 1)) return false;
  }
  return true;
}

/** One frame's object from a WebSocket message's data: JSON text, or (with a codec) a binary
 * MessagePack frame; null for anything malformed or not an object (the frame is ignored). */
function readFrame(data, codec) {
  let frame;
  try {
    if (typeof data === "string") frame = JSON.parse(data);
    else if (codec && (data instanceof ArrayBuffer || ArrayBuffer.isView(data))) frame = codec.decode(data);
    else return null;
  } catch {
    return null;
  }
  return frame !== null && typeof frame === "object" && !Array.isArray(frame) ? frame : null;
}

/**
 * The page's NEXT_PUBLIC_* settings, from globalThis or from `process.env.NEXT_PUBLIC_*` written
 * literally (bundlers such as Next.js inline them): `url`, the hub's base (NEXT_PUBLIC_WS_URL, else
 * location.origin, else undefined); `enabled`, false when NEXT_PUBLIC_ENABLE_WEBSOCKET is "false"
 * (long-poll instead); `tokenUrl`, the app's token route (NEXT_PUBLIC_HUB_TOKEN_URL; undefined when unset).
 */
export function readEnv() {
  const g = globalThis;
  let url = g.NEXT_PUBLIC_WS_URL, enable = g.NEXT_PUBLIC_ENABLE_WEBSOCKET, tokenUrl = g.NEXT_PUBLIC_HUB_TOKEN_URL;
  try { // literal names, so that bundlers (Next.js) can inline them
    if (typeof process !== "undefined" && process.env) {
      url ??= process.env.NEXT_PUBLIC_WS_URL;
      enable ??= process.env.NEXT_PUBLIC_ENABLE_WEBSOCKET;
      tokenUrl ??= process.env.NEXT_PUBLIC_HUB_TOKEN_URL;
    }
  } catch { /* no process in this page */ }
  return { url: url || g.location?.origin, enabled: String(enable) !== "false", tokenUrl: tokenUrl || undefined };
}

/** An HTTP API error: `status` is the HTTP status, `detail` what FastAPI said. */
/** A fresh Idempotency-Key: a uuid4 (crypto.randomUUID, or made from crypto.getRandomValues where
 * randomUUID is missing: pages served over plain http from another host). */
export function newIdempotencyKey() {
  const c = globalThis.crypto;
  if (typeof c?.randomUUID === "function") return c.randomUUID();
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export class HubHttpError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : `HTTP ${status}: ${JSON.stringify(detail)}`);
    this.name = "HubHttpError";
    this.status = status;
    this.detail = detail;
  }
}

/**
 * The pure part of a client: where the stream is (epoch, seq), dedupe, and the merged job states
 * and analytics. No I/O, no timers.
 */
export class StreamState {
  constructor() {
    this.epoch = null;
    this.seq = 0;
    this.jobs = new Map();
    this.analytics = {};
  }

  /** The `resume` field of the next hello (or null when there is nothing to resume). */
  resume() {
    return this.epoch == null ? null : { epoch: this.epoch, seq: this.seq };
  }

  /** Apply a welcome (or a poll answer): returns true when it replaced the state from a snapshot. */
  applyWelcome(frame) {
    if (frame.resumed) return false; // same epoch: what follows continues the stream
    this.epoch = frame.epoch;
    this.seq = frame.seq ?? 0;
    this.jobs.clear();
    for (const job of frame.snapshot ?? []) if (job && job.jobId) this.jobs.set(job.jobId, { ...job });
    return true;
  }

  /** Take one envelope: false for a seq already seen (drop it), else merge it and return true. */
  accept(env) {
    if (!env || typeof env.seq !== "number" || env.seq <= this.seq) return false;
    this.seq = env.seq;
    const data = env.data ?? {};
    if (env.type === "analytics_update") {
      this.analytics = { ...this.analytics, ...(data.updates ?? {}) };
    } else if (data.jobId) {
      const prev = this.jobs.get(data.jobId);
      const job = { ...(prev ?? {}), ...data };
      if (!prev) job.createdAt ??= env.ts;
      if (env.ts != null) job.updatedAt = env.ts;
      job.kind ??= data.kind ?? KIND_OF_TYPE[env.type] ?? env.type;
      if (JOB_TYPES.includes(env.type) || data.kind) {
        // job messages carry the whole current state: an absent eta or error is no longer there
        if (!("etaSeconds" in data)) delete job.etaSeconds;
        if (!("error" in data)) delete job.error;
        if (!("waiting" in data)) delete job.waiting; // it runs now (PROTOCOL.md section 9)
      }
      // an `item` (a finished question: PROTOCOL.md section 9) is the message's, not the job state's:
      // handlers get it with the envelope
      delete job.item;
      this.jobs.set(data.jobId, job);
    }
    return true;
  }

  /** The envelopes of a batch that are new, in seq order, merged. */
  applyBatch(messages) {
    const envelopes = Array.isArray(messages) ? messages.filter((env) => env !== null && typeof env === "object") : [];
    const sorted = envelopes.sort((a, b) => a.seq - b.seq);
    return sorted.filter((env) => this.accept(env));
  }

  /** After a poll: its `seq` is the stream's last seq, the `after` of the next poll. */
  advanceTo(seq) {
    if (typeof seq === "number" && seq > this.seq) this.seq = seq;
  }
}

/** A browser (or Node) client of the hub. */
export class HubClient extends Emitter {
  constructor(options = {}) {
    super();
    const env = readEnv();
    this.url = options.url ?? env.url;
    if (!this.url) throw new Error("HubClient: no url (and no NEXT_PUBLIC_WS_URL or location)");
    this.token = options.token; // a string, or a (possibly async) function returning a fresh one
    const protocol = options.protocol ?? "json";
    if (!PROTOCOLS.includes(protocol)) {
      throw new Error(`HubClient: protocol is "json" or "msgpack" (got ${JSON.stringify(protocol)})`);
    }
    /** the protocol asked for: "json", or "msgpack" (used when the hub selects hub.v1.msgpack) */
    this.preferredProtocol = protocol;
    this._codec = null; // ./hub-msgpack.js once loaded
    this._codecLoading = false;
    this._codecFailed = false;
    this.refresh = options.refresh ?? true; // with a token function: send `refresh` before expiry
    this.refreshes = 0;
    this.enabled = options.enabled ?? env.enabled;
    this.types = options.types ? [...options.types] : null;
    this.baseDelay = options.baseDelay ?? 1000;
    this.maxDelay = options.maxDelay ?? 30000;
    this.maxAttempts = options.maxAttempts ?? 5;
    this.heartbeat = options.heartbeat ?? null;
    this.offlineQueue = options.offlineQueue ?? 100;
    this.upgradeRetry = options.upgradeRetry ?? 30000; // the longest wait between upgrade tries
    this.upgradeDelay = Math.min(options.upgradeDelay ?? 1000, this.upgradeRetry); // the first wait
    this.connectTimeout = options.connectTimeout ?? 15000;
    this.pollTimeout = options.pollTimeout ?? 25;
    this.pollMinInterval = options.pollMinInterval ?? 500;
    this.random = options.random ?? Math.random;
    this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this.fetch = options.fetch ?? ((...args) => globalThis.fetch(...args));
    this.stream = new StreamState();
    this.session = null;
    /** the educator this client is (the welcome's `educatorId`, else the token's `sub`) */
    this.educatorId = null;
    this.connects = 0;
    this.failures = 0;
    this._state = "idle";
    this._queue = [];
    this._ws = null;
    this._timers = new Set();
    this._pollGen = 0;
    this._abort = null;
    this._closing = false;
    this._ready = null;
    this._rooms = new RoomSet(this);
    this._pollInFlight = false;
    this._pollRestart = false;
    this._onOnline = () => {
      if (this._state === "reconnecting" && !this._ws) this._connectNow();
    };
  }

  get state() { return this._state; }
  /** "msgpack" or "json": the protocol of the open socket (what the hub selected); null without one */
  get protocol() { return this._sock?.protocol ?? null; }
  get jobs() { return this.stream.jobs; }
  get analytics() { return this.stream.analytics; }
  get epoch() { return this.stream.epoch; }
  get seq() { return this.stream.seq; }
  get queued() { return this._queue.length; }
  get httpBase() { return httpUrl(this.url); }
  /** room id -> Room, for every room joined (or being joined) */
  get rooms() { return this._rooms.rooms; }

  // -- handlers --------------------------------------------------------------------------------

  /** Call `handler` for a message type, "*" (every envelope), "welcome", "snapshot", "state",
   * "error" or "pong". Returns a function that removes it. */
  on(event, handler) { return super.on(event, handler); }

  _setState(state) {
    if (state === this._state) return;
    const previous = this._state;
    this._state = state;
    this._emit("state", { state, previous });
  }

  // -- life ------------------------------------------------------------------------------------

  /** Connect (and keep reconnecting); resolves with the first welcome, rejects on a fatal close. */
  start() {
    if (this._ready) return this._ready;
    this._ready = new Promise((resolve, reject) => { this._resolve = resolve; this._reject = reject; });
    this._ready.catch(() => {}); // a caller that does not await start() gets no unhandled rejection
    globalThis.addEventListener?.("online", this._onOnline);
    if (this.enabled && typeof this.WebSocket !== "function") { // say so, rather than fail quietly
      this.enabled = false;
      this._emit("error", { code: "no_websocket", message: NO_WEBSOCKET, fatal: false });
      this._startPolling();
    } else if (this.enabled) {
      this._setState("connecting");
      this._openSocket(false);
    } else {
      this._startPolling();
    }
    return this._ready;
  }

  /** Stop for good: close the socket, stop polling and timers. */
  close() {
    if (this._closing) return;
    this._closing = true;
    globalThis.removeEventListener?.("online", this._onOnline);
    this._clearTimers();
    this._stopPolling();
    this._dropSocket(CLOSE.NORMAL, "client closed");
    this._rooms.closed();
    this._setState("closed");
    this._reject?.(new Error("closed"));
  }

  // -- rooms (PROTOCOL.md section 7) -----------------------------------------------------------

  /**
   * Join `room` (1-128 characters of A-Za-z0-9_.:@-; throws a HubRoomError `bad_frame` otherwise) and
   * return its Room: the same object for the same room while joined (joining with other options sends
   * the join again). `presence: false` watches without being listed; `info` (an object, at most
   * 1 KiB as JSON) is shown to the other members. Connected, it sends `join` now; while polling the
   * next poll carries it; offline, the next hello does. Every reconnect rejoins and resumes it.
   */
  join(room, { presence = true, info } = {}) {
    return this._rooms.join(room, { presence, info });
  }

  /** "ws" (connected), "poll" (long-polling) or "offline": how a room op goes out now. */
  _transport() {
    if (this._closing) return "closed";
    if (this._state === "connected" && this._ws) return "ws";
    if (this._state === "polling") return "poll";
    return "offline";
  }

  _wsSend(op) {
    try { if (this._sock) this._sendOn(this._sock, op); } catch { /* closing: the close handler takes over */ }
  }

  /** Send one op on a socket: a binary MessagePack frame on a hub.v1.msgpack connection, else JSON text. */
  _sendOn(sock, op) {
    if (!sock.codec) return sock.ws.send(JSON.stringify(op));
    const value = plainJson(op) ? op : JSON.parse(JSON.stringify(op));
    sock.ws.send(sock.codec.encode(value, { ignoreUndefined: true }));
  }

  _enqueue(op) { // the bounded offline queue: the oldest op is dropped (a dropped publish rejects)
    this._queue.push(op);
    while (this._queue.length > Math.max(0, this.offlineQueue)) this._rooms.dropped(this._queue.shift());
  }

  /** Send an op now when connected, else queue it (bounded, oldest dropped). True when sent now. */
  send(op) {
    if (this._closing) return false;
    this._trackTypes(op);
    if (this._state === "connected" && this._ws) {
      this._sendOn(this._sock, op);
      return true;
    }
    if (this._state === "polling" && op.op === "cancel") {
      this._cancelOverHttp(op.jobId);
      return true;
    }
    this._enqueue(op);
    return false;
  }

  cancel(jobId) { return this.send({ op: "cancel", jobId }); }
  subscribe(types) { return this.send({ op: "subscribe", types: [...types] }); }
  unsubscribe(types) { return this.send({ op: "unsubscribe", types: [...types] }); }

  _trackTypes(op) { // mirror what the server does, so that a new hello asks for the same types
    if (op.op === "subscribe" && this.types) this.types = [...new Set([...this.types, ...op.types])];
    if (op.op === "unsubscribe") this.types = (this.types ?? MESSAGE_TYPES).filter((t) => !op.types.includes(t));
  }

  _later(fn, ms) {
    const id = setTimeout(() => { this._timers.delete(id); fn(); }, Math.max(0, ms));
    this._timers.add(id);
    return id;
  }

  _clearTimer(id) {
    if (id == null) return;
    clearTimeout(id);
    clearInterval(id);
    this._timers.delete(id);
  }

  _clearTimers() {
    for (const id of this._timers) { clearTimeout(id); clearInterval(id); }
    this._timers.clear();
  }

  async _token() {
    return typeof this.token === "function" ? await this.token() : this.token;
  }

  _fatal(code, message) {
    this._clearTimers();
    this._stopPolling();
    this._dropSocket(CLOSE.NORMAL, "");
    this._rooms.closed();
    this._closing = true;
    globalThis.removeEventListener?.("online", this._onOnline);
    this._setState("closed");
    this._emit("error", { code, message, fatal: true });
    this._reject?.(Object.assign(new Error(message), { code }));
  }

  // -- WebSocket -------------------------------------------------------------------------------

  _openSocket(probe) {
    if (this._closing || this._ws) return;
    const msgpack = this.preferredProtocol === "msgpack" && !this._codecFailed;
    if (msgpack && !this._codec) return this._loadCodec(probe);
    let ws;
    try {
      ws = new this.WebSocket(wsUrl(this.url), msgpack ? [MSGPACK_SUBPROTOCOL, SUBPROTOCOL] : SUBPROTOCOL);
      if (msgpack) ws.binaryType = "arraybuffer";
    } catch (err) {
      this._later(() => this._socketClosed(null, probe, false, ABNORMAL, String(err)), 0);
      return;
    }
    const sock = { ws, welcomed: false, probe, heartbeat: null, watchdog: null, lastHeard: Date.now(),
      token: null, pendingToken: null, refreshTimer: null, protocol: null, codec: null };
    this._sock = sock;
    this._ws = ws;
    const opening = this._later(() => {
      if (!sock.welcomed) this._abandon(sock, ABNORMAL, "no welcome in time");
    }, this.connectTimeout);
    ws.onopen = async () => {
      if (this._sock !== sock) return;
      // what the hub selected: hub.v1.msgpack, or hub.v1 from a hub without MessagePack (JSON as before)
      sock.codec = msgpack && ws.protocol === MSGPACK_SUBPROTOCOL ? this._codec : null;
      sock.protocol = sock.codec ? "msgpack" : "json";
      let token;
      try { token = await this._token(); } catch (err) { return this._fatal(CLOSE.UNAUTHORIZED, `no token: ${err}`); }
      if (this._sock !== sock) return;
      sock.token = token;
      const hello = { op: "hello", token };
      const resume = this.stream.resume();
      if (resume) hello.resume = resume;
      if (this.types) hello.types = this.types;
      const rooms = this._rooms.requests();
      if (rooms.length) hello.rooms = rooms; // rejoin and resume every room in the same round trip
      sock.helloRooms = rooms.map((r) => r.room);
      this._sendOn(sock, hello);
    };
    ws.onmessage = (event) => {
      if (this._sock !== sock) return;
      sock.lastHeard = Date.now();
      const frame = readFrame(event.data, sock.codec);
      if (!frame) return; // malformed (JSON or MessagePack) or not an object: ignored
      if (frame.op === "welcome" && !sock.welcomed) {
        sock.welcomed = true;
        this._clearTimer(opening);
        this._welcomed(sock, frame);
      } else {
        const refresh = frame.op === "refreshed" || (frame.op === "error" && frame.ref === "refresh");
        if (refresh) this._refreshAnswer(sock, frame);
        this._handleFrame(frame);
      }
    };
    ws.onclose = (event) => {
      if (this._sock !== sock) return;
      this._clearTimer(opening);
      this._socketClosed(sock, probe, sock.welcomed, event.code ?? ABNORMAL, event.reason ?? "");
    };
    ws.onerror = () => { // a failed connection (some runtimes fire no close event after it)
      this._clearTimer(opening);
      this._abandon(sock, ABNORMAL, "connection error");
    };
  }

  /** Load the MessagePack codec, then open the socket; without it (the import failed) say so and use
   * JSON, which every hub speaks. */
  _loadCodec(probe) {
    if (this._codecLoading) return;
    this._codecLoading = true;
    loadMsgpack().then((codec) => { this._codec = codec; }, (err) => {
      this._codecFailed = true;
      this._emit("error", { code: "msgpack_unavailable", fatal: false,
        message: `MessagePack is unavailable (./hub-msgpack.js did not load: ${err?.message ?? err}); using JSON` });
    }).finally(() => {
      this._codecLoading = false;
      this._openSocket(probe);
    });
  }

  _welcomed(sock, frame) {
    if (sock.probe) this._stopPolling(); // back from polling to the WebSocket
    this.failures = 0;
    this.connects += 1;
    this.session = frame.session;
    if (typeof frame.educatorId === "string") this.educatorId = frame.educatorId;
    this._applyWelcome(frame);
    this._rooms.applyAnswers(frame.rooms, sock.helloRooms);
    this._setState("connected");
    this._startHeartbeat(sock, this.heartbeat ?? (frame.heartbeat ? frame.heartbeat * 1000 : DEFAULT_HEARTBEAT_MS));
    this._emit("welcome", frame);
    this._resolve?.(frame);
    this._scheduleRefresh(sock);
    this._rooms.afterWelcome(sock.helloRooms);
    const queue = this._queue.splice(0); // after the rejoin: queued publishes go to joined rooms
    for (const op of queue) if (this._rooms.flushing(op)) this._sendOn(sock, op);
  }

  _applyWelcome(frame) {
    if (this.stream.applyWelcome(frame)) this._emit("snapshot", frame);
  }

  _handleFrame(frame) {
    if (frame.op === "batch") {
      const local = this._state === "polling" && this.types; // a poll answer has every type
      const own = [], rooms = []; // envelopes with `room` belong to that room's stream
      for (const env of Array.isArray(frame.messages) ? frame.messages : []) {
        if (env !== null && typeof env === "object") (typeof env.room === "string" ? rooms : own).push(env);
      }
      for (const env of this.stream.applyBatch(own)) {
        if (local && !this.types.includes(env.type)) continue;
        this._emit(env.type, env);
        this._emit("*", env);
      }
      this._rooms.deliver(rooms);
    } else if (this._rooms.handle(frame)) {
      // joined, left, ack, or an error of a room op: the room's
    } else if (frame.op === "error") {
      this._emit("error", { ...frame, fatal: false });
    } else if (frame.op === "pong") {
      this._emit("pong", frame);
    }
  }

  _startHeartbeat(sock, interval) {
    let n = 0;
    sock.heartbeat = setInterval(() => {
      if (this._sock !== sock) return;
      n += 1;
      try { this._sendOn(sock, { op: "ping", id: n }); } catch { /* closing */ }
    }, interval);
    this._timers.add(sock.heartbeat);
    const check = () => { // silent for two heartbeats: the connection is dead
      if (this._sock !== sock) return;
      const quiet = Date.now() - sock.lastHeard;
      if (quiet >= 2 * interval) this._abandon(sock, ABNORMAL, "no frame for two heartbeats");
      else sock.watchdog = this._later(check, 2 * interval - quiet);
    };
    sock.watchdog = this._later(check, 2 * interval);
  }

  // -- token refresh (PROTOCOL.md section 2, "Token expiry") -----------------------------------

  _scheduleRefresh(sock, delay = refreshDelay(sock.token)) {
    if (typeof this.token !== "function" || !this.refresh || delay == null || this._sock !== sock) return;
    this._clearTimer(sock.refreshTimer);
    sock.refreshTimer = this._later(() => this._refreshNow(sock), delay);
  }

  async _refreshNow(sock) {
    if (this._sock !== sock) return;
    let token;
    try {
      token = await this._token();
    } catch (err) {
      if (this._sock !== sock) return;
      this._emit("error", { code: "token_failed", message: `the token function failed: ${err}`, ref: "refresh",
        fatal: false });
      return this._refreshLater(sock);
    }
    if (this._sock !== sock) return;
    sock.pendingToken = token;
    try { this._sendOn(sock, { op: "refresh", token }); } catch { /* closing */ }
  }

  _refreshAnswer(sock, frame) {
    if (frame.op === "refreshed") {
      if (sock.pendingToken) sock.token = sock.pendingToken;
      sock.pendingToken = null;
      this.refreshes += 1;
      this._emit("refreshed", frame);
      this._scheduleRefresh(sock);
    } else {
      sock.pendingToken = null;
      this._refreshLater(sock);
    }
  }

  /** After a failed or refused refresh: try again while the token lasts; the hub's 4401 at expiry
   * (then a reconnect with a new token) is the last resort. */
  _refreshLater(sock) {
    const { exp } = tokenTimes(sock.token);
    const left = exp == null ? 0 : exp * 1000 - Date.now();
    if (left > 1000) this._scheduleRefresh(sock, Math.max(1000, left / 3));
  }

  /** A 4401 close for an expired token (the hub says so; a token past its exp here counts too). */
  _expiredClose(sock, reason) {
    if (/expired/i.test(reason ?? "")) return true;
    const { exp } = tokenTimes(sock?.token);
    return exp != null && exp * 1000 <= Date.now();
  }

  /** Give up on a socket without waiting for its close handshake (it may be dead). */
  _abandon(sock, code, reason) {
    if (this._sock !== sock) return;
    this._dropSocket(4000, reason);
    this._socketClosed(sock, sock.probe, sock.welcomed, code, reason);
  }

  _dropSocket(code, reason) {
    const sock = this._sock;
    this._sock = null;
    this._ws = null;
    if (!sock) return;
    this._clearTimer(sock.heartbeat);
    this._clearTimer(sock.watchdog);
    this._clearTimer(sock.refreshTimer);
    const { ws } = sock;
    ws.onopen = ws.onmessage = ws.onclose = null;
    ws.onerror = () => {};
    try { ws.close(code, reason); } catch { /* already closed */ }
  }

  _socketClosed(sock, probe, welcomed, code, reason) {
    if (sock) {
      this._clearTimer(sock.heartbeat);
      this._clearTimer(sock.watchdog);
      this._clearTimer(sock.refreshTimer);
      if (this._sock === sock) { this._sock = null; this._ws = null; }
    }
    if (welcomed) this._rooms.disconnected(); // rooms wait for the rejoin in the next hello or poll
    if (this._closing) return;
    const renew = code === CLOSE.UNAUTHORIZED && typeof this.token === "function" && this._expiredClose(sock, reason);
    if (code in FATAL_CLOSE && !renew) return this._fatal(code, reason || FATAL_CLOSE[code]);
    // (a 4401 for an expired token, with a token function: reconnect with a new token and resume)
    if (probe && !welcomed) { // still polling: try again later
      this._scheduleUpgrade();
      return;
    }
    if (!welcomed || code === CLOSE.TOO_MANY) this.failures += 1;
    const fallback = this.maxAttempts != null && Number.isFinite(this.maxAttempts);
    if (fallback && this.failures >= this.maxAttempts) return this._startPolling();
    this._setState(this.connects === 0 && this.failures === 0 ? "connecting" : "reconnecting");
    const delay = backoffDelay(Math.max(0, this.failures - 1), this.baseDelay, this.maxDelay, this.random);
    this._retryTimer = this._later(() => this._openSocket(false), delay);
  }

  _connectNow() {
    this._clearTimer(this._retryTimer);
    this._openSocket(false);
  }

  // -- long-poll fallback ----------------------------------------------------------------------

  _startPolling() {
    if (this._closing) return;
    this._setState("polling");
    const gen = ++this._pollGen;
    this._flushCancels();
    this._pollLoop(gen);
    this._upgrades = 0;
    this._scheduleUpgrade();
  }

  _scheduleUpgrade() { // the next try at the WebSocket while polling: backing off from upgradeDelay
    if (!this.enabled || this._closing) return;
    const delay = upgradeDelay(this._upgrades++, this.upgradeDelay, this.upgradeRetry, this.random);
    this._upgradeTimer = this._later(() => this._openSocket(true), delay);
  }

  _stopPolling() {
    this._pollGen += 1;
    this._abort?.abort();
    this._abort = null;
    this._clearTimer(this._upgradeTimer);
  }

  _sleep(ms) { return new Promise((resolve) => this._later(resolve, ms)); }

  async _pollLoop(gen) {
    let errors = 0;
    const live = () => gen === this._pollGen && !this._closing;
    while (live()) {
      const started = Date.now();
      const resume = this.stream.resume();
      // with rooms joined: POST /api/events {resume, rooms, timeout}; else the v1 GET form
      let reply, body, token, rooms = [];
      try {
        token = await this._token();
        if (!live()) return;
        if (!this._rooms.pollUnsupported) rooms = this._rooms.requests();
        if (this.educatorId == null && typeof token === "string") {
          const sub = tokenClaims(token).sub;
          if (typeof sub === "string") this.educatorId = sub;
        }
        this._abort = typeof AbortController === "function" ? new AbortController() : null;
        this._pollRestart = false;
        this._pollInFlight = true;
        if (rooms.length) {
          const ask = { timeout: this.pollTimeout, rooms };
          if (resume) ask.resume = resume;
          reply = await this.fetch(`${this.httpBase}/api/events`, { method: "POST",
            headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
            body: JSON.stringify(ask), signal: this._abort?.signal });
        } else {
          const params = new URLSearchParams({ timeout: String(this.pollTimeout) });
          if (resume) { params.set("epoch", resume.epoch); params.set("after", String(resume.seq)); }
          reply = await this.fetch(`${this.httpBase}/api/events?${params}`, {
            headers: { Authorization: `Bearer ${token}` }, signal: this._abort?.signal });
        }
        if (!live()) return;
        if (reply.status === 401 || reply.status === 403) {
          return this._fatal(reply.status === 401 ? CLOSE.UNAUTHORIZED : CLOSE.ORIGIN_REFUSED, `poll refused: HTTP ${reply.status}`);
        }
        if (rooms.length && (reply.status === 404 || reply.status === 405)) { // a hub without rooms
          this._pollInFlight = false;
          this._rooms.unsupported(reply.status);
          continue;
        }
        if (!reply.ok) throw new Error(`HTTP ${reply.status}`);
        body = await reply.json();
        this._pollInFlight = false;
      } catch (err) {
        this._pollInFlight = false;
        if (!live()) return;
        if (this._pollRestart) continue; // aborted to carry a room joined or left: poll again now
        errors += 1;
        await this._sleep(backoffDelay(Math.min(errors, 5), this.baseDelay, this.maxDelay, this.random));
        continue;
      }
      if (!live()) return;
      errors = 0;
      let fresh = false;
      if (!body.resumed) {
        const frame = { op: "welcome", session: "poll", epoch: body.epoch, seq: body.seq ?? 0,
          resumed: false, snapshot: body.snapshot ?? [], polling: true };
        fresh = this.stream.applyWelcome(frame);
        if (fresh) this._emit("snapshot", frame);
        this._emit("welcome", frame);
        this._resolve?.(frame);
      }
      if (rooms.length) this._rooms.applyAnswers(body.rooms, rooms.map((r) => r.room));
      if (body.messages?.length) this._handleFrame({ op: "batch", messages: body.messages });
      if (body.resumed) this.stream.advanceTo(body.seq);
      this._flushCancels();
      const quiet = !fresh && !body.messages?.length;
      const wait = this.pollMinInterval - (Date.now() - started);
      if (quiet && wait > 0 && live()) await this._sleep(wait); // never spin on an empty answer
    }
  }

  /** A room was joined or left while polling: end the waiting poll so that the next one carries it. */
  _restartPoll() {
    if (this._state !== "polling" || !this._pollInFlight) return;
    this._pollRestart = true;
    this._abort?.abort();
  }

  _flushCancels() { // while polling, the ops that have an HTTP form go that way
    const keep = [];
    for (const op of this._queue.splice(0)) {
      if (op.op === "cancel") this._cancelOverHttp(op.jobId);
      else if (op.op === "publish" && this._rooms.rooms.has(op.room)) this._rooms.publishOverHttp(op);
      else if (op.op !== "ping") keep.push(op);
    }
    this._queue.push(...keep);
  }

  _cancelOverHttp(jobId) {
    this.cancelJob(jobId).catch((err) =>
      this._emit("error", { code: "cancel_failed", message: err.message, ref: "cancel", fatal: false }));
  }

  // -- HTTP API --------------------------------------------------------------------------------

  async request(method, path, body, extraHeaders = undefined) {
    const headers = { ...extraHeaders, Authorization: `Bearer ${await this._token()}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const reply = await this.fetch(`${this.httpBase}${path}`, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    let payload = null;
    const text = await reply.text();
    if (text) { try { payload = JSON.parse(text); } catch { payload = text; } }
    if (!reply.ok) {
      const error = new HubHttpError(reply.status, payload?.detail ?? payload ?? reply.statusText);
      error.retryAfter = reply.headers?.get?.("Retry-After") ?? null;
      throw error;
    }
    return payload;
  }

  /**
   * POST /api/jobs with an `Idempotency-Key` (PROTOCOL.md section 9): `options.idempotencyKey` (1-128
   * printable ASCII characters; the same key and body within 24 hours gets the first job back, 200),
   * else a fresh uuid4 for this call. A lost answer (fetch rejected with a TypeError, its network
   * failure: the request may have reached the hub), a 503 or a 429 is sent again with the same key, up to `options.retries` (default 2) more
   * times, after the 429's Retry-After or `options.retryDelay` ms (default 1000); then, or on any other
   * refusal (409: the key was used with another body; 422), it throws (HubHttpError, or fetch's error).
   */
  async submitJob(kind, params = {}, options = {}) {
    const key = options.idempotencyKey ?? newIdempotencyKey();
    const retries = options.retries ?? 2;
    const retryDelay = options.retryDelay ?? 1000;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.request("POST", "/api/jobs", { kind, params }, { "Idempotency-Key": key });
      } catch (err) {
        const retryable = err instanceof HubHttpError ? err.status === 503 || err.status === 429
          : err instanceof TypeError; // fetch's network failure: the request may have reached the hub
        if (!retryable || attempt >= retries) throw err;
        const after = err instanceof HubHttpError && err.status === 429 ? Number(err.retryAfter) * 1000 : NaN;
        await new Promise((resolve) => setTimeout(resolve, Number.isFinite(after) ? after : retryDelay));
      }
    }
  }
  listJobs() { return this.request("GET", "/api/jobs"); }
  getJob(jobId) { return this.request("GET", `/api/jobs/${encodeURIComponent(jobId)}`); }
  getResult(jobId) { return this.request("GET", `/api/jobs/${encodeURIComponent(jobId)}/result`); }
  cancelJob(jobId) { return this.request("POST", `/api/jobs/${encodeURIComponent(jobId)}/cancel`); }
}

export default HubClient;
