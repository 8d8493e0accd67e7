// Unit tests of clients/js/src/hub-client.js: `npm test` in clients/js (Node 20).
import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";

import {
  HubClient, HubHttpError, StreamState, backoffDelay, httpUrl, newIdempotencyKey, wsUrl,
} from "../src/hub-client.js";

import { fakeFetch, fakeWebSocket, sleep, waitFor } from "./fakes.mjs";

const welcome = (extra = {}) => ({ op: "welcome", session: "s1", educatorId: "alice", epoch: "E1", seq: 0,
  heartbeat: 20, resumed: false, snapshot: [], ...extra });
const env = (seq, type = "quiz_status", data = {}) => ({ seq, type, ts: 1000 + seq, data });
const quiz = (jobId, status, progress, extra = {}) =>
  ({ jobId, quizId: "q", status, progress, message: `${status} ${progress}`, ...extra });

const clients = [];
function makeClient(options = {}) {
  const WebSocket = options.WebSocket ?? fakeWebSocket();
  const fetch = options.fetch ?? fakeFetch(() => ({ body: {}, delay: 10000 }));
  const client = new HubClient({ url: "http://hub.test:8000", token: "tok", baseDelay: 1, maxDelay: 5,
    heartbeat: 60000, random: () => 0.5, ...options, WebSocket, fetch });
  clients.push(client);
  return { client, WebSocket, fetch };
}
afterEach(() => { while (clients.length) clients.pop().close(); });

async function connected(options) {
  const made = makeClient(options);
  made.client.start();
  const ws = made.WebSocket.last();
  ws.open();
  await waitFor(() => ws.ops("hello").length === 1, "hello");
  return { ...made, ws };
}

// -- pure helpers ------------------------------------------------------------------------------

describe("backoffDelay", () => {
  test("full jitter within [0, min(cap, base * 2**attempt))", () => {
    assert.equal(backoffDelay(3, 100, 30000, () => 0), 0);
    assert.equal(backoffDelay(0, 100, 30000, () => 0.5), 50);
    assert.equal(backoffDelay(3, 100, 30000, () => 0.5), 400);
    assert.equal(backoffDelay(20, 100, 30000, () => 0.5), 15000, "capped");
    for (let attempt = 0; attempt < 12; attempt++) {
      const bound = Math.min(30000, 1000 * 2 ** attempt);
      const samples = Array.from({ length: 200 }, () => backoffDelay(attempt, 1000, 30000));
      assert.ok(samples.every((d) => d >= 0 && d < bound), `attempt ${attempt} within bounds`);
      assert.ok(new Set(samples).size > 150, "jittered, not fixed");
    }
  });

  test("wsUrl and httpUrl", () => {
    assert.equal(wsUrl("http://h:8000"), "ws://h:8000/ws");
    assert.equal(wsUrl("https://h/"), "wss://h/ws");
    assert.equal(wsUrl("wss://h/ws"), "wss://h/ws");
    assert.equal(httpUrl("wss://h/ws"), "https://h");
    assert.equal(httpUrl("http://h:8000/"), "http://h:8000");
  });
});

