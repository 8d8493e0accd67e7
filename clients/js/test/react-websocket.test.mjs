// useWebSocket (clients/js/src/react.js), the seed web app's hook, on the page's one WebSocketService,
// against a tiny fake of React's hooks (as in hub-rooms-react.test.mjs): with the real service over a
// fake WebSocket, and with hub-client/testing's fake service. `node --test clients/js/test/`.
import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";

import { fakeReact } from "./fake-react.mjs";
import { fakeWebSocket, waitFor } from "./fakes.mjs";

const react = await import("../src/react.js");
const { useWebSocket, getWebSocketService, configureWebSocketService } = react;
const service = await import("../src/service.js");
const { createFakeWebSocketService, installFakeWebSocketService, resetWebSocketService } = await import("../src/testing.js");

const welcome = (extra = {}) => ({ op: "welcome", session: "s1", educatorId: "alice", epoch: "E1", seq: 0,
  heartbeat: 20, resumed: false, snapshot: [], ...extra });
const quiz = (seq, progress, quizId = "q1") => ({ seq, type: "quiz_status", ts: 1000 + seq,
  data: { jobId: `job-${quizId}`, quizId, status: "processing", progress, message: `${progress}%` } });
const batch = (...messages) => ({ op: "batch", messages });

function realService() {
  const WebSocket = fakeWebSocket();
  configureWebSocketService({ url: "http://hub.test", token: "tok", WebSocket, heartbeat: 60000,
    fetch: () => new Promise(() => {}) });
  return WebSocket;
}
async function welcomeLast(WebSocket) {
  await waitFor(() => WebSocket.sockets.length > 0, "a socket");
  const ws = WebSocket.last();
  ws.open();
  await waitFor(() => ws.ops("hello").length === 1, "hello");
  ws.receive(welcome());
  return ws;
}

/** The seed app's kind of component: the progress of one quiz and the connection indicator. */
function QuizProgress({ quizId, log = [] }) {
  const [progress, setProgress] = globalThis.__fakeReact.useState(null);
  useWebSocket("quiz_status", (data, envelope) => {
    log.push([quizId, data.progress, envelope.seq]);
    if (data.quizId === quizId) setProgress(data.progress);
  }, [quizId]);
  return { progress, connected: getWebSocketService().isConnected };
}

const mounted = [];
const mount = () => { const R = fakeReact(); mounted.push(R); return R; };
const as = (R, fn) => { globalThis.__fakeReact = R; return R.render(fn); };
afterEach(() => { while (mounted.length) mounted.pop().unmount(); resetWebSocketService(); });

describe("useWebSocket on the real service", () => {
  test("react.js exports the same service functions as hub-client.js and service.js", async () => {
    const hubClient = await import("../src/hub-client.js");
    assert.equal(react.getWebSocketService, service.getWebSocketService);
    assert.equal(react.configureWebSocketService, service.configureWebSocketService);
    assert.equal(hubClient.getWebSocketService, service.getWebSocketService);
    assert.equal(hubClient.configureWebSocketService, service.configureWebSocketService);
  });

  test("many hooks in many components share one HubClient and one socket; each gets (data, envelope)", async () => {
    const WebSocket = realService();
    const logs = { a: [], b: [], c: [] };
    const views = ["a", "b", "c"].map((quizId) => {
      const R = mount();
      const view = () => QuizProgress({ quizId, log: logs[quizId] });
      assert.deepEqual(as(R, view), { progress: null, connected: false });
      return [R, view];
    });
    const ws = await welcomeLast(WebSocket);
    assert.equal(WebSocket.sockets.length, 1, "one connection for the page, not one per hook");
    const client = getWebSocketService().client;
    assert.equal(client._handlers.get("quiz_status").size, 1, "one HubClient listener for all hooks");
    assert.equal(getWebSocketService().listenerCount("quiz_status"), 3);
    ws.receive(batch(quiz(1, 40, "b")));
    assert.deepEqual(logs, { a: [["a", 40, 1]], b: [["b", 40, 1]], c: [["c", 40, 1]] });
    const [R, view] = views[1];
    assert.deepEqual(as(R, view), { progress: 40, connected: true });
    assert.deepEqual(as(views[0][0], views[0][1]), { progress: null, connected: true });
    for (const [Rn, viewN] of views) as(Rn, viewN);
    assert.equal(WebSocket.sockets.length, 1, "re-renders do not reconnect");
    assert.equal(getWebSocketService().listenerCount("quiz_status"), 3, "nor subscribe again");
  });

  test("the latest handler is called; type and deps changes renew the subscription; unmount removes it and the connection stays", async () => {
    const WebSocket = realService();
    const R = mount();
    const got = [];
    let tag = "first", type = "quiz_status", dep = 1;
    const view = () => useWebSocket(type, (data, env) => got.push(`${tag}:${env.type}:${data.progress ?? data.id}`), [dep]);
    as(R, view);
    const ws = await welcomeLast(WebSocket);
    ws.receive(batch(quiz(1, 10)));
    tag = "second";
    as(R, view);
    ws.receive(batch(quiz(2, 20)));
    assert.deepEqual(got, ["first:quiz_status:10", "second:quiz_status:20"]);
    const before = getWebSocketService().listenerCount("quiz_status");
    dep = 2;
    as(R, view);
    assert.equal(getWebSocketService().listenerCount("quiz_status"), before, "renewed, not added");
    type = "notification";
    as(R, view);
    assert.equal(getWebSocketService().listenerCount("quiz_status"), 0);
    assert.equal(getWebSocketService().listenerCount("notification"), 1);
    ws.receive(batch(quiz(3, 30), { seq: 4, type: "notification", ts: 1, data: { id: "n1", level: "info", title: "t",
      body: "b", broadcast: false } }));
    assert.deepEqual(got.slice(2), ["second:notification:n1"]);
    R.unmount();
    mounted.pop();
    assert.equal(getWebSocketService().listenerCount("notification"), 0);
    assert.equal(getWebSocketService().isConnected, true, "the page's connection outlives its hooks");
    assert.equal(WebSocket.sockets.length, 1);
  });

  test("a hook mounted after disconnect() connects a new client", async () => {
    const WebSocket = realService();
    as(mount(), () => useWebSocket("quiz_status", () => {}));
    await welcomeLast(WebSocket);
    getWebSocketService().disconnect();
    assert.equal(getWebSocketService().isConnected, false);
    as(mount(), () => useWebSocket("notification", () => {}));
    await welcomeLast(WebSocket);
    assert.equal(WebSocket.sockets.length, 2);
    assert.equal(getWebSocketService().isConnected, true);
  });
});

describe("useWebSocket driven by hub-client/testing's fake service", () => {
  test("a test pushes messages to the component and flips the connection", () => {
    const hub = installFakeWebSocketService(createFakeWebSocketService());
    const R = mount();
    const view = () => QuizProgress({ quizId: "q1" });
    assert.deepEqual(as(R, view), { progress: null, connected: true }, "the hook connected the fake");
    assert.equal(hub.connects, 1);
    hub.emit("quiz_status", { jobId: "j1", quizId: "q1", status: "processing", progress: 40, message: "40%" });
    hub.emit("quiz_status", { jobId: "j2", quizId: "other", status: "processing", progress: 90, message: "90%" });
    assert.deepEqual(as(R, view), { progress: 40, connected: true });
    hub.setConnected(false);
    assert.deepEqual(as(R, view), { progress: 40, connected: false });
    R.unmount();
    mounted.pop();
    assert.equal(hub.listenerCount("quiz_status"), 0, "unmounting unsubscribed");
  });
});
