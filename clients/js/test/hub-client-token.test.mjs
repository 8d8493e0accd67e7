// Token expiry in clients/js/src/hub-client.js (PROTOCOL.md section 2, "Token expiry"): a token function,
// `refresh` before expiry, and a reconnect with a new token after a 4401 for expiry.
// `npm test` in clients/js (Node 20).
import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";

import { HubClient, REFRESH_AT, refreshDelay, tokenTimes } from "../src/hub-client.js";

import { fakeWebSocket, sleep, waitFor } from "./fakes.mjs";

/** A JWT-shaped token (the client reads claims, never the signature). */
const jwtLike = (claims) => `eyJhbGciOiJIUzI1NiJ9.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.sig`;
/** A token function minting tokens that live `lifetimeMs`; `.minted` lists them. */
function tokenFunction(lifetimeMs, { async = true, agedMs = 0 } = {}) {
  const minted = [];
  const mint = () => {
    const now = Date.now() / 1000, iat = now - agedMs / 1000; // agedMs: issued that long ago
    minted.push(jwtLike({ sub: "alice", n: minted.length, iat, exp: iat + lifetimeMs / 1000 }));
    return minted[minted.length - 1];
  };
  const fn = async ? async () => mint() : mint;
  fn.minted = minted;
  return fn;
}

const welcome = (extra = {}) => ({ op: "welcome", session: "s1", educatorId: "alice", epoch: "E1", seq: 0,
  heartbeat: 20, resumed: false, snapshot: [], ...extra });
const env = (seq) => ({ seq, type: "notification", ts: 1000 + seq, data: { id: `n${seq}`, title: `${seq}` } });

const clients = [];
function makeClient(options = {}) {
  const WebSocket = fakeWebSocket();
  const client = new HubClient({ url: "http://hub.test:8000", baseDelay: 1, maxDelay: 5, heartbeat: 60000,
    random: () => 0.5, fetch: () => new Promise(() => {}), ...options, WebSocket });
  clients.push(client);
  return { client, WebSocket };
}
afterEach(() => { while (clients.length) clients.pop().close(); });

async function welcomed(options) {
  const made = makeClient(options);
  made.client.start();
  const ws = made.WebSocket.last();
  ws.open();
  await waitFor(() => ws.ops("hello").length === 1, "hello");
  ws.receive(welcome());
  return { ...made, ws };
}

describe("token helpers", () => {
  test("tokenTimes reads iat and exp without the secret; refreshDelay is 85% of the lifetime", () => {
    const tok = jwtLike({ sub: "é-alice", iat: 1000, exp: 1100 });
    assert.deepEqual(tokenTimes(tok), { iat: 1000, exp: 1100 });
    assert.equal(REFRESH_AT, 0.85);
    assert.equal(refreshDelay(tok, 1000_000), 85_000);
    assert.equal(refreshDelay(tok, 1050_000), 35_000);
    assert.equal(refreshDelay(tok, 1090_000), 0, "past the refresh point: at once");
    assert.equal(refreshDelay(jwtLike({ exp: 1040 }), 1000_000), 34_000, "no iat: 85% of what is left");
    assert.deepEqual(tokenTimes("not-a-token"), { iat: null, exp: null });
    assert.equal(refreshDelay("not-a-token", 0), null);
    assert.equal(refreshDelay(jwtLike({ sub: "a" }), 0), null, "no exp: no refresh");
  });
});