describe("StreamState", () => {
  test("drops seqs already seen and merges job data", () => {
    const s = new StreamState();
    s.applyWelcome({ epoch: "E", seq: 0, resumed: false, snapshot: [] });
    const got = s.applyBatch([env(2, "quiz_status", quiz("j1", "processing", 40, { etaSeconds: 3 })),
      env(1, "quiz_status", quiz("j1", "queued", 0)), env(2, "quiz_status", quiz("j1", "processing", 40))]);
    assert.deepEqual(got.map((e) => e.seq), [1, 2]);
    assert.equal(s.accept(env(1)), false);
    assert.equal(s.accept(env(2)), false);
    assert.equal(s.jobs.get("j1").progress, 40);
    assert.equal(s.jobs.get("j1").etaSeconds, 3);
    assert.equal(s.jobs.get("j1").kind, "quiz_generation");
    assert.ok(s.accept(env(5, "quiz_status", quiz("j1", "completed", 100))), "gaps are allowed");
    assert.equal(s.jobs.get("j1").status, "completed");
    assert.equal("etaSeconds" in s.jobs.get("j1"), false, "no stale eta on a finished job");
    assert.deepEqual(s.resume(), { epoch: "E", seq: 5 });
  });

  test("a job's waiting (PROTOCOL.md section 9) is kept while it waits and gone once a message lacks it", () => {
    const s = new StreamState();
    s.applyWelcome({ epoch: "E", seq: 0, resumed: false, snapshot: [] });
    const waiting = { reason: "waiting for 1 GPU: none free on the cluster's 3 nodes", since: 1700000000 };
    s.accept(env(1, "quiz_status", quiz("j1", "queued", 0, { waiting })));
    assert.deepEqual(s.jobs.get("j1").waiting, waiting);
    s.accept(env(2, "quiz_status", quiz("j1", "processing", 1)));
    assert.equal("waiting" in s.jobs.get("j1"), false, "no stale waiting on a job that runs");
  });

  test("an item (partial results) reaches handlers with its envelope; the job state keeps itemsDone, not the item", () => {
    const s = new StreamState();
    s.applyWelcome({ epoch: "E", seq: 0, resumed: false, snapshot: [] });
    const question = { id: "q1", type: "cloze", prompt: "Plants make ____.", answer: "sugar" };
    const item = { index: 0, total: 3, question };
    const got = s.applyBatch([env(1, "quiz_status", quiz("j1", "processing", 40, { itemsDone: 1, item })),
      env(2, "quiz_status", quiz("j1", "processing", 45, { itemsDone: 1 }))]);
    assert.deepEqual(got[0].data.item, item, "passed through as it came");
    assert.equal(s.jobs.get("j1").itemsDone, 1);
    assert.equal("item" in s.jobs.get("j1"), false, "an item is the message's, not the job's state");
  });

  test("analytics updates merge; snapshot replaces jobs; resumed keeps them", () => {
    const s = new StreamState();
    s.applyWelcome({ epoch: "E", seq: 3, resumed: false, snapshot: [{ jobId: "a", status: "queued" }] });
    s.accept(env(4, "analytics_update", { educatorId: "alice", updates: { jobsToday: 1, quizzes: 2 } }));
    s.accept(env(5, "analytics_update", { educatorId: "alice", updates: { jobsToday: 2 } }));
    assert.deepEqual(s.analytics, { jobsToday: 2, quizzes: 2 });
    assert.equal(s.applyWelcome({ epoch: "E", seq: 9, resumed: true }), false);
    assert.deepEqual([...s.jobs.keys()], ["a"]);
    assert.equal(s.seq, 5);
    assert.equal(s.applyWelcome({ epoch: "F", seq: 2, resumed: false, snapshot: [{ jobId: "b" }] }), true);
    assert.deepEqual([...s.jobs.keys()], ["b"]);
    assert.deepEqual(s.resume(), { epoch: "F", seq: 2 });
  });
});

// -- the client over a fake WebSocket ----------------------------------------------------------

