// hub-client/testing (clients/js/src/testing.js): the fake WebSocketService, and installing it as the
// page's service. `node --test clients/js/test/` (Node 20, no packages).
import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";

import * as hubClient from "../src/hub-client.js";
import { WebSocketService, configureWebSocketService, getWebSocketService } from "../src/service.js";
import { createFakeWebSocketService, installFakeWebSocketService, resetWebSocketService } from "../src/testing.js";

afterEach(() => resetWebSocketService());

const status = (progress) => ({ jobId: "j1", quizId: "q1", status: "processing", progress, message: `${progress}%` });

describe("createFakeWebSocketService", () => {
  test("has the service's surface, and starts connected like a page whose connection is up", () => {
    const fake = createFakeWebSocketService();
    for (const name of ["connect", "disconnect", "send", "subscribe", "configure", "listenerCount", "emit", "setConnected"]) {
      assert.equal(typeof fake[name], "function", name);
    }
    assert.equal(fake.isConnected, true);
    assert.equal(fake.state, "connected");
    assert.equal(fake.client, null);
    assert.deepEqual(fake.sent, []);
    assert.equal(fake.connects, 0);
  });

  test("emit() pushes an envelope to the type's subscribers and '*' as handler(data, envelope)", () => {
    const fake = createFakeWebSocketService();
    const got = [];
    const off = fake.subscribe("quiz_status", (data, env) => got.push(["quiz", data, env]));
    fake.subscribe("*", (data, env) => got.push(["*", env.type, env.seq]));
    fake.subscribe("notification", () => got.push(["notification"]));
    const env = fake.emit("quiz_status", status(40), { ts: 12.5 });
    assert.deepEqual(env, { seq: 1, type: "quiz_status", ts: 12.5, data: status(40) });
    assert.deepEqual(got, [["quiz", status(40), env], ["*", "quiz_status", 1]]);
    assert.equal(fake.emit("quiz_status", status(50)).seq, 2, "seq counts up");
    off();
    fake.emit("quiz_status", status(60));
    assert.equal(got.filter((g) => g[0] === "quiz").length, 2, "unsubscribed");
    assert.equal(fake.listenerCount("quiz_status"), 0);
    assert.throws(() => fake.emit("*", {}), /emit\(\) takes a message type/);
  });

  test("emit() of a client event delivers the event itself, as the real service does", () => {
    const fake = createFakeWebSocketService();
    const got = [];
    fake.subscribe("error", (event, same) => got.push([event, event === same]));
    fake.subscribe("*", () => got.push("star"));
    fake.emit("error", { code: 4401, message: "invalid token", fatal: true });
    assert.deepEqual(got, [[{ code: 4401, message: "invalid token", fatal: true }, true]]);
  });

  test("send() records ops, connected or not, and refuses what is not an op like the real one", () => {
    const fake = createFakeWebSocketService();
    fake.send({ op: "cancel", jobId: "j1" });
    fake.connect();
    fake.send({ op: "join", room: "quiz:q1" });
    assert.deepEqual(fake.sent, [{ op: "cancel", jobId: "j1" }, { op: "join", room: "quiz:q1" }]);
    assert.throws(() => fake.send("cancel"), { name: "TypeError", message: /takes a client op/ });
    assert.throws(() => fake.subscribe("quiz_status", null), /the handler is not a function/);
  });

  test("connect(), setConnected() and disconnect() move the state and tell 'state' subscribers", async () => {
    const fake = createFakeWebSocketService();
    const states = [];
    fake.subscribe("state", ({ state, previous }) => states.push(`${previous}>${state}`));
    await fake.connect();
    await fake.connect();
    assert.equal(fake.connects, 1, "calls while connected count once, as the real service makes one client");
    assert.equal(fake.isConnected, true);
    fake.setConnected(false);
    assert.equal(fake.isConnected, false);
    assert.equal(fake.state, "reconnecting");
    await fake.connect();
    assert.equal(fake.isConnected, false, "connect() is idempotent: a live connection stays as it is");
    fake.setConnected(true);
    fake.disconnect();
    assert.equal(fake.state, "closed");
    assert.equal(fake.isConnected, false);
    await fake.connect();
    assert.equal(fake.connects, 2);
    assert.equal(fake.isConnected, true);
    assert.deepEqual(states, ["connected>reconnecting", "reconnecting>connected", "connected>closed", "closed>connected"]);
  });

  test("{ connected: false }: idle, then connecting, connected only by setConnected(true)", async () => {
    const fake = createFakeWebSocketService({ connected: false });
    assert.equal(fake.state, "idle");
    await fake.connect();
    assert.equal(fake.state, "connecting");
    assert.equal(fake.isConnected, false);
    fake.setConnected(true);
    assert.equal(fake.isConnected, true);
  });
});

describe("installFakeWebSocketService and resetWebSocketService", () => {
  test("the installed fake is the page's service everywhere; reset brings back a fresh real one", () => {
    const real = getWebSocketService();
    const fake = installFakeWebSocketService(createFakeWebSocketService());
    assert.equal(getWebSocketService(), fake);
    assert.equal(hubClient.getWebSocketService(), fake, "through hub-client too");
    assert.equal(configureWebSocketService({ url: "http://hub.test" }), fake);
    assert.deepEqual(fake.options, { url: "http://hub.test" }, "configure() reaches the fake");
    resetWebSocketService();
    const after = getWebSocketService();
    assert.ok(after instanceof WebSocketService);
    assert.notEqual(after, real);
    assert.notEqual(after, fake);
  });

  test("with no argument it installs a new fake; a non-service is refused in a sentence", () => {
    const fake = installFakeWebSocketService();
    assert.equal(typeof fake.emit, "function");
    assert.equal(getWebSocketService(), fake);
    assert.throws(() => installFakeWebSocketService({}), /takes a service such as createFakeWebSocketService\(\) returns/);
  });

  test("reset disconnects a real service's client", () => {
    const service = configureWebSocketService({ url: "http://hub.test", token: "tok", WebSocket: class {
      constructor() { this.closed = false; } send() {} close() { this.closed = true; } } });
    service.send({ op: "ping", id: 1 });
    const client = service.client;
    resetWebSocketService();
    assert.equal(client.state, "closed");
  });
});
