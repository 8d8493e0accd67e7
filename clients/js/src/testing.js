// Test helpers for apps that use the hub's seed API (getWebSocketService, useWebSocket): a fake
// WebSocketService that a test drives by hand. No dependency on Jest or Vitest: it works in both.
//
//   import { createFakeWebSocketService, installFakeWebSocketService, resetWebSocketService } from "hub-client/testing";
//   const hub = installFakeWebSocketService(createFakeWebSocketService());
//   render(<QuizProgress quizId="q1" />);             // its useWebSocket("quiz_status", ...) subscribes
//   act(() => { hub.emit("quiz_status", { jobId: "j1", quizId: "q1", status: "processing", progress: 40 }); });
//   expect(hub.sent).toEqual([{ op: "cancel", jobId: "j1" }]);
//   afterEach(resetWebSocketService);

import { CLIENT_EVENTS, checkOp, checkSubscription, deliver, installWebSocketService, resetWebSocketService } from "./service.js";

export { resetWebSocketService };

/**
 * A fake of WebSocketService with the same surface (isConnected, state, client, connect, disconnect,
 * send, subscribe, configure, listenerCount) and no network, plus what a test needs:
 * - `emit(type, data, extra?)`: delivers an envelope `{seq, type, ts, data, ...extra}` (seq counting
 *   from 1, ts in seconds) to the subscribers of `type` and of "*", as the hub would; returns it.
 *   For a client event ("error", "state", "welcome", ...) it delivers `{...data, ...extra}` as the event.
 * - `sent`: every op given to send(), in order (kept whether connected or not).
 * - `setConnected(connected)`: state "connected", or "reconnecting" (isConnected false), telling
 *   the "state" subscribers ({state, previous}).
 * - `connects`: how many connections connect() started (calls while one is live, as from every
 *   mounted useWebSocket, count once, as the real service makes one client); `options`: what
 *   configure() was given.
 * It starts connected (state "connected"), like a page whose connection is up, so that a component's
 * first render already sees isConnected; disconnect() makes it "closed" and a later connect()
 * "connected" again. `{ connected: false }`: it starts "idle", connect() makes it "connecting", and
 * it is connected only after setConnected(true).
 */
export function createFakeWebSocketService({ connected = true } = {}) {
  const handlers = new Map(); // type -> Set of handler(data, envelope)
  let state = connected ? "connected" : "idle";
  let live = false; // connect() called and no disconnect() since
  let seq = 0;
  const setState = (next) => {
    if (next === state) return;
    const event = { state: next, previous: state };
    state = next;
    fake._dispatch("state", event);
  };
  const fake = {
    sent: [],
    connects: 0,
    options: {},
    get isConnected() { return state === "connected"; },
    get state() { return state; },
    get client() { return null; },
    configure(options = {}) { fake.options = { ...options }; return fake; },
    connect() {
      if (!live) {
        live = true;
        fake.connects += 1;
        if (state === "idle" || state === "closed") setState(connected ? "connected" : "connecting");
      }
      return Promise.resolve();
    },
    disconnect() {
      live = false;
      if (state !== "idle") setState("closed");
    },
    send(message) {
      checkOp(message);
      fake.sent.push(message);
    },
    subscribe(type, handler) {
      checkSubscription(type, handler);
      if (!handlers.has(type)) handlers.set(type, new Set());
      const entry = (data, envelope) => handler(data, envelope);
      handlers.get(type).add(entry);
      return () => {
        handlers.get(type)?.delete(entry);
        if (handlers.get(type)?.size === 0) handlers.delete(type);
      };
    },
    listenerCount(type) { return handlers.get(type)?.size ?? 0; },
    emit(type, data, extra = {}) {
      if (typeof type !== "string" || !type || type === "*") {
        throw new TypeError(`emit() takes a message type such as "quiz_status", not ${JSON.stringify(type)}`);
      }
      if (CLIENT_EVENTS.has(type)) { // "error", "state", ...: the event itself, as HubClient emits it
        const event = { ...data, ...extra };
        fake._dispatch(type, event);
        return event;
      }
      seq += 1;
      const envelope = { seq, type, ts: Date.now() / 1000, data, ...extra };
      fake._dispatch(type, envelope);
      fake._dispatch("*", envelope);
      return envelope;
    },
    setConnected(value) { setState(value ? "connected" : "reconnecting"); },
    _dispatch(type, payload) {
      for (const handler of [...(handlers.get(type) ?? [])]) deliver(handler, type, payload);
    },
  };
  return fake;
}

/** Make `fake` (createFakeWebSocketService()) the page's service: getWebSocketService(),
 * configureWebSocketService() and useWebSocket use it until resetWebSocketService(). Returns it. */
export function installFakeWebSocketService(fake = createFakeWebSocketService()) {
  return installWebSocketService(fake);
}