describe("HubClient over WebSocket", () => {
  test("hello with token, types and subprotocol; states; typed handlers; dedupe", async () => {
    const states = [];
    const { client, WebSocket } = makeClient({ token: async () => "async-tok", types: ["quiz_status"] });
    client.on("state", (e) => states.push(e.state));
    const ready = client.start();
    const ws = WebSocket.last();
    assert.equal(ws.url, "ws://hub.test:8000/ws");
    assert.equal(ws.protocols, "hub.v1", "offers hub.v1 (JSON) by default");
    assert.equal(client.protocol, null, "no open socket yet");
    ws.open();
    assert.equal(ws.protocol, "hub.v1");
    assert.equal(client.protocol, "json");
    await waitFor(() => ws.sent.length === 1, "hello");
    assert.deepEqual(ws.sent[0], { op: "hello", token: "async-tok", types: ["quiz_status"] });
    const seen = [], all = [];
    const off = client.on("quiz_status", (e) => seen.push(e.seq));
    client.on("*", (e) => all.push(e.type));
    ws.receive(welcome({ snapshot: [{ jobId: "j0", status: "completed", progress: 100 }] }));
    assert.equal((await ready).session, "s1");
    ws.receive({ op: "batch", messages: [env(1, "quiz_status", quiz("j1", "queued", 0)),
      env(2, "notification", { id: "n", level: "info", title: "t", body: "b", broadcast: false })] });
    ws.receive({ op: "batch", messages: [env(1), env(2), env(3, "quiz_status", quiz("j1", "processing", 10))] });
    assert.deepEqual(seen, [1, 3]);
    assert.deepEqual(all, ["quiz_status", "notification", "quiz_status"]);
    assert.deepEqual([...client.jobs.keys()], ["j0", "j1"]);
    assert.equal(client.jobs.get("j1").progress, 10);
    off();
    ws.receive({ op: "batch", messages: [env(4)] });
    assert.deepEqual(seen, [1, 3], "unsubscribed");
    assert.deepEqual(states, ["connecting", "connected"]);
    assert.equal(client.state, "connected");
  });

  test("reconnects after 1012 and resumes from the last seq; duplicates dropped", async () => {
    const { client, WebSocket, ws } = await connected();
    ws.receive(welcome({ seq: 4 }));
    ws.receive({ op: "batch", messages: [env(5), env(6), env(7)] });
    const seen = [];
    client.on("quiz_status", (e) => seen.push(e.seq));
    let snapshots = 0;
    client.on("snapshot", () => snapshots++);
    ws.serverClose(1012, "restarting");
    assert.equal(client.state, "reconnecting");
    await waitFor(() => WebSocket.sockets.length === 2, "a new socket");
    const ws2 = WebSocket.last();
    ws2.open();
    await waitFor(() => ws2.sent.length === 1, "hello");
    assert.deepEqual(ws2.sent[0].resume, { epoch: "E1", seq: 7 });
    ws2.receive(welcome({ session: "s2", seq: 8, resumed: true, snapshot: undefined }));
    ws2.receive({ op: "batch", messages: [env(6), env(7), env(8)] });
    assert.deepEqual(seen, [8]);
    assert.equal(snapshots, 0);
    assert.equal(client.state, "connected");
  });

  for (const code of [4409, 1001, 1006]) {
    test(`close ${code} reconnects with resume`, async () => {
      const { client, WebSocket, ws } = await connected();
      ws.receive(welcome({ seq: 3 }));
      ws.serverClose(code);
      await waitFor(() => WebSocket.sockets.length === 2, "a new socket");
      WebSocket.last().open();
      await waitFor(() => WebSocket.last().sent.length === 1, "hello");
      assert.deepEqual(WebSocket.last().sent[0].resume, { epoch: "E1", seq: 3 });
      assert.equal(client.state, "reconnecting");
    });
  }

  test("an error event without a close event counts as a failed attempt", async () => {
    const { client, WebSocket } = makeClient({ maxAttempts: 2, fetch: pollServer(), pollMinInterval: 5 });
    client.start();
    WebSocket.last().onerror({});
    assert.equal(client.state, "reconnecting");
    assert.ok(WebSocket.last().closedWith, "the failed socket is closed");
    await waitFor(() => WebSocket.sockets.length === 2, "a new socket");
    WebSocket.last().onerror({});
    assert.equal(client.state, "polling");
  });

  test("resumed:false replaces the job states from the snapshot and emits snapshot", async () => {
    const { client, WebSocket, ws } = await connected();
    ws.receive(welcome({ seq: 0, snapshot: [{ jobId: "old", status: "processing", progress: 5 }] }));
    ws.receive({ op: "batch", messages: [env(1, "quiz_status", quiz("j1", "processing", 50))] });
    const snapshots = [];
    client.on("snapshot", (f) => snapshots.push(f));
    ws.serverClose(1006);
    await waitFor(() => WebSocket.sockets.length === 2, "a new socket");
    const ws2 = WebSocket.last();
    ws2.open();
    await waitFor(() => ws2.sent.length === 1, "hello");
    ws2.receive(welcome({ epoch: "E2", seq: 0, resumed: false,
      snapshot: [{ jobId: "j1", status: "completed", progress: 100 }] }));
    assert.equal(snapshots.length, 1);
    assert.deepEqual([...client.jobs.keys()], ["j1"]);
    assert.equal(client.jobs.get("j1").status, "completed");
    const seen = [];
    client.on("*", (e) => seen.push(e.seq));
    ws2.receive({ op: "batch", messages: [env(1, "notification", { id: "x" })] });
    assert.deepEqual(seen, [1], "seq 1 of the new epoch is new");
  });

  test("offline queue: bounded, oldest dropped, flushed in order after the welcome", async () => {
    const { client, WebSocket } = makeClient({ offlineQueue: 3 });
    assert.equal(client.cancel("j1"), false);
    client.send({ op: "subscribe", types: ["notification"] });
    client.cancel("j2");
    client.cancel("j3");
    assert.equal(client.queued, 3);
    client.start();
    const ws = WebSocket.last();
    ws.open();
    await waitFor(() => ws.sent.length === 1, "hello");
    assert.equal(ws.sent.length, 1, "nothing before the welcome");
    ws.receive(welcome());
    assert.deepEqual(ws.sent.slice(1), [{ op: "subscribe", types: ["notification"] },
      { op: "cancel", jobId: "j2" }, { op: "cancel", jobId: "j3" }]);
    assert.equal(client.queued, 0);
    assert.equal(client.cancel("j4"), true, "sent at once when connected");
    assert.deepEqual(ws.sent.at(-1), { op: "cancel", jobId: "j4" });
  });

  test("heartbeat pings; a silent connection is dropped after two heartbeats", async () => {
    const { client, WebSocket, ws } = await connected({ heartbeat: 20 });
    ws.receive(welcome({ seq: 2 }));
    for (let i = 0; i < 5; i++) { // the server answers: the connection stays
      await waitFor(() => ws.ops("ping").length > i, "a ping");
      ws.receive({ op: "pong", id: ws.ops("ping")[i].id });
    }
    assert.equal(WebSocket.sockets.length, 1);
    assert.equal(client.state, "connected");
    const before = Date.now();
    await waitFor(() => WebSocket.sockets.length === 2, "a reconnect"); // now the server is silent
    const silent = Date.now() - before;
    assert.ok(silent >= 20 && silent < 1500, `dropped after ${silent} ms`);
    assert.ok(ws.closedWith, "the dead socket was closed");
    WebSocket.last().open();
    await waitFor(() => WebSocket.last().sent.length === 1, "hello");
    assert.deepEqual(WebSocket.last().sent[0].resume, { epoch: "E1", seq: 2 });
  });

  test("heartbeat interval defaults to welcome.heartbeat seconds", async () => {
    const { ws } = await connected({ heartbeat: undefined });
    ws.receive(welcome({ heartbeat: 0.015 }));
    const started = Date.now();
    for (let i = 0; i < 2; i++) {
      await waitFor(() => ws.ops("ping").length > i, "a ping");
      ws.receive({ op: "pong", id: ws.ops("ping")[i].id });
    }
    assert.ok(Date.now() - started < 1000, "every 15 ms, not the 20 s default");
  });

  for (const code of [4400, 4401, 4403]) {
    test(`close ${code} is fatal`, async () => {
      const { client, WebSocket } = makeClient();
      const errors = [];
      client.on("error", (e) => errors.push(e));
      const ready = client.start();
      WebSocket.last().serverClose(code, "nope");
      assert.equal(client.state, "closed");
      assert.equal(errors.length, 1);
      assert.equal(errors[0].code, code);
      assert.equal(errors[0].fatal, true);
      await assert.rejects(ready, (err) => err.code === code);
      await sleep(20);
      assert.equal(WebSocket.sockets.length, 1, "no reconnect");
    });
  }

  test("error frames are not fatal", async () => {
    const { client, ws } = await connected();
    ws.receive(welcome());
    const errors = [];
    client.on("error", (e) => errors.push(e));
    ws.receive({ op: "error", code: "bad_frame", message: "unknown op", ref: "nope" });
    assert.equal(errors[0].code, "bad_frame");
    assert.equal(client.state, "connected");
  });
});

