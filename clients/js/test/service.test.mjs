// The seed web app's API (clients/js/src/service.js): getWebSocketService(), configureWebSocketService()
// and WebSocketService on top of HubClient, against a fake WebSocket and a fake fetch.
// `node --test clients/js/test/` (Node 20, no packages).
import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";

import * as hubClient from "../src/hub-client.js";
import { HubClient } from "../src/hub-client.js";
import {
  DEFAULT_TOKEN_URL, HubTokenError, WebSocketService, configureWebSocketService, getWebSocketService,
  resetWebSocketService, tokenFromUrl,
} from "../src/service.js";

import { fakeFetch, fakeWebSocket, sleep, waitFor } from "./fakes.mjs";

const jwtLike = (claims) => `eyJhbGciOiJIUzI1NiJ9.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.sig`;
const fresh = (sub = "alice", ttl = 3600) => {
  const now = Date.now() / 1000;
  return jwtLike({ sub, role: "educator", iat: now, exp: now + ttl });
};
const welcome = (extra = {}) => ({ op: "welcome", session: "s1", educatorId: "alice", epoch: "E1", seq: 0,
  heartbeat: 20, resumed: false, snapshot: [], ...extra });
const quiz = (seq, progress, jobId = "j1") => ({ seq, type: "quiz_status", ts: 1000 + seq,
  data: { jobId, quizId: "q1", status: "processing", progress, message: `${progress}%` } });
const batch = (...messages) => ({ op: "batch", messages });
const hang = () => new Promise(() => {});

/** Options for a service whose HubClient talks to fakes: `.WebSocket.sockets` lists its sockets. */
function fakes(extra = {}) {
  const WebSocket = fakeWebSocket();
  return { url: "http://hub.test:8000", WebSocket, heartbeat: 60000, baseDelay: 1, maxDelay: 5, random: () => 0.5,
    fetch: hang, ...extra };
}

/** Open the service's current socket and welcome it; returns the socket. */
async function welcomeLast(WebSocket, frame = welcome()) {
  await waitFor(() => WebSocket.sockets.length > 0, "a socket");
  const ws = WebSocket.last();
  ws.open();
  await waitFor(() => ws.ops("hello").length === 1, "hello");
  ws.receive(frame);
  return ws;
}

const saved = { location: globalThis.location, env: { ...process.env } };
afterEach(() => {
  resetWebSocketService();
  if (saved.location === undefined) delete globalThis.location;
  else globalThis.location = saved.location;
  for (const key of Object.keys(process.env)) if (key.startsWith("NEXT_PUBLIC_") && !(key in saved.env)) delete process.env[key];
});

