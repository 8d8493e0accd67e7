// The React room hooks of clients/js/src/react.js (useRoom, usePresence, useTyping) against a tiny fake of
// React's hooks and the client over a fake WebSocket: `npm test` in clients/js (Node 20).
import assert from "node:assert/strict";
import { afterEach, describe, mock, test } from "node:test";

import { HubClient } from "../src/hub-client.js";

import { fakeReact } from "./fake-react.mjs";
import { fakeWebSocket, waitFor } from "./fakes.mjs";

const { useRoom, usePresence, useTyping } = await import("../src/react.js");

const joined = (room, members, extra = {}) => ({ op: "joined", room, epoch: "R1", seq: 0, resumed: false,
  members: members.map((educatorId) => ({ educatorId, connections: 1 })), memberCount: members.length, ...extra });
const batch = (...messages) => ({ op: "batch", messages });

const clients = [];
async function connected() {
  const WebSocket = fakeWebSocket();
  const client = new HubClient({ url: "http://hub.test", token: "tok", WebSocket, heartbeat: 60000,
    fetch: () => new Promise(() => {}) });
  clients.push(client);
  client.start();
  const ws = WebSocket.last();
  ws.open();
  await waitFor(() => ws.ops("hello").length === 1, "hello");
  ws.receive({ op: "welcome", session: "s", educatorId: "ann", epoch: "E", seq: 0, heartbeat: 20, resumed: false,
    snapshot: [] });
  return { client, ws };
}
afterEach(() => { mock.timers.reset(); while (clients.length) clients.pop().close(); });
const handlers = (room, event) => room._handlers.get(event)?.size ?? 0;

describe("useRoom", () => {
  test("joins on mount, lists members and messages, leaves on unmount", async () => {
    const R = (globalThis.__fakeReact = fakeReact());
    const { client, ws } = await connected();
    const view = () => useRoom(client, "quiz:q", { info: { name: "Ann" } });
    let out = R.render(view);
    assert.deepEqual(ws.ops("join"), [{ op: "join", room: "quiz:q", info: { name: "Ann" } }]);
    const room = out.room;
    assert.equal(room, client.rooms.get("quiz:q"));
    ws.receive(joined("quiz:q", ["ann", "bob"]));
    out = R.render(view);
    assert.deepEqual(out.members.map((m) => m.educatorId), ["ann", "bob"]);
    ws.receive(batch({ seq: 1, type: "room_message", ts: 1, room: "quiz:q",
      data: { event: "comment", data: { text: "hi" }, from: { educatorId: "bob", session: "b" } } },
    { seq: 2, type: "presence", ts: 1, room: "quiz:q", data: { action: "leave", member: { educatorId: "bob" }, memberCount: 1 } }));
    out = R.render(view);
    assert.deepEqual(out.messages.map((e) => e.data.data.text), ["hi"]);
    assert.deepEqual(out.members.map((m) => m.educatorId), ["ann"]);
    assert.equal(out.error, null);
    R.render(view);
    assert.equal(ws.ops("join").length, 1, "one join across renders");
    R.unmount();
    assert.deepEqual(ws.ops("leave"), [{ op: "leave", room: "quiz:q" }]);
    assert.equal(client.rooms.size, 0);
    assert.equal(handlers(room, "message"), 0);
  });

  test("two components on one room: the room is left when the last one unmounts", async () => {
    const first = fakeReact(), second = fakeReact();
    const { client, ws } = await connected();
    globalThis.__fakeReact = first;
    const a = first.render(() => useRoom(client, "quiz:q"));
    globalThis.__fakeReact = second;
    const b = second.render(() => useRoom(client, "quiz:q"));
    assert.equal(a.room, b.room);
    first.unmount();
    assert.equal(ws.ops("leave").length, 0);
    assert.ok(b.room.active);
    second.unmount();
    assert.equal(ws.ops("leave").length, 1);
  });

  test("a refused join shows in `error`; messages are bounded by keep", async () => {
    const R = (globalThis.__fakeReact = fakeReact());
    const { client, ws } = await connected();
    const view = () => useRoom(client, "quiz:q", { keep: 2 });
    R.render(view);
    ws.receive(joined("quiz:q", ["ann"]));
    for (let seq = 1; seq <= 3; seq++) {
      ws.receive(batch({ seq, type: "room_message", ts: 1, room: "quiz:q",
        data: { event: "comment", data: { n: seq }, from: { educatorId: "bob", session: "b" } } }));
    }
    assert.deepEqual(R.render(view).messages.map((e) => e.data.data.n), [2, 3]);
    R.unmount();
    const S = (globalThis.__fakeReact = fakeReact());
    S.render(() => useRoom(client, "quiz:secret"));
    ws.receive({ op: "error", code: "forbidden", message: "not permitted", ref: "join", room: "quiz:secret" });
    const out = S.render(() => useRoom(client, "quiz:secret"));
    assert.equal(out.error.code, "forbidden");
    S.unmount();
  });

  test("no client or no room id: nothing joined", () => {
    const R = (globalThis.__fakeReact = fakeReact());
    const out = R.render(() => useRoom(null, "quiz:q"));
    assert.equal(out.room, null);
    assert.deepEqual(out.members, []);
  });
});

describe("usePresence and useTyping", () => {
  test("usePresence re-renders on join and leave", async () => {
    const R = (globalThis.__fakeReact = fakeReact());
    const { client, ws } = await connected();
    const room = client.join("quiz:q");
    ws.receive(joined("quiz:q", ["ann"]));
    assert.deepEqual(R.render(() => usePresence(room)).map((m) => m.educatorId), ["ann"]);
    const before = R.renders;
    ws.receive(batch({ seq: 1, type: "presence", ts: 1, room: "quiz:q",
      data: { action: "join", member: { educatorId: "bob", info: { name: "Bob" } }, memberCount: 2 } }));
    assert.ok(R.renders > before, "a re-render was asked for");
    assert.deepEqual(R.render(() => usePresence(room)).map((m) => m.info?.name ?? m.educatorId), ["ann", "Bob"]);
    R.unmount();
    assert.equal(handlers(room, "presence"), 0);
    assert.deepEqual(R.render(() => usePresence(null)), []);
  });

  test("useTyping: the others typing (not this educator), notify throttled by room.typing, stop on unmount", async () => {
    const R = (globalThis.__fakeReact = fakeReact());
    const { client, ws } = await connected();
    const room = client.join("quiz:q");
    ws.receive(joined("quiz:q", ["ann", "bob"]));
    mock.timers.enable({ apis: ["setTimeout"] });
    let out = R.render(() => useTyping(room));
    const { notify } = out;
    ws.receive(batch({ type: "typing", ts: 1, room: "quiz:q", data: { educatorId: "bob", typing: true } },
      { type: "typing", ts: 1, room: "quiz:q", data: { educatorId: "ann", typing: true } })); // ann's other tab
    out = R.render(() => useTyping(room));
    assert.deepEqual(out.typing, ["bob"]);
    assert.equal(out.notify, notify, "the same function on every render");
    notify(); notify(); notify();
    assert.deepEqual(ws.ops("typing").map((t) => t.typing), [true]);
    mock.timers.tick(6000);
    out = R.render(() => useTyping(room));
    assert.deepEqual(out.typing, [], "bob's mark expired");
    assert.deepEqual(ws.ops("typing").map((t) => t.typing), [true, false], "false 4 s after the last notify");
    notify();
    R.unmount();
    assert.deepEqual(ws.ops("typing").map((t) => t.typing), [true, false, true, false], "unmount stops typing");
  });
});