// -- the long-poll fallback ---------------------------------------------------------------------

function pollServer() {
  let n = 0;
  return fakeFetch((url) => {
    if (url.pathname !== "/api/events") return { status: 202, body: { jobId: "x", status: "cancelling" } };
    n += 1;
    if (!url.searchParams.get("epoch")) return { body: { epoch: "P1", seq: 3, resumed: false, messages: [],
      snapshot: [{ jobId: "j1", status: "processing", progress: 20 }] } };
    if (n === 2) return { body: { epoch: "P1", seq: 4, resumed: true,
      messages: [env(3), env(4, "quiz_status", quiz("j1", "processing", 60))] } };
    return { body: { epoch: "P1", seq: Number(url.searchParams.get("after")), resumed: true, messages: [] },
      delay: 15 };
  });
}

describe("HubClient long-poll fallback", () => {
  test("falls back after maxAttempts and goes back to the WebSocket on upgradeRetry", async () => {
    const fetch = pollServer();
    const { client, WebSocket } = makeClient({ maxAttempts: 3, upgradeRetry: 300, fetch, pollMinInterval: 5 });
    const states = [], seen = [];
    client.on("state", (e) => states.push(e.state));
    client.on("quiz_status", (e) => seen.push(e.seq));
    const ready = client.start();
    for (let i = 1; i <= 3; i++) {
      await waitFor(() => WebSocket.sockets.length === i, `attempt ${i}`);
      WebSocket.last().serverClose(1006);
    }
    assert.equal(client.state, "polling");
    assert.deepEqual(states, ["connecting", "reconnecting", "polling"]);
    assert.equal((await ready).polling, true);
    await waitFor(() => fetch.polls().length >= 3, "polls");
    const [first, second, third] = fetch.polls();
    assert.equal(first.init.headers.Authorization, "Bearer tok");
    assert.equal(first.url.origin, "http://hub.test:8000");
    assert.equal(first.url.searchParams.get("timeout"), "25");
    assert.equal(first.url.searchParams.get("epoch"), null);
    assert.deepEqual([second.url.searchParams.get("epoch"), second.url.searchParams.get("after")], ["P1", "3"]);
    assert.equal(third.url.searchParams.get("after"), "4");
    assert.deepEqual(seen, [4], "seq 3 was in the snapshot already");
    assert.equal(client.jobs.get("j1").progress, 60);
    assert.equal(WebSocket.sockets.length, 3);

    await waitFor(() => WebSocket.sockets.length === 4, "an upgrade attempt");
    const probe = WebSocket.last();
    probe.serverClose(1006); // the upgrade fails: still polling, try again later
    assert.equal(client.state, "polling");
    await waitFor(() => WebSocket.sockets.length === 5, "another upgrade attempt");
    const ws = WebSocket.last();
    ws.open();
    await waitFor(() => ws.sent.length === 1, "hello");
    assert.deepEqual(ws.sent[0].resume, { epoch: "P1", seq: 4 });
    ws.receive(welcome({ epoch: "P1", seq: 4, resumed: true, snapshot: undefined }));
    assert.equal(client.state, "connected");
    const polls = fetch.polls().length;
    await sleep(50);
    assert.equal(fetch.polls().length, polls, "polling stopped");
    ws.receive({ op: "batch", messages: [env(4), env(5)] });
    assert.deepEqual(seen, [4, 5]);
  });

  test("enabled:false polls only; cancel goes over HTTP", async () => {
    const fetch = pollServer();
    const { client, WebSocket } = makeClient({ enabled: false, fetch, upgradeRetry: 10, pollMinInterval: 5 });
    await client.start();
    assert.equal(client.state, "polling");
    client.cancel("j1");
    await waitFor(() => fetch.calls.some((c) => c.url.pathname === "/api/jobs/j1/cancel"), "cancel");
    const call = fetch.calls.find((c) => c.url.pathname === "/api/jobs/j1/cancel");
    assert.equal(call.init.method, "POST");
    assert.equal(call.init.headers.Authorization, "Bearer tok");
    await sleep(40);
    assert.equal(WebSocket.sockets.length, 0, "never a WebSocket");
    assert.equal(client.state, "polling");
  });

  test("a 401 poll is fatal", async () => {
    const fetch = fakeFetch(() => ({ status: 401, body: { detail: "expired" } }));
    const { client } = makeClient({ enabled: false, fetch });
    const errors = [];
    client.on("error", (e) => errors.push(e.code));
    await assert.rejects(client.start());
    assert.equal(client.state, "closed");
    assert.deepEqual(errors, [4401]);
  });

  test("close() stops polling", async () => {
    const fetch = pollServer();
    const { client } = makeClient({ enabled: false, fetch, pollMinInterval: 5 });
    await client.start();
    client.close();
    const polls = fetch.polls().length;
    await sleep(40);
    assert.equal(fetch.polls().length, polls);
    assert.equal(client.state, "closed");
  });
});

