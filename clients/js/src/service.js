// The seed web app's API on top of HubClient: one shared connection per page.
//
//   import { getWebSocketService } from "hub-client";        // or "hub-client/react"
//   configureWebSocketService({ url: "https://hub.example.org" });  // optional, before the first connect
//   const hub = getWebSocketService();
//   const off = hub.subscribe("quiz_status", (data, envelope) => show(data.progress));
//   await hub.connect();
//   hub.isConnected;          // true while the socket is open and welcomed
//   hub.send({ op: "cancel", jobId });
//
// Settings a bundler provides (Next.js inlines `process.env.NEXT_PUBLIC_*`; hub-client.js readEnv()):
// NEXT_PUBLIC_WS_URL (the hub's ws:// or http:// base; default the page's origin),
// NEXT_PUBLIC_ENABLE_WEBSOCKET=false (long-poll instead), NEXT_PUBLIC_HUB_TOKEN_URL (the app's own
// route answering {"token": "..."}; default /api/hub-token) when no token is configured.

import { HubClient, readEnv, refreshDelay } from "./hub-client.js";

/** The app route asked for a token when none is configured (NEXT_PUBLIC_HUB_TOKEN_URL overrides it). */
export const DEFAULT_TOKEN_URL = "/api/hub-token";
// A token fetched from the token URL is used again until this close (ms) to its refresh point (85% of
// its lifetime, REFRESH_AT), so that polls and reconnects do not each ask the app's route.
const REUSE_MARGIN_MS = 1000;
// The HubClient events that are not envelopes: their handlers get the event itself as `data`.
export const CLIENT_EVENTS = new Set(["welcome", "snapshot", "state", "error", "pong", "refreshed"]);
// Where the page's service lives: on globalThis, so that two copies of this module in one page (a
// bundle and /static, or two bundles) still share one connection.
const SLOT = Symbol.for("hub-client.webSocketService");
const FATAL = Symbol("fatal"); // the service's own "error" listener on its client

/** Getting a token from the token URL failed; `String(error)` is the sentence alone. */
export class HubTokenError extends Error {
  constructor(message) {
    super(message);
    this.name = "HubTokenError";
    this.code = "no_token";
  }

  toString() { return this.message; }
}

function tokenError(url, why) {
  return new HubTokenError(`could not get a hub token from ${url}: ${why}. Serve {"token": "<a JWT signed with ` +
    `HUB_SECRET>"} there from your app's server (or set NEXT_PUBLIC_HUB_TOKEN_URL to the route that does), or ` +
    `pass one with configureWebSocketService({ token }).`);
}

/**
 * A token function that asks `url` (GET, the page's cookies sent: same-origin credentials) for
 * `{"token": "..."}` and reuses the answer until the client would refresh it (85% of its lifetime);
 * one request at a time. Throws a HubTokenError with a sentence when the route fails.
 */
export function tokenFromUrl(url, fetchFn = (...args) => globalThis.fetch(...args)) {
  let token = null, pending = null;
  const ask = async () => {
    let where = url;
    try {
      if (globalThis.location?.href) where = new URL(url, globalThis.location.href).href;
    } catch { /* a URL that does not parse is reported by fetch below */ }
    let reply, body;
    try {
      reply = await fetchFn(where, { credentials: "same-origin", headers: { Accept: "application/json" } });
    } catch (err) {
      throw tokenError(url, err?.message ?? String(err));
    }
    if (!reply.ok) throw tokenError(url, `HTTP ${reply.status}${reply.statusText ? ` ${reply.statusText}` : ""}`);
    try { body = await reply.json(); } catch { throw tokenError(url, "the answer is not JSON"); }
    if (!body || typeof body.token !== "string" || !body.token) throw tokenError(url, 'the answer has no "token" string');
    return body.token;
  };
  return () => {
    const left = token == null ? null : refreshDelay(token);
    if (left != null && left > REUSE_MARGIN_MS) return Promise.resolve(token);
    pending ??= ask().then((fresh) => { token = fresh; return fresh; }).finally(() => { pending = null; });
    return pending;
  };
}