describe("getWebSocketService: one shared HubClient per page", () => {
  test("every caller gets the same service; many subscribers share one HubClient and one socket", async () => {
    const options = fakes({ token: "tok" });
    const service = configureWebSocketService(options);
    assert.equal(service, getWebSocketService());
    assert.ok(service instanceof WebSocketService);
    assert.equal(hubClient.getWebSocketService(), service, "hub-client re-exports the same singleton");
    const got = [];
    const offs = [1, 2, 3].map((n) => getWebSocketService().subscribe("quiz_status", (data) => got.push(`${n}:${data.progress}`)));
    const first = getWebSocketService().connect();
    assert.equal(getWebSocketService().connect(), first, "connect() is idempotent");
    const ws = await welcomeLast(options.WebSocket);
    await first;
    assert.equal(options.WebSocket.sockets.length, 1, "one socket for the page");
    assert.ok(service.client instanceof HubClient);
    assert.equal(service.client._handlers.get("quiz_status").size, 1, "one HubClient listener for all subscribers");
    ws.receive(batch(quiz(1, 40)));
    assert.deepEqual(got, ["1:40", "2:40", "3:40"]);
    offs[0]();
    offs[1]();
    ws.receive(batch(quiz(2, 60)));
    assert.deepEqual(got.slice(3), ["3:60"]);
    offs[2]();
    assert.equal(service.client._handlers.get("quiz_status")?.size ?? 0, 0, "the last unsubscribe removes the listener");
    assert.equal(service.listenerCount("quiz_status"), 0);
  });

  test("the handler gets (data, envelope); '*' gets every type; client events get (event, event)", async () => {
    const options = fakes({ token: "tok" });
    const service = configureWebSocketService(options);
    const calls = [];
    service.subscribe("quiz_status", (data, env) => calls.push(["quiz", data, env]));
    service.subscribe("*", (data, env) => calls.push(["*", data.id ?? data.jobId, env.type]));
    service.subscribe("state", (event, same) => calls.push(["state", event.state, event === same]));
    service.connect();
    const ws = await welcomeLast(options.WebSocket);
    const notice = { seq: 2, type: "notification", ts: 1002,
      data: { id: "n1", level: "info", title: "Hi", body: "there", broadcast: false } };
    ws.receive(batch(quiz(1, 40), notice));
    const quizCall = calls.find((c) => c[0] === "quiz");
    assert.deepEqual(quizCall[1], quiz(1, 40).data, "data is the envelope's data");
    assert.deepEqual(quizCall[2], quiz(1, 40), "the envelope itself second");
    assert.deepEqual(calls.filter((c) => c[0] === "*"), [["*", "j1", "quiz_status"], ["*", "n1", "notification"]]);
    assert.deepEqual(calls.filter((c) => c[0] === "state"), [["state", "connecting", true], ["state", "connected", true]]);
  });

  test("a handler that throws does not stop the others", async () => {
    const options = fakes({ token: "tok" });
    const service = configureWebSocketService(options);
    const got = [];
    const errors = [];
    const original = console.error;
    console.error = (...args) => errors.push(args.join(" "));
    try {
      service.subscribe("quiz_status", () => { throw new Error("boom"); });
      service.subscribe("quiz_status", (data) => got.push(data.progress));
      service.connect();
      const ws = await welcomeLast(options.WebSocket);
      ws.receive(batch(quiz(1, 10)));
    } finally {
      console.error = original;
    }
    assert.deepEqual(got, [10]);
    assert.match(errors.join("\n"), /quiz_status handler failed/);
  });
});