describe("HTTP helpers", () => {
  test("submitJob, getJob, getResult, cancelJob use the bearer token; errors carry detail", async () => {
    const fetch = fakeFetch((url, init) => {
      if (init.method === "POST" && url.pathname === "/api/jobs") {
        const body = JSON.parse(init.body);
        if (!body.params.text) return { status: 422, body: { detail: [{ msg: "text or documentId" }] } };
        return { status: 202, body: { jobId: "j9", status: "queued" } };
      }
      if (url.pathname.endsWith("/result")) return { status: 409, body: { detail: "not completed" } };
      return { body: { jobId: "j9", status: "processing" } };
    });
    const { client } = makeClient({ fetch, token: () => "fn-tok" });
    assert.deepEqual(await client.submitJob("quiz_generation", { text: "x", numQuestions: 2 }),
      { jobId: "j9", status: "queued" });
    const sent = fetch.calls[0];
    assert.equal(sent.init.headers.Authorization, "Bearer fn-tok");
    assert.equal(sent.init.headers["Content-Type"], "application/json");
    assert.deepEqual(JSON.parse(sent.init.body), { kind: "quiz_generation", params: { text: "x", numQuestions: 2 } });
    await assert.rejects(client.submitJob("quiz_generation", {}),
      (err) => err instanceof HubHttpError && err.status === 422 && Array.isArray(err.detail));
    assert.equal((await client.getJob("j9")).status, "processing");
    await assert.rejects(client.getResult("j9"), (err) => err.status === 409 && err.message === "not completed");
    await client.cancelJob("j9");
    assert.equal(fetch.calls.at(-1).url.pathname, "/api/jobs/j9/cancel");
  });

  const KEY = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  const keyOf = (call) => call.init.headers["Idempotency-Key"];

  test("submitJob sends a fresh uuid4 Idempotency-Key per call, or the one given", async () => {
    const fetch = fakeFetch(() => ({ status: 202, body: { jobId: "j1", status: "queued" } }));
    const { client } = makeClient({ fetch });
    await client.submitJob("quiz_generation", { text: "x" });
    await client.submitJob("quiz_generation", { text: "x" });
    const [first, second] = fetch.calls.map(keyOf);
    assert.match(first, KEY);
    assert.match(second, KEY);
    assert.notEqual(first, second);
    await client.submitJob("quiz_generation", { text: "x" }, { idempotencyKey: "order-42" });
    assert.equal(keyOf(fetch.calls.at(-1)), "order-42");
    assert.equal(fetch.calls.at(-1).init.headers.Authorization, "Bearer tok");
  });

  test("a repeat's 200 answer is the first job with its status now", async () => {
    const fetch = fakeFetch(() => ({ status: 200, body: { jobId: "j1", status: "completed" } }));
    const { client } = makeClient({ fetch });
    assert.deepEqual(await client.submitJob("quiz_generation", { text: "x" }, { idempotencyKey: "k" }),
      { jobId: "j1", status: "completed" });
  });

  test("its own retries (a lost answer, 503, 429) reuse the same key", async () => {
    const fetch = fakeFetch((url, init, n) => {
      if (n === 1) throw new TypeError("fetch failed"); // the answer was lost
      if (n === 2) return { status: 503, body: { detail: "the hub's job store did not answer" } };
      return { status: 200, body: { jobId: "j1", status: "queued" } };
    });
    const { client } = makeClient({ fetch });
    const reply = await client.submitJob("quiz_generation", { text: "x" }, { retryDelay: 1 });
    assert.deepEqual(reply, { jobId: "j1", status: "queued" });
    assert.equal(fetch.calls.length, 3);
    const keys = new Set(fetch.calls.map(keyOf));
    assert.equal(keys.size, 1);
    assert.match([...keys][0], KEY);
  });

  test("a 409 (the key named another body) and a 422 are thrown at once, a retry budget spent too", async () => {
    let status = 409;
    const fetch = fakeFetch(() => ({ status, body: { detail: "this Idempotency-Key was already used" } }));
    const { client } = makeClient({ fetch });
    await assert.rejects(client.submitJob("quiz_generation", { text: "x" }, { idempotencyKey: "k" }),
      (err) => err instanceof HubHttpError && err.status === 409 && /Idempotency-Key/.test(err.message));
    assert.equal(fetch.calls.length, 1);
    status = 422;
    await assert.rejects(client.submitJob("quiz_generation", {}, { idempotencyKey: "" }), (err) => err.status === 422);
    assert.equal(fetch.calls.length, 2);
    status = 503;
    await assert.rejects(client.submitJob("quiz_generation", {}, { retries: 1, retryDelay: 1 }),
      (err) => err.status === 503);
    assert.equal(fetch.calls.length, 4);
    assert.equal(keyOf(fetch.calls[2]), keyOf(fetch.calls[3]));
  });

  test("newIdempotencyKey makes a uuid4 without crypto.randomUUID too", () => {
    assert.match(newIdempotencyKey(), KEY);
    const crypto = globalThis.crypto;
    const without = Object.create(crypto, { randomUUID: { value: undefined } });
    without.getRandomValues = (a) => crypto.getRandomValues(a);
    Object.defineProperty(globalThis, "crypto", { value: without, configurable: true });
    try {
      const made = new Set(Array.from({ length: 50 }, () => newIdempotencyKey()));
      assert.equal(made.size, 50);
      for (const key of made) assert.match(key, KEY);
    } finally {
      Object.defineProperty(globalThis, "crypto", { value: crypto, configurable: true });
    }
  });
});