/** A TypeError with a sentence unless `message` is a client op: an object with a string `op`. */
export function checkOp(message) {
  if (!message || typeof message !== "object" || Array.isArray(message) || typeof message.op !== "string") {
    throw new TypeError(`send() takes a client op, an object such as { op: "cancel", jobId } (PROTOCOL.md ` +
      `section 2), not ${message === null ? "null" : Array.isArray(message) ? "an array" : typeof message}`);
  }
}

/** A TypeError with a sentence unless `type` is a non-empty string and `handler` a function. */
export function checkSubscription(type, handler) {
  if (typeof type !== "string" || !type) {
    throw new TypeError(`subscribe() takes a message type such as "quiz_status" (or "*"), not ${JSON.stringify(type)}`);
  }
  if (typeof handler !== "function") throw new TypeError(`subscribe("${type}", handler): the handler is not a function`);
}

/** Call `handler(data, envelope)` for an envelope, `handler(event, event)` for a client event. */
export function deliver(handler, type, payload) {
  try {
    if (CLIENT_EVENTS.has(type)) handler(payload, payload);
    else handler(payload?.data, payload);
  } catch (err) {
    console.error(`hub: a ${type} handler failed`, err);
  }
}

/**
 * The page's connection to the hub, as the seed web app uses it: one HubClient (made on the first
 * connect() or send(), again after disconnect()), subscriptions that outlive reconnects and new
 * clients, and the offline queue of HubClient for send(). Get the page's one with getWebSocketService().
 */
export class WebSocketService {
  /** `options`: HubClient options ({url, token, protocol, types, enabled, ...}) plus `tokenUrl`. */
  constructor(options = {}) {
    this._options = {};
    this._handlers = new Map(); // type -> Set of handler(data, envelope)
    this._offs = new Map(); // type -> the HubClient listener's remover
    this._client = null;
    this._tokenFromUrl = null; // the token function made from the token URL, when no token is configured
    this._ready = null;
    this._gen = 0;
    this.configure(options);
  }

  /** Set the options of the next HubClient made (by the first connect(), or the next after
   * disconnect()): HubClient options plus `tokenUrl`. A client already made keeps its own. */
  configure(options = {}) {
    if (!options || typeof options !== "object") {
      throw new TypeError("configureWebSocketService() takes an object of HubClient options, such as { url, token }");
    }
    const token = options.token;
    if (token !== undefined && token !== null && typeof token !== "string" && typeof token !== "function") {
      throw new TypeError("the token is a string or a (possibly async) function that returns one");
    }
    this._options = { ...options };
    return this;
  }

  /** The HubClient in use, or null before the first connect() or send() and after disconnect(). */
  get client() { return this._client; }

  /** The HubClient's state ("idle" without one): idle, connecting, connected, reconnecting, polling, closed. */
  get state() { return this._client?.state ?? "idle"; }

  /** True while the WebSocket is open and welcomed (state "connected"); false while long-polling. */
  get isConnected() { return this.state === "connected"; }

  _makeClient() {
    for (const off of this._offs.values()) off(); // from a client that ended (a fatal close)
    this._offs.clear();
    const { tokenUrl: configured, ...options } = this._options;
    this._tokenFromUrl = null;
    if (options.token == null || options.token === "") {
      const url = configured ?? readEnv().tokenUrl ?? DEFAULT_TOKEN_URL;
      options.token = this._tokenFromUrl = tokenFromUrl(url, options.fetch);
    }
    const client = new HubClient(options);
    this._client = client;
    this._ready = null;
    for (const type of this._handlers.keys()) this._listen(type);
    this._offs.set(FATAL, client.on("error", (event) => { // say it somewhere
      if (event.fatal && !this._handlers.has("error")) console.error(`hub: ${event.message}`);
    }));
    return client;
  }

  _listen(type) {
    if (!this._client || this._offs.has(type)) return;
    this._offs.set(type, this._client.on(type, (payload) => {
      for (const handler of [...(this._handlers.get(type) ?? [])]) deliver(handler, type, payload);
    }));
  }

