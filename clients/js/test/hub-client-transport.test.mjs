// clients/js/src/hub-client.js: which WebSocket it uses, what it says when there is none, and how it
// goes back from long-polling to the WebSocket (a short first wait, then backing off).
// `npm test` in clients/js (Node 20).
import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";

import { HubClient, NO_WEBSOCKET, upgradeDelay } from "../src/hub-client.js";

function socketClass() { // a WebSocket that never connects unless told to, recording each one made
  class Socket {
    constructor(url, protocol) {
      Object.assign(this, { url, protocol, sent: [], at: Date.now() });
      Socket.made.push(this);
    }
    send(text) { this.sent.push(JSON.parse(text)); }
    close() {}
    fail() { this.onclose?.({ code: 1006, reason: "" }); }
  }
  Socket.made = [];
  return Socket;
}

function pollingFetch() { // a hub that answers long-polls with nothing new
  const calls = [];
  const fetch = async (url) => {
    calls.push(new URL(url));
    await new Promise((resolve) => setTimeout(resolve, 5));
    return new Response(JSON.stringify({ epoch: "P1", seq: 0, resumed: calls.length > 1, messages: [],
      snapshot: [] }), { status: 200 });
  };
  fetch.calls = calls;
  return fetch;
}

import { sleep, waitFor } from "./fakes.mjs";

const clients = [];
function client(options) {
  const made = new HubClient({ url: "http://hub.test:8000", token: "tok", baseDelay: 1, maxDelay: 5,
    heartbeat: 60000, random: () => 0.5, pollMinInterval: 5, ...options });
  clients.push(made);
  return made;
}
afterEach(() => { while (clients.length) clients.pop().close(); });

/** Fail every WebSocket the client opens until it polls. */
async function failUntilPolling(hub, Socket) {
  hub.start();
  for (let i = 1; hub.state !== "polling"; i++) {
    await waitFor(() => Socket.made.length >= i, `attempt ${i}`);
    Socket.made[i - 1].fail();
  }
}

describe("a WebSocket implementation", () => {
  test("the `WebSocket` option is the one used (e.g. the ws package's in Node 20)", async () => {
    const Socket = socketClass();
    const hub = client({ WebSocket: Socket });
    hub.start();
    await waitFor(() => Socket.made.length === 1, "a socket");
    assert.equal(Socket.made[0].url, "ws://hub.test:8000/ws");
    assert.equal(Socket.made[0].protocol, "hub.v1");
    Socket.made[0].onopen();
    await waitFor(() => Socket.made[0].sent.length === 1, "hello");
    assert.deepEqual(Socket.made[0].sent[0], { op: "hello", token: "tok" });
  });

  test("with none, an error event says so in a sentence and the client long-polls at once", async () => {
    const global = globalThis.WebSocket;
    globalThis.WebSocket = undefined; // what Node 20 has
    try {
      const fetch = pollingFetch();
      const hub = client({ fetch });
      const errors = [], states = [];
      hub.on("error", (e) => errors.push(e));
      hub.on("state", (e) => states.push(e.state));
      const welcome = await hub.start();
      assert.equal(welcome.polling, true);
      assert.deepEqual(errors, [{ code: "no_websocket", message: NO_WEBSOCKET, fatal: false }]);
      assert.match(errors[0].message, /no WebSocket/);
      assert.match(errors[0].message, /"ws" package/);
      assert.deepEqual(states, ["polling"], "no WebSocket attempts, no reconnecting");
      assert.ok(fetch.calls.some((u) => u.pathname === "/api/events"));
    } finally {
      globalThis.WebSocket = global;
    }
  });
});

describe("going back from polling to the WebSocket", () => {
  test("upgradeDelay doubles from the first wait up to the cap, jittered in [half, whole)", () => {
    assert.equal(upgradeDelay(0, 1000, 30000, () => 0), 500);
    assert.equal(upgradeDelay(0, 1000, 30000, () => 0.999999) < 1000, true);
    assert.equal(upgradeDelay(3, 1000, 30000, () => 0.5), 6000);
    assert.equal(upgradeDelay(10, 1000, 30000, () => 0.5), 22500, "capped");
    for (let attempt = 0; attempt < 10; attempt++) {
      const whole = Math.min(30000, 1000 * 2 ** attempt);
      const samples = Array.from({ length: 200 }, () => upgradeDelay(attempt, 1000, 30000));
      assert.ok(samples.every((d) => d >= whole / 2 && d < whole), `attempt ${attempt} within bounds`);
      assert.ok(new Set(samples).size > 150, "jittered, not fixed");
    }
  });

  test("the first try comes after upgradeDelay, not after upgradeRetry", async () => {
    const Socket = socketClass();
    const hub = client({ WebSocket: Socket, fetch: pollingFetch(), maxAttempts: 2, upgradeDelay: 20,
      upgradeRetry: 600000 });
    await failUntilPolling(hub, Socket);
    const polling = Date.now();
    await waitFor(() => Socket.made.length === 3, "the first upgrade try", 2000);
    assert.ok(Socket.made[2].at - polling < 1500, "well before upgradeRetry (600 s)");
    Socket.made[2].onopen();
    await waitFor(() => Socket.made[2].sent.length === 1, "hello");
    Socket.made[2].onmessage({ data: JSON.stringify({ op: "welcome", session: "s", epoch: "P1", seq: 0,
      resumed: true, heartbeat: 20 }) });
    assert.equal(hub.state, "connected");
  });

  test("failed tries back off: each wait about double the one before, up to upgradeRetry", async () => {
    const Socket = socketClass();
    const hub = client({ WebSocket: Socket, fetch: pollingFetch(), maxAttempts: 1, upgradeDelay: 40,
      upgradeRetry: 320 });
    await failUntilPolling(hub, Socket);
    const waits = [];
    for (let probe = 1; probe <= 5; probe++) {
      await waitFor(() => Socket.made.length === probe + 1, `upgrade try ${probe}`, 5000);
      const socket = Socket.made[probe];
      waits.push(socket.at - Socket.made[probe - 1].at);
      socket.fail();
      assert.equal(hub.state, "polling");
    }
    // random 0.5: 0.75 of 40, 80, 160, 320, 320 (timers never fire early; a busy machine fires them late)
    const planned = [30, 60, 120, 240, 240];
    waits.forEach((wait, i) => assert.ok(wait >= planned[i] - 2, `wait ${i}: ${wait} ms >= ${planned[i]}`));
    assert.ok(waits[2] > waits[0], `backing off: ${waits}`);
  });
});