// -- React bindings (react.js) against a tiny fake of React's hooks ----------------------------

describe("React bindings", async () => {
  const { fakeReact } = await import("./fake-react.mjs");
  const { useHubMessages, useHubState, useHubJobs } = await import("../src/react.js");
  const listeners = (client, event) => client._handlers.get(event)?.size ?? 0;

  test("useHubState follows the connection state and unsubscribes on unmount", async () => {
    const R = (globalThis.__fakeReact = fakeReact());
    const { client, WebSocket } = makeClient();
    assert.equal(R.render(() => useHubState(client)), "idle");
    client.start();
    assert.equal(R.render(() => useHubState(client)), "connecting");
    WebSocket.last().open();
    await waitFor(() => WebSocket.last().sent.length === 1, "hello");
    WebSocket.last().receive(welcome());
    assert.equal(R.render(() => useHubState(client)), "connected");
    assert.equal(listeners(client, "state"), 1, "one subscription across renders");
    R.unmount();
    assert.equal(listeners(client, "state"), 0);
  });

  test("useHubMessages calls the latest handler; useHubJobs lists jobs", async () => {
    const R = (globalThis.__fakeReact = fakeReact());
    const { client, ws } = await connected();
    ws.receive(welcome({ snapshot: [{ jobId: "a", status: "completed", progress: 100, createdAt: 1 }] }));
    const got = [];
    let jobs;
    const component = (tag) => () => {
      useHubMessages(client, "quiz_status", (env) => got.push(`${tag}:${env.seq}`));
      jobs = useHubJobs(client);
    };
    R.render(component("first"));
    ws.receive({ op: "batch", messages: [env(1, "quiz_status", quiz("b", "queued", 0))] });
    R.render(component("second"));
    ws.receive({ op: "batch", messages: [env(2, "quiz_status", quiz("b", "processing", 30))] });
    assert.deepEqual(got, ["first:1", "second:2"]);
    assert.equal(listeners(client, "quiz_status"), 1);
    R.render(component("second"));
    assert.deepEqual(jobs.map((j) => [j.jobId, j.progress]), [["b", 30], ["a", 100]]);
    R.unmount();
    assert.equal(listeners(client, "quiz_status"), 0);
    assert.equal(listeners(client, "*"), 0);
  });
});