  /**
   * Connect the shared HubClient (made now on first use). Resolves once the hub answered (the
   * first welcome, or the first poll answer when long-polling); rejects with the reason on a fatal
   * close (a refused token: code 4401), with a HubTokenError when the token URL gives no token, or
   * when disconnect() comes first. Idempotent: while a client is live it returns the same promise.
   */
  connect() {
    if (this._client && this._client.state !== "closed" && this._ready) return this._ready;
    let client;
    try {
      client = this._client && this._client.state === "idle" ? this._client : this._makeClient();
    } catch (err) { // no url: HubClient says so
      return Promise.reject(err);
    }
    const fromUrl = this._tokenFromUrl;
    const gen = ++this._gen;
    this._ready = (async () => {
      if (fromUrl) await fromUrl(); // fail here with the token route's sentence, before any socket opens
      const gone = () => new Error("disconnect() was called before the hub answered");
      if (gen !== this._gen) throw gone();
      try {
        await client.start();
      } catch (err) {
        throw gen !== this._gen ? gone() : err;
      }
    })();
    this._ready.catch((err) => {
      // A fatal close reached "error" subscribers (or the console) from the client itself; a token
      // route that gave no token, before the client started, is told here the same way.
      if (gen !== this._gen || !(err instanceof HubTokenError)) return;
      if (client === this._client) client.close(); // nothing to connect with; a later connect() tries again
      for (const handler of [...(this._handlers.get("error") ?? [])]) {
        deliver(handler, "error", { code: err.code, message: err.message, fatal: true });
      }
      if (!this._handlers.has("error")) console.error(`hub: ${err.message}`);
    });
    return this._ready;
  }

  /** Close the HubClient now (subscribers see state "closed"); subscriptions stay, and a later
   * connect() makes a new client. */
  disconnect() {
    this._gen += 1;
    const client = this._client;
    if (!client) return;
    client.close();
    for (const off of this._offs.values()) off();
    this._offs.clear();
    this._client = null;
    this._ready = null;
  }

  /** Send a client op ({op: "cancel", jobId}, {op: "join", room}, ...; PROTOCOL.md sections 2 and 7):
   * at once when connected, else kept in HubClient's offline queue (bounded by `offlineQueue`,
   * default 100, oldest dropped) and sent after the next welcome. TypeError for a non-op. */
  send(message) {
    checkOp(message);
    (this._client ?? this._makeClient()).send(message);
  }

  /**
   * Call `handler(data, envelope)` for each message of `type` (a message type such as
   * "quiz_status", or "*" for all); for the client's own events ("state", "error", "welcome",
   * "snapshot") `handler(event, event)`. Kept across disconnect() and connect(). Returns the
   * function that removes it.
   */
  subscribe(type, handler) {
    checkSubscription(type, handler);
    if (!this._handlers.has(type)) this._handlers.set(type, new Set());
    const entry = (data, envelope) => handler(data, envelope);
    this._handlers.get(type).add(entry);
    this._listen(type);
    return () => {
      const set = this._handlers.get(type);
      if (!set?.delete(entry) || set.size) return;
      this._handlers.delete(type);
      this._offs.get(type)?.();
      this._offs.delete(type);
    };
  }

  /** How many handlers are subscribed to `type` now. */
  listenerCount(type) { return this._handlers.get(type)?.size ?? 0; }
}

/** The page's one WebSocketService (made on first use, or the one installed by hub-client/testing). */
export function getWebSocketService() {
  globalThis[SLOT] ??= new WebSocketService();
  return globalThis[SLOT];
}

/** Set the options of the page's service (HubClient options, plus `tokenUrl`), once, before its first
 * connect; returns the service. A token: a string, or a (possibly async) function returning one. */
export function configureWebSocketService(options = {}) {
  return getWebSocketService().configure(options);
}

/** Make `service` the page's service (hub-client/testing's installFakeWebSocketService uses it). */
export function installWebSocketService(service) {
  if (!service || typeof service.subscribe !== "function" || typeof service.connect !== "function") {
    throw new TypeError("installFakeWebSocketService() takes a service such as createFakeWebSocketService() returns");
  }
  globalThis[SLOT] = service;
  return service;
}

/** Forget the page's service (disconnecting a real one): the next getWebSocketService() makes a
 * fresh, unconfigured one. */
export function resetWebSocketService() {
  const current = globalThis[SLOT];
  delete globalThis[SLOT];
  if (current instanceof WebSocketService) current.disconnect();
}