describe("HubClient token expiry", () => {
  test("with a token function: refresh at 85% of the lifetime, again after each refreshed, same socket", async () => {
    const token = tokenFunction(200);
    const { client, WebSocket, ws } = await welcomed({ token });
    const refreshed = [];
    client.on("refreshed", (f) => refreshed.push(f));
    assert.equal(ws.ops("hello")[0].token, token.minted[0]);
    const started = Date.now();
    await waitFor(() => ws.ops("refresh").length === 1, "the first refresh");
    assert.ok(Date.now() - started >= 120, "not before ~85% of a 200 ms lifetime");
    assert.equal(ws.ops("refresh")[0].token, token.minted[1]);
    ws.receive({ op: "refreshed", exp: tokenTimes(token.minted[1]).exp });
    await waitFor(() => ws.ops("refresh").length === 2, "the next refresh, on the new token's lifetime");
    assert.equal(ws.ops("refresh")[1].token, token.minted[2]);
    ws.receive({ op: "refreshed", exp: tokenTimes(token.minted[2]).exp });
    ws.receive({ op: "batch", messages: [env(1)] });
    assert.equal(client.refreshes, 2);
    assert.equal(refreshed.length, 2);
    assert.equal(WebSocket.sockets.length, 1, "no reconnect");
    assert.equal(client.state, "connected");
    assert.equal(client.seq, 1);
  });

  test("a sync token function works too; refresh: false sends none", async () => {
    const token = tokenFunction(100, { async: false });
    const { ws } = await welcomed({ token, refresh: false });
    await sleep(200);
    assert.equal(ws.ops("refresh").length, 0);
    assert.equal(ws.ops("hello")[0].token, token.minted[0]);
  });

  test("a refused refresh is not fatal and is tried again while the token lasts", async () => {
    const token = tokenFunction(23500, { agedMs: 20000 }); // refresh at once; 3.5 s left for another try
    const { client, ws } = await welcomed({ token });
    const errors = [];
    client.on("error", (e) => errors.push(e));
    await waitFor(() => ws.ops("refresh").length === 1, "a refresh");
    ws.receive({ op: "error", code: "unauthorized", message: "refresh refused: ...", ref: "refresh" });
    assert.equal(errors.length, 1);
    assert.equal(errors[0].fatal, false);
    assert.equal(client.state, "connected");
    await waitFor(() => ws.ops("refresh").length === 2, "another try", 3000);
    assert.equal(client.refreshes, 0);
  });

  test("a 4401 for expiry with a token function reconnects with a new token and resumes", async () => {
    const token = tokenFunction(60000);
    const { client, WebSocket, ws } = await welcomed({ token, refresh: false });
    const errors = [];
    client.on("error", (e) => errors.push(e));
    ws.receive({ op: "batch", messages: [env(1), env(2)] });
    ws.serverClose(4401, "token expired");
    assert.equal(client.state, "reconnecting");
    await waitFor(() => WebSocket.sockets.length === 2, "a new socket");
    const ws2 = WebSocket.last();
    ws2.open();
    await waitFor(() => ws2.ops("hello").length === 1, "hello");
    assert.equal(ws2.ops("hello")[0].token, token.minted[1], "a new token from the function");
    assert.deepEqual(ws2.ops("hello")[0].resume, { epoch: "E1", seq: 2 });
    ws2.receive(welcome({ session: "s2", seq: 3, resumed: true, snapshot: undefined }));
    ws2.receive({ op: "batch", messages: [env(2), env(3)] });
    assert.equal(client.seq, 3);
    assert.equal(client.state, "connected");
    assert.deepEqual(errors, []);
  });

  test("a 4401 for expiry is fatal with a plain token; an invalid token is fatal even with a function", async () => {
    for (const [token, reason] of [["plain-token", "token expired"], [tokenFunction(60000), "invalid token"]]) {
      const { client, WebSocket, ws } = await welcomed({ token });
      const errors = [];
      client.on("error", (e) => errors.push(e));
      ws.serverClose(4401, reason);
      assert.equal(client.state, "closed");
      assert.deepEqual([errors[0].code, errors[0].message, errors[0].fatal], [4401, reason, true]);
      await sleep(20);
      assert.equal(WebSocket.sockets.length, 1, "no reconnect");
    }
  });

  test("a close with no reason counts as expiry when the token's exp has passed here", async () => {
    const token = tokenFunction(1);
    const { WebSocket, ws } = await welcomed({ token, refresh: false });
    await sleep(20);
    ws.serverClose(4401, "");
    await waitFor(() => WebSocket.sockets.length === 2, "a new socket");
  });
});