describe("WebSocketService state and ops", () => {
  test("isConnected follows the client's state: connecting, connected, reconnecting, connected again", async () => {
    const options = fakes({ token: "tok" });
    const service = configureWebSocketService(options);
    assert.equal(service.state, "idle");
    assert.equal(service.isConnected, false);
    assert.equal(service.client, null);
    service.connect();
    await waitFor(() => service.state === "connecting", "connecting");
    assert.equal(service.isConnected, false);
    const ws = await welcomeLast(options.WebSocket);
    assert.equal(service.state, "connected");
    assert.equal(service.isConnected, true);
    ws.serverClose(1012, "restart");
    assert.equal(service.state, "reconnecting");
    assert.equal(service.isConnected, false);
    await waitFor(() => options.WebSocket.sockets.length === 2, "a reconnect");
    await welcomeLast(options.WebSocket, welcome({ resumed: true }));
    assert.equal(service.isConnected, true);
  });

  test("send() queues ops while offline (before connect too) and sends them after the welcome", async () => {
    const options = fakes({ token: "tok" });
    const service = configureWebSocketService(options);
    service.send({ op: "cancel", jobId: "j1" });
    assert.ok(service.client, "send() makes the client");
    assert.equal(service.client.queued, 1);
    assert.equal(service.state, "idle");
    service.connect();
    const ws = await welcomeLast(options.WebSocket);
    assert.deepEqual(ws.ops("cancel"), [{ op: "cancel", jobId: "j1" }]);
    ws.serverClose(1001, "going away");
    service.send({ op: "subscribe", types: ["notification"] });
    assert.equal(ws.ops("subscribe").length, 0, "not sent on the closed socket");
    assert.equal(service.client.queued, 1);
    await waitFor(() => options.WebSocket.sockets.length === 2, "a reconnect");
    const again = await welcomeLast(options.WebSocket, welcome({ resumed: true }));
    assert.deepEqual(again.ops("subscribe"), [{ op: "subscribe", types: ["notification"] }]);
  });

  test("send() and subscribe() say in a sentence what they take", () => {
    const service = configureWebSocketService(fakes({ token: "tok" }));
    assert.throws(() => service.send("cancel j1"), { name: "TypeError", message: /takes a client op.*not string/ });
    assert.throws(() => service.send({ jobId: "j1" }), /such as \{ op: "cancel", jobId \}/);
    assert.throws(() => service.send([]), /not an array/);
    assert.throws(() => service.subscribe("", () => {}), /message type such as "quiz_status"/);
    assert.throws(() => service.subscribe("quiz_status"), /the handler is not a function/);
    assert.throws(() => configureWebSocketService("ws://hub"), /takes an object of HubClient options/);
    assert.throws(() => configureWebSocketService({ token: 42 }), /a string or a \(possibly async\) function/);
    assert.equal(service.client, null, "nothing was made");
  });

  test("disconnect() closes the client; subscriptions stay; connect() makes a new client", async () => {
    const options = fakes({ token: "tok" });
    const service = configureWebSocketService(options);
    const got = [];
    const states = [];
    service.subscribe("quiz_status", (data) => got.push(data.progress));
    service.subscribe("state", ({ state }) => states.push(state));
    service.connect();
    const ws = await welcomeLast(options.WebSocket);
    const first = service.client;
    service.disconnect();
    assert.deepEqual(ws.closedWith, { code: 1000, reason: "client closed" });
    assert.equal(first.state, "closed");
    assert.equal(states.at(-1), "closed", "subscribers saw the close");
    assert.equal(service.client, null);
    assert.equal(service.state, "idle");
    assert.equal(service.isConnected, false);
    assert.equal(first._handlers.get("quiz_status")?.size ?? 0, 0, "the old client has no listener left");
    service.disconnect(); // twice: nothing more
    const again = service.connect();
    const ws2 = await welcomeLast(options.WebSocket);
    await again;
    assert.notEqual(service.client, first);
    assert.equal(options.WebSocket.sockets.length, 2);
    ws2.receive(batch(quiz(1, 70)));
    assert.deepEqual(got, [70], "the subscription carried over to the new client");
    assert.equal(service.isConnected, true);
  });

  test("disconnect() before the hub answers: connect() rejects saying so", async () => {
    const options = fakes({ token: "tok" });
    const service = configureWebSocketService(options);
    const pending = service.connect();
    service.disconnect();
    await assert.rejects(pending, { message: "disconnect() was called before the hub answered" });
    assert.equal(service.state, "idle");
  });

  test("after a fatal close (token refused), connect() makes a new client", async () => {
    const options = fakes({ token: "bad" });
    const service = configureWebSocketService(options);
    const errors = [];
    service.subscribe("error", (event) => errors.push(event));
    const pending = service.connect();
    await waitFor(() => options.WebSocket.sockets.length === 1, "a socket");
    const ws = options.WebSocket.last();
    ws.open();
    await waitFor(() => ws.ops("hello").length === 1, "hello");
    ws.serverClose(4401, "invalid token");
    await assert.rejects(pending, /invalid token/);
    assert.equal(service.state, "closed");
    assert.deepEqual(errors.map((e) => [e.code, e.fatal]), [[4401, true]]);
    configureWebSocketService({ ...options, token: "good" });
    service.connect();
    const ws2 = await welcomeLast(options.WebSocket);
    assert.equal(ws2.ops("hello")[0].token, "good");
    assert.equal(service.isConnected, true);
  });

  test("a fatal close with no 'error' subscriber is said on the console, once", async () => {
    const options = fakes({ token: "bad" });
    const service = configureWebSocketService(options);
    const logged = [];
    const original = console.error;
    console.error = (...args) => logged.push(args.join(" "));
    try {
      const pending = service.connect();
      await waitFor(() => options.WebSocket.sockets.length === 1, "a socket");
      const ws = options.WebSocket.last();
      ws.open();
      await waitFor(() => ws.ops("hello").length === 1, "hello");
      ws.serverClose(4401, "invalid token: not signed with this hub's secret");
      await assert.rejects(pending, /not signed with this hub's secret/);
      await sleep(0);
    } finally {
      console.error = original;
    }
    assert.deepEqual(logged, ["hub: invalid token: not signed with this hub's secret"]);
  });

  test("no url anywhere (no option, no NEXT_PUBLIC_WS_URL, no page): connect() rejects saying so", async () => {
    const options = fakes({ token: "tok" });
    delete options.url;
    const pending = configureWebSocketService(options).connect();
    assert.ok(pending instanceof Promise, "a rejected promise, not a throw inside a React effect");
    await assert.rejects(pending, /no url \(and no NEXT_PUBLIC_WS_URL or location\)/);
  });

  test("configure() options reach the HubClient: url, types, protocol", async () => {
    const options = fakes({ token: "tok", url: "https://hub.example.org", types: ["quiz_status"] });
    const service = configureWebSocketService(options);
    service.connect();
    await waitFor(() => options.WebSocket.sockets.length === 1, "a socket");
    assert.equal(options.WebSocket.last().url, "wss://hub.example.org/ws");
    const ws = await welcomeLast(options.WebSocket);
    assert.deepEqual(ws.ops("hello")[0].types, ["quiz_status"]);
  });
});

describe("NEXT_PUBLIC_* settings", () => {
  test("NEXT_PUBLIC_WS_URL is the hub's URL when none is configured", async () => {
    process.env.NEXT_PUBLIC_WS_URL = "ws://hub.from.env:9000";
    const options = fakes({ token: "tok" });
    delete options.url;
    configureWebSocketService(options).connect();
    await waitFor(() => options.WebSocket.sockets.length === 1, "a socket");
    assert.equal(options.WebSocket.last().url, "ws://hub.from.env:9000/ws");
  });

  test("NEXT_PUBLIC_ENABLE_WEBSOCKET=false: the service long-polls; handlers get (data, envelope) from polls", async () => {
    process.env.NEXT_PUBLIC_ENABLE_WEBSOCKET = "false";
    let polls = 0;
    const fetch = fakeFetch((url) => {
      if (url.pathname !== "/api/events") return { status: 404 };
      polls += 1;
      if (polls === 1) return { body: { epoch: "E1", seq: 0, resumed: false, snapshot: [], messages: [] } };
      if (polls === 2) return { body: { epoch: "E1", seq: 1, resumed: true, messages: [quiz(1, 55)] } };
      return { delay: 10000 };
    });
    const options = fakes({ token: "tok", fetch });
    const service = configureWebSocketService(options);
    const got = [];
    service.subscribe("quiz_status", (data, env) => got.push([data.progress, env.seq]));
    await service.connect();
    assert.equal(service.state, "polling");
    assert.equal(service.isConnected, false, "isConnected is about the WebSocket");
    await waitFor(() => got.length === 1, "the polled message");
    assert.deepEqual(got, [[55, 1]]);
    assert.equal(options.WebSocket.sockets.length, 0, "no WebSocket tried");
    assert.equal(fetch.polls()[0].init.headers.Authorization, "Bearer tok");
  });

  test("enabled: false in configure() does the same", async () => {
    const fetch = fakeFetch(() => ({ body: { epoch: "E1", seq: 0, resumed: false, snapshot: [], messages: [] } }));
    const options = fakes({ token: "tok", fetch, enabled: false, pollMinInterval: 50 });
    const service = configureWebSocketService(options);
    await service.connect();
    assert.equal(service.state, "polling");
    assert.equal(options.WebSocket.sockets.length, 0);
  });
});

describe("the token: configured, or fetched from the app's token route", () => {
  const pageAt = (href) => { globalThis.location = { href, origin: new URL(href).origin }; };

  test("with no token configured it GETs /api/hub-token on the page's origin and says hello with it", async () => {
    pageAt("http://app.test/quizzes/q1");
    const token = fresh();
    const fetch = fakeFetch((url) => (url.pathname === "/api/hub-token" ? { body: { token } } : { delay: 10000 }));
    const options = fakes({ fetch });
    const service = configureWebSocketService(options);
    const pending = service.connect();
    const ws = await welcomeLast(options.WebSocket);
    await pending;
    assert.equal(DEFAULT_TOKEN_URL, "/api/hub-token");
    assert.deepEqual(fetch.calls.map((c) => c.url.href), ["http://app.test/api/hub-token"]);
    assert.equal(fetch.calls[0].init.credentials, "same-origin", "the page's session cookie goes with it");
    assert.equal(ws.ops("hello")[0].token, token);
  });

  test("the token is reused until its refresh point, then fetched again; NEXT_PUBLIC_HUB_TOKEN_URL moves the route", async () => {
    pageAt("http://app.test/");
    process.env.NEXT_PUBLIC_HUB_TOKEN_URL = "/auth/hub";
    const minted = [];
    const fetch = fakeFetch((url) => {
      if (url.pathname === "/auth/hub") { minted.push(fresh("alice", minted.length ? 3600 : 3)); return { body: { token: minted.at(-1) } }; }
      return { delay: 10000 };
    });
    const options = fakes({ fetch });
    const service = configureWebSocketService(options);
    service.connect();
    const ws = await welcomeLast(options.WebSocket);
    assert.equal(ws.ops("hello")[0].token, minted[0], "the prefetched token, not a second request");
    assert.equal(minted.length, 1);
    // the first token lives 3 s: at 85% the client refreshes with a new one from the route
    await waitFor(() => ws.ops("refresh").length === 1, "refresh", 5000);
    assert.equal(ws.ops("refresh")[0].token, minted[1]);
    assert.deepEqual(fetch.calls.map((c) => c.url.pathname), ["/auth/hub", "/auth/hub"]);
    // a reconnect within the new token's life reuses it
    ws.receive({ op: "refreshed", exp: Date.now() / 1000 + 3600 });
    ws.serverClose(1012, "restart");
    await waitFor(() => options.WebSocket.sockets.length === 2, "a reconnect");
    const ws2 = options.WebSocket.last();
    ws2.open();
    await waitFor(() => ws2.ops("hello").length === 1, "hello");
    assert.equal(ws2.ops("hello")[0].token, minted[1]);
    assert.equal(fetch.calls.length, 2);
  });

  test("no token from the route: connect() rejects with a sentence naming both ways; no socket opens", async () => {
    pageAt("http://app.test/");
    const fetch = fakeFetch(() => ({ status: 404, body: { detail: "Not Found" } }));
    const options = fakes({ fetch });
    const service = configureWebSocketService(options);
    const errors = [];
    service.subscribe("error", (event) => errors.push(event));
    const err = await service.connect().then(() => null, (e) => e);
    assert.ok(err instanceof HubTokenError);
    assert.equal(err.message, 'could not get a hub token from /api/hub-token: HTTP 404. Serve {"token": "<a JWT signed ' +
      'with HUB_SECRET>"} there from your app\'s server (or set NEXT_PUBLIC_HUB_TOKEN_URL to the route that does), ' +
      "or pass one with configureWebSocketService({ token }).");
    assert.equal(String(err), err.message, "no 'Error:' prefix when shown");
    assert.equal(options.WebSocket.sockets.length, 0);
    assert.equal(service.state, "closed");
    assert.deepEqual(errors, [{ code: "no_token", message: err.message, fatal: true }]);
    configureWebSocketService({ ...options, token: "tok" }); // the other way: a configured token
    service.connect();
    await welcomeLast(options.WebSocket);
    assert.equal(service.isConnected, true);
  });

  test("a route answering without a token string, or not at all, is a sentence too; without an error subscriber it goes to the console", async () => {
    pageAt("http://app.test/");
    for (const [fetch, why] of [
      [async () => new Response(JSON.stringify({ jwt: "x" })), 'the answer has no "token" string'],
      [async () => new Response("<html>", { status: 200 }), "the answer is not JSON"],
      [async () => { throw new TypeError("fetch failed"); }, "fetch failed"],
    ]) {
      const logged = [];
      const original = console.error;
      console.error = (...args) => logged.push(args.join(" "));
      try {
        const service = configureWebSocketService(fakes({ fetch }));
        await assert.rejects(service.connect(), (e) => e.message.startsWith(`could not get a hub token from /api/hub-token: ${why}.`));
        await sleep(0);
      } finally {
        console.error = original;
      }
      assert.equal(logged.length, 1);
      assert.match(logged[0], new RegExp(`^hub: could not get a hub token from /api/hub-token: ${why}\\.`));
      resetWebSocketService();
    }
  });

  test("tokenFromUrl asks once for concurrent callers", async () => {
    let asked = 0;
    const token = fresh();
    const get = tokenFromUrl("http://app.test/api/hub-token", async () => { asked += 1; await sleep(5); return new Response(JSON.stringify({ token })); });
    assert.deepEqual(await Promise.all([get(), get(), get()]), [token, token, token]);
    assert.equal(await get(), token);
    assert.equal(asked, 1);
  });

  test("a configured token function is used as HubClient uses it (no token route)", async () => {
    pageAt("http://app.test/");
    const fetch = fakeFetch(() => ({ delay: 10000 }));
    const options = fakes({ fetch, token: async () => "from-fn" });
    configureWebSocketService(options).connect();
    const ws = await welcomeLast(options.WebSocket);
    assert.equal(ws.ops("hello")[0].token, "from-fn");
    assert.equal(fetch.calls.length, 0);
  });
});
