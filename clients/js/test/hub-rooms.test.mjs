// Rooms, presence and typing in the browser client (clients/js/src/hub-client.js + hub-rooms.js), built to
// PROTOCOL.md section 7: `npm test` in clients/js (Node 20).
import assert from "node:assert/strict";
import { afterEach, describe, mock, test } from "node:test";

import { HubClient, HubRoomError, RoomState } from "../src/hub-client.js";

import { fakeFetch, fakeWebSocket, sleep, waitFor } from "./fakes.mjs";

const welcome = (extra = {}) => ({ op: "welcome", session: "s1", educatorId: "ann", epoch: "E1", seq: 0,
  heartbeat: 20, resumed: false, snapshot: [], ...extra });
const member = (educatorId, extra = {}) => ({ educatorId, connections: 1, ...extra });
const joined = (room, extra = {}) => ({ op: "joined", room, epoch: "R1", seq: 0, resumed: false,
  members: [member("ann")], memberCount: 1, ...extra });
const presence = (room, seq, action, educatorId, memberCount, info) => ({ seq, type: "presence", ts: 1, room,
  data: { action, member: info ? { educatorId, info } : { educatorId }, memberCount } });
const message = (room, seq, event, data, from = "bob") => ({ ...(seq == null ? {} : { seq }), type: "room_message",
  ts: 2, room, data: { event, data, from: { educatorId: from, session: `${from}-s` } } });
const typingEnv = (room, educatorId, typing = true) => ({ type: "typing", ts: 3, room, data: { educatorId, typing } });
const batch = (...messages) => ({ op: "batch", messages });

const clients = [];
function makeClient(options = {}) {
  const WebSocket = options.WebSocket ?? fakeWebSocket();
  const fetch = options.fetch ?? fakeFetch(() => ({ body: {}, delay: 10000 }));
  const client = new HubClient({ url: "http://hub.test:8000", token: "tok", baseDelay: 1, maxDelay: 5,
    heartbeat: 60000, random: () => 0.5, ...options, WebSocket, fetch });
  clients.push(client);
  return { client, WebSocket, fetch };
}
afterEach(() => {
  mock.timers.reset();
  while (clients.length) clients.pop().close();
});

/** A client connected over a fake WebSocket: hello sent and welcome received. */
async function connected(options, welcomeExtra = {}) {
  const made = makeClient(options);
  made.client.start();
  const ws = made.WebSocket.last();
  ws.open();
  await waitFor(() => ws.ops("hello").length === 1, "hello");
  ws.receive(welcome(welcomeExtra));
  return { ...made, ws };
}

/** Drop the socket (unless `dropped` already) and open the client's next one: returns it with its
 * hello sent (no welcome yet). */
async function reconnect(client, WebSocket, { code = 1006, dropped = false } = {}) {
  const count = WebSocket.sockets.length;
  if (!dropped) WebSocket.last().serverClose(code);
  await waitFor(() => WebSocket.sockets.length === count + (dropped ? 0 : 1) && WebSocket.last().onopen,
    "a new socket");
  const ws = WebSocket.last();
  ws.open();
  await waitFor(() => ws.ops("hello").length === 1, "hello");
  return ws;
}

const record = (room, event) => {
  const got = [];
  room.on(event, (payload) => got.push(payload));
  return got;
};

// -- the pure state --------------------------------------------------------------------------------

describe("RoomState", () => {
  test("members from joined plus presence: join adds or updates, leave removes, never twice", () => {
    const s = new RoomState("quiz:q");
    assert.equal(s.resume(), null);
    assert.equal(s.applyJoined({ epoch: "R", seq: 4, resumed: false, members: [member("ann"), member("bob")],
      memberCount: 2 }), true);
    assert.deepEqual(s.resume(), { epoch: "R", seq: 4 });
    assert.ok(s.accept(presence("quiz:q", 5, "join", "cy", 3, { name: "Cy" })));
    assert.ok(s.accept(presence("quiz:q", 6, "join", "cy", 3, { name: "Cy 2" })), "a repeated join updates");
    assert.deepEqual([...s.members.keys()], ["ann", "bob", "cy"]);
    assert.deepEqual(s.members.get("cy"), { educatorId: "cy", connections: 1, info: { name: "Cy 2" } });
    assert.ok(s.accept(presence("quiz:q", 7, "leave", "bob", 2)));
    assert.ok(s.accept(presence("quiz:q", 8, "leave", "nobody", 2)), "leaving an unknown member is harmless");
    assert.deepEqual([...s.members.keys()], ["ann", "cy"]);
    assert.equal(s.memberCount, 2);
    assert.equal(s.accept(presence("quiz:q", 6, "join", "bob", 3)), false, "an old seq is dropped");
    assert.deepEqual([...s.members.keys()], ["ann", "cy"], "and not applied");
  });

  test("ephemeral envelopes (no seq) are never deduped and never move the seq", () => {
    const s = new RoomState("r");
    s.applyJoined({ epoch: "R", seq: 10, resumed: false, members: [], memberCount: 0 });
    const e = message("r", null, "cursor", { x: 1 });
    assert.ok(s.accept(e));
    assert.ok(s.accept(e), "the same ephemeral envelope twice: both taken");
    assert.ok(s.accept(typingEnv("r", "bob")));
    assert.equal(s.seq, 10);
    assert.equal(s.accept(message("r", 10, "comment", {})), false);
    assert.ok(s.accept(message("r", 11, "comment", {})));
    assert.equal(s.seq, 11);
  });

  test("resumed keeps the seq and replaces the members; a fresh stream starts at its seq", () => {
    const s = new RoomState("r");
    s.applyJoined({ epoch: "R", seq: 3, resumed: false, members: [member("ann")], memberCount: 1 });
    s.accept(message("r", 5, "comment", {}));
    assert.equal(s.applyJoined({ epoch: "R", seq: 9, resumed: true, members: [member("bob")], memberCount: 1 }), false);
    assert.equal(s.seq, 5, "the missed messages follow: the seq stays where it was");
    assert.deepEqual([...s.members.keys()], ["bob"]);
    assert.equal(s.applyJoined({ epoch: "R2", seq: 2, resumed: false, members: [], memberCount: 0 }), true);
    assert.deepEqual(s.resume(), { epoch: "R2", seq: 2 });
    assert.equal(s.members.size, 0);
  });
});

// -- join, presence, messages over the WebSocket -------------------------------------------------

describe("join over the WebSocket", () => {
  test("join sends the op; the same room object while joined; joined gives members", async () => {
    const { client, ws } = await connected();
    const room = client.join("quiz:q-42", { info: { name: "Ann" } });
    assert.equal(client.join("quiz:q-42", { info: { name: "Ann" } }), room, "joining twice: the same room");
    assert.deepEqual(ws.ops("join"), [{ op: "join", room: "quiz:q-42", info: { name: "Ann" } }],
      "the second join with the same options sends nothing");
    const watch = client.join("course:bio", { presence: false });
    assert.deepEqual(ws.ops("join")[1], { op: "join", room: "course:bio", presence: false });
    assert.equal(client.rooms.get("quiz:q-42"), room);
    const joinedEvents = record(room, "joined");
    assert.equal(room.joined, false);
    ws.receive(joined("quiz:q-42", { seq: 7, members: [member("ann", { info: { name: "Ann" } }), member("bob")],
      memberCount: 2 }));
    assert.equal(room.joined, true);
    assert.equal(joinedEvents.length, 1);
    assert.deepEqual(room.members.map((m) => m.educatorId), ["ann", "bob"]);
    assert.equal(room.memberCount, 2);
    assert.deepEqual([room.epoch, room.seq], ["R1", 7]);
    assert.equal(watch.joined, false, "another room's joined is its own");
  });

  test("joining again with other options sends the join again", async () => {
    const { client, ws } = await connected();
    const room = client.join("quiz:q", { info: { name: "A" } });
    assert.equal(client.join("quiz:q", { info: { name: "B" } }), room);
    assert.deepEqual(ws.ops("join").map((j) => j.info), [{ name: "A" }, { name: "B" }]);
  });

  test("a bad room id throws a clear error before anything is sent", async () => {
    const { client, ws } = await connected();
    for (const bad of ["", "has space", "x".repeat(129), "quiz/1", 42, null]) {
      assert.throws(() => client.join(bad), (err) => err instanceof HubRoomError && err.code === "bad_frame"
        && /1-128 characters/.test(err.message));
    }
    assert.equal(ws.ops("join").length, 0);
    assert.equal(client.join("a".repeat(128)).id.length, 128);
  });

  test("presence envelopes keep the member list exact; room envelopes skip the educator stream", async () => {
    const { client, ws } = await connected();
    const room = client.join("quiz:q");
    ws.receive(joined("quiz:q", { seq: 2 }));
    const seen = record(room, "presence"), everything = [];
    client.on("*", (env) => everything.push(env));
    ws.receive(batch(presence("quiz:q", 3, "join", "bob", 2, { name: "Bob" }),
      { seq: 1, type: "notification", ts: 1, data: { id: "n" } },
      presence("quiz:q", 4, "join", "bob", 2, { name: "Bob" })));
    assert.deepEqual(room.members.map((m) => m.educatorId), ["ann", "bob"], "no duplicate member");
    assert.deepEqual(seen.map((e) => e.seq), [3, 4]);
    assert.deepEqual(everything.map((e) => e.type), ["notification"], "only the educator's own envelope");
    const before = room.members;
    ws.receive(batch(presence("quiz:q", 4, "join", "bob", 2)));
    assert.equal(room.members, before, "a duplicate seq changes nothing");
    ws.receive(batch(presence("quiz:q", 5, "leave", "bob", 1)));
    assert.deepEqual(room.members.map((m) => m.educatorId), ["ann"]);
    assert.equal(room.memberCount, 1);
    assert.notEqual(room.members, before, "a new array after a change (React state)");
  });

  test("messages: per-room dedupe, ephemeral always delivered, unknown rooms ignored", async () => {
    const { client, ws } = await connected();
    const a = client.join("quiz:a"), b = client.join("quiz:b");
    ws.receive(joined("quiz:a", { seq: 10 }));
    ws.receive(joined("quiz:b", { epoch: "RB", seq: 0 }));
    const gotA = record(a, "message"), gotB = record(b, "message");
    ws.receive(batch(message("quiz:a", 10, "comment", { text: "old" }), message("quiz:a", 11, "comment", { text: "1" }),
      message("quiz:b", 1, "comment", { text: "b1" }), message("quiz:a", 11, "comment", { text: "dup" }),
      message("quiz:nope", 1, "comment", { text: "not joined" }), message("quiz:a", null, "cursor", { x: 1 }),
      message("quiz:a", null, "cursor", { x: 1 }), message("quiz:a", 12, "regenerated", { questionId: "3" })));
    assert.deepEqual(gotA.map((e) => [e.seq, e.data.event]),
      [[11, "comment"], [undefined, "cursor"], [undefined, "cursor"], [12, "regenerated"]]);
    assert.deepEqual(gotB.map((e) => e.data.data.text), ["b1"], "seq 1 of room b is new though room a is at 12");
    assert.equal(a.seq, 12);
    assert.equal(b.seq, 1);
    assert.deepEqual(gotA[0].data.from, { educatorId: "bob", session: "bob-s" });
    assert.equal(client.rooms.has("quiz:nope"), false);
  });

  test("leave sends leave; the room is done; later frames of it are ignored", async () => {
    const { client, ws } = await connected();
    const room = client.join("quiz:q");
    ws.receive(joined("quiz:q"));
    const left = record(room, "left"), got = record(room, "message");
    room.leave();
    room.leave(); // twice: harmless
    assert.deepEqual(ws.ops("leave"), [{ op: "leave", room: "quiz:q" }]);
    assert.deepEqual(left, [{ op: "left", room: "quiz:q", local: true }]);
    assert.equal(room.active, false);
    assert.equal(client.rooms.has("quiz:q"), false);
    ws.receive({ op: "left", room: "quiz:q" });
    ws.receive(batch(message("quiz:q", 5, "comment", {})));
    assert.equal(got.length, 0);
    await assert.rejects(room.publish("comment", {}), (err) => err.code === "not_joined");
    const again = client.join("quiz:q");
    assert.notEqual(again, room, "joining after leave: a new room object");
    assert.equal(ws.ops("join").length, 2);
  });

  test("a refused join: the room's error handler, the room is dropped, the client's error stays quiet", async () => {
    const { client, ws } = await connected();
    const clientErrors = [];
    client.on("error", (e) => clientErrors.push(e));
    const room = client.join("quiz:secret");
    const errors = record(room, "error");
    ws.receive({ op: "error", code: "forbidden", message: "no pattern of this token matches quiz:secret",
      ref: "join", room: "quiz:secret" });
    assert.deepEqual(errors.map((e) => [e.code, e.ref, e.room, e.fatal]), [["forbidden", "join", "quiz:secret", false]]);
    assert.equal(room.active, false);
    assert.equal(client.rooms.has("quiz:secret"), false);
    assert.deepEqual(clientErrors, []);
    // a room with no error handler: its error goes to the client's
    client.join("quiz:other");
    ws.receive({ op: "error", code: "too_large", message: "at most 100 rooms per connection", ref: "join",
      room: "quiz:other" });
    assert.deepEqual(clientErrors.map((e) => [e.code, e.room]), [["too_large", "quiz:other"]]);
    assert.equal(client.state, "connected", "not fatal");
  });

  test("a join error without a room (a hub without rooms: unknown op) goes to the oldest join in flight", async () => {
    const { client, ws } = await connected();
    const first = client.join("quiz:a"), second = client.join("quiz:b");
    const errA = record(first, "error"), errB = record(second, "error");
    ws.receive({ op: "error", code: "bad_frame", message: "unknown op 'join'", ref: "join" });
    assert.equal(errA.length, 1);
    assert.equal(errB.length, 0);
    ws.receive({ op: "error", code: "bad_frame", message: "unknown op 'join'", ref: "join" });
    assert.equal(errB.length, 1);
  });
});

// -- publish -----------------------------------------------------------------------------------------

describe("publish", () => {
  test("sends an id it makes; the ack resolves; a given id is kept; ephemeral acks carry no seq", async () => {
    const { client, ws } = await connected();
    const room = client.join("quiz:q");
    ws.receive(joined("quiz:q"));
    const first = room.publish("comment", { text: "hi" });
    const second = room.publish("cursor", { x: 3 }, { ephemeral: true, id: { mine: 1 } });
    const [op1, op2] = ws.ops("publish");
    assert.deepEqual(op1, { op: "publish", room: "quiz:q", event: "comment", data: { text: "hi" }, id: op1.id });
    assert.ok(op1.id !== undefined && op1.id !== null, "an id is always sent");
    assert.deepEqual(op2, { op: "publish", room: "quiz:q", event: "cursor", data: { x: 3 }, ephemeral: true,
      id: { mine: 1 } });
    ws.receive({ op: "ack", id: { mine: 1 }, room: "quiz:q" }); // acks in any order, matched by id
    ws.receive({ op: "ack", id: op1.id, room: "quiz:q", seq: 8 });
    assert.deepEqual(await first, { op: "ack", id: op1.id, room: "quiz:q", seq: 8 });
    assert.deepEqual(await second, { op: "ack", id: { mine: 1 }, room: "quiz:q" });
    const third = room.publish("comment", { text: "again" });
    assert.notEqual(ws.ops("publish")[2].id, op1.id, "ids differ");
    ws.receive({ op: "ack", id: ws.ops("publish")[2].id, room: "quiz:q", seq: 9 });
    assert.equal((await third).seq, 9);
  });

  test("an error frame rejects the oldest outstanding publish of that room, with its code", async () => {
    const { client, ws } = await connected();
    const a = client.join("quiz:a"), b = client.join("quiz:b");
    ws.receive(joined("quiz:a"));
    ws.receive(joined("quiz:b"));
    const a1 = a.publish("comment", { text: "a1" });
    const b1 = b.publish("comment", { text: "b1" });
    const a2 = a.publish("comment", { text: "a2" });
    ws.receive({ op: "error", code: "too_large", message: "data is over 16 KiB as JSON", ref: "publish", room: "quiz:b" });
    await assert.rejects(b1, (err) => err instanceof HubRoomError && err.code === "too_large" && err.room === "quiz:b"
      && err.ref === "publish" && err.message === "data is over 16 KiB as JSON");
    ws.receive({ op: "error", code: "rate_limited", message: "20 ops a second at most", ref: "publish", room: "quiz:a" });
    await assert.rejects(a1, (err) => err.code === "rate_limited");
    const [, , op3] = ws.ops("publish");
    ws.receive({ op: "ack", id: op3.id, room: "quiz:a", seq: 1 });
    assert.equal((await a2).seq, 1, "the later publish still resolves");
    assert.equal(client.state, "connected");
  });

  test("bad arguments reject at once with bad_frame; nothing is sent", async () => {
    const { client, ws } = await connected();
    const room = client.join("quiz:q");
    await assert.rejects(room.publish("", {}), (err) => err.code === "bad_frame" && /1-64/.test(err.message));
    await assert.rejects(room.publish("x".repeat(65), {}), (err) => err.code === "bad_frame");
    await assert.rejects(room.publish("comment", [1]), (err) => err.code === "bad_frame" && /object/.test(err.message));
    await assert.rejects(room.publish("comment", "text"), (err) => err.code === "bad_frame");
    assert.equal(ws.ops("publish").length, 0);
  });

  test("a publish not acknowledged when the connection drops rejects with connection_lost", async () => {
    const { client, WebSocket, ws } = await connected();
    const room = client.join("quiz:q");
    ws.receive(joined("quiz:q"));
    const pending = room.publish("comment", { text: "in flight" });
    ws.serverClose(1006);
    await assert.rejects(pending, (err) => err.code === "connection_lost" && /may or may not/.test(err.message));
    assert.equal(room.joined, false);
    assert.equal(room.active, true, "still a room of the client: rejoined on reconnect");
    assert.ok(WebSocket);
  });
});

// -- typing --------------------------------------------------------------------------------------------

describe("typing", () => {
  test("typing() sends true at once, then at most every 3 s while called, and false 4 s after the last", async () => {
    const { client, ws } = await connected();
    const room = client.join("quiz:q");
    ws.receive(joined("quiz:q"));
    mock.timers.enable({ apis: ["setTimeout"] });
    const sent = () => ws.ops("typing").map((t) => t.typing);
    room.typing();
    assert.deepEqual(ws.ops("typing"), [{ op: "typing", room: "quiz:q", typing: true }]);
    for (let ms = 0; ms < 2900; ms += 100) { mock.timers.tick(100); room.typing(); } // 2.9 s of keystrokes
    assert.deepEqual(sent(), [true], "no repeat within 3 s");
    mock.timers.tick(100); // 3.0 s
    room.typing();
    assert.deepEqual(sent(), [true, true], "repeated after 3 s while still typing");
    for (let ms = 0; ms < 6000; ms += 500) { mock.timers.tick(500); room.typing(); }
    assert.deepEqual(sent(), [true, true, true, true], "every 3 s over 6 s more");
    mock.timers.tick(3999);
    assert.deepEqual(sent(), [true, true, true, true], "still typing 3.999 s after the last call");
    mock.timers.tick(1);
    assert.deepEqual(sent(), [true, true, true, true, false], "false 4 s after the last call");
    mock.timers.tick(20000);
    assert.equal(sent().length, 5, "nothing more");
    room.typing();
    assert.deepEqual(sent().at(-1), true, "a new burst starts at once");
  });

  test("typing(false) and stopTyping() send false at once, only after a true", async () => {
    const { client, ws } = await connected();
    const room = client.join("quiz:q");
    ws.receive(joined("quiz:q"));
    mock.timers.enable({ apis: ["setTimeout"] });
    room.stopTyping();
    assert.equal(ws.ops("typing").length, 0, "no false without a true");
    room.typing();
    room.typing(false);
    assert.deepEqual(ws.ops("typing").map((t) => t.typing), [true, false]);
    room.typing(); // within 3 s of the last true, but a new burst: sent
    room.stopTyping();
    mock.timers.tick(10000);
    assert.deepEqual(ws.ops("typing").map((t) => t.typing), [true, false, true, false]);
  });

  test("typingMembers follow the envelopes; a mark is dropped after 6 s without a repeat or on leave", async () => {
    const { client, ws } = await connected();
    const room = client.join("quiz:q");
    ws.receive(joined("quiz:q", { members: [member("ann"), member("bob"), member("cy")], memberCount: 3 }));
    mock.timers.enable({ apis: ["setTimeout"] });
    const events = record(room, "typing");
    ws.receive(batch(typingEnv("quiz:q", "bob"), typingEnv("quiz:q", "cy")));
    assert.deepEqual(room.typingMembers, ["bob", "cy"]);
    mock.timers.tick(3000);
    ws.receive(batch(typingEnv("quiz:q", "bob"))); // bob repeats
    mock.timers.tick(3000);
    assert.deepEqual(room.typingMembers, ["bob"], "cy: 6 s without a repeat");
    assert.deepEqual(events.at(-1), { type: "typing", room: "quiz:q", ts: events.at(-1).ts,
      data: { educatorId: "cy", typing: false }, local: true });
    ws.receive(batch(typingEnv("quiz:q", "cy"), typingEnv("quiz:q", "bob", false)));
    assert.deepEqual(room.typingMembers, ["cy"]);
    ws.receive(batch(presence("quiz:q", 1, "leave", "cy", 2)));
    assert.deepEqual(room.typingMembers, [], "a member who leaves types no more");
    ws.receive(batch(typingEnv("quiz:q", "bob"), typingEnv("quiz:q", "bob")));
    assert.deepEqual(room.typingMembers, ["bob"], "typing envelopes are ephemeral: never deduped, never twice listed");
  });

  test("typing while offline is not queued", async () => {
    const { client, WebSocket, ws } = await connected();
    const room = client.join("quiz:q");
    ws.receive(joined("quiz:q"));
    ws.serverClose(1006);
    assert.equal(room.typing(), true);
    await waitFor(() => WebSocket.sockets.length === 2, "a new socket");
    const ws2 = await reconnect(client, WebSocket, { dropped: true });
    ws2.receive(welcome({ rooms: [joined("quiz:q", { resumed: true })] }));
    assert.equal(ws2.ops("typing").length, 0);
  });
});

// -- reconnect: hello.rooms and welcome.rooms --------------------------------------------------------

describe("rejoin and resume after a reconnect", () => {
  test("hello carries every room with its resume; welcome.rooms applies each; replays deduped", async () => {
    const { client, WebSocket, ws } = await connected();
    const q = client.join("quiz:q", { info: { name: "Ann" } });
    const c = client.join("course:c", { presence: false });
    const gone = client.join("quiz:gone");
    ws.receive(joined("quiz:q", { seq: 3, members: [member("ann"), member("bob")], memberCount: 2 }));
    ws.receive(joined("course:c", { epoch: "C1", seq: 40 }));
    ws.receive(joined("quiz:gone", { epoch: "G1", seq: 1 }));
    ws.receive(batch(message("quiz:q", 4, "comment", { text: "4" }), message("quiz:q", 5, "comment", { text: "5" })));
    const got = record(q, "message"), joinedQ = record(q, "joined"), fresh = record(c, "joined");
    const errors = record(gone, "error");
    const ws2 = await reconnect(client, WebSocket);
    assert.deepEqual(ws2.ops("hello")[0].rooms, [
      { room: "quiz:q", resume: { epoch: "R1", seq: 5 }, info: { name: "Ann" } },
      { room: "course:c", resume: { epoch: "C1", seq: 40 }, presence: false },
      { room: "quiz:gone", resume: { epoch: "G1", seq: 1 } },
    ]);
    assert.equal(ws2.ops("join").length, 0, "no join ops: the hello rejoins");
    ws2.receive(welcome({ session: "s2", resumed: true, rooms: [
      joined("quiz:q", { seq: 7, resumed: true, members: [member("ann"), member("cy")], memberCount: 2 }),
      joined("course:c", { epoch: "C2", seq: 2, resumed: false, members: [], memberCount: 0 }),
      { op: "error", code: "forbidden", message: "no longer permitted", ref: "join", room: "quiz:gone" },
    ] }));
    assert.equal(client.state, "connected");
    assert.equal(q.joined, true);
    assert.deepEqual(q.members.map((m) => m.educatorId), ["ann", "cy"], "members replaced");
    assert.equal(q.seq, 5, "resumed: the missed messages follow");
    assert.equal(joinedQ.length, 1);
    ws2.receive(batch(message("quiz:q", 5, "comment", { text: "dup" }), message("quiz:q", 6, "comment", { text: "6" }),
      presence("quiz:q", 7, "leave", "cy", 1)));
    assert.deepEqual(got.map((e) => e.data.data.text), ["6"]);
    assert.deepEqual(q.members.map((m) => m.educatorId), ["ann"]);
    assert.deepEqual([c.epoch, c.seq, c.joined], ["C2", 2, true], "resumed:false: the new epoch, seq reset");
    assert.equal(fresh.length, 1);
    assert.deepEqual(errors.map((e) => e.code), ["forbidden"]);
    assert.equal(client.rooms.has("quiz:gone"), false);
    const ws3 = await reconnect(client, WebSocket);
    assert.deepEqual(ws3.ops("hello")[0].rooms.map((r) => r.room), ["quiz:q", "course:c"], "the refused room is not retried");
  });

  test("no rooms: the hello is v1's (no rooms field)", async () => {
    const { client, WebSocket, ws } = await connected();
    assert.equal("rooms" in ws.ops("hello")[0], false);
    const room = client.join("quiz:q");
    room.leave();
    const ws2 = await reconnect(client, WebSocket);
    assert.equal("rooms" in ws2.ops("hello")[0], false);
  });

  test("a publish made while disconnected is queued and sent after the rejoin; its ack resolves", async () => {
    const { client, WebSocket, ws } = await connected();
    const room = client.join("quiz:q");
    ws.receive(joined("quiz:q", { seq: 2 }));
    ws.serverClose(1006);
    const queued = room.publish("comment", { text: "written offline" });
    assert.equal(client.queued, 1);
    await waitFor(() => WebSocket.sockets.length === 2, "a new socket");
    const ws2 = WebSocket.last();
    ws2.open();
    await waitFor(() => ws2.ops("hello").length === 1, "hello");
    assert.equal(ws2.sent.length, 1, "nothing before the welcome");
    ws2.receive(welcome({ rooms: [joined("quiz:q", { seq: 2, resumed: true })] }));
    assert.deepEqual(ws2.sent.map((f) => f.op), ["hello", "publish"], "the rejoin (in hello), then the publish");
    const op = ws2.ops("publish")[0];
    assert.deepEqual(op.data, { text: "written offline" });
    ws2.receive({ op: "ack", id: op.id, room: "quiz:q", seq: 3 });
    assert.equal((await queued).seq, 3);
  });

  test("a queued publish whose room was refused on rejoin rejects with that error, unsent", async () => {
    const { client, WebSocket, ws } = await connected();
    const room = client.join("quiz:q");
    ws.receive(joined("quiz:q"));
    ws.serverClose(1006);
    const queued = room.publish("comment", { text: "x" });
    await waitFor(() => WebSocket.sockets.length === 2, "a new socket");
    const ws2 = await reconnect(client, WebSocket, { dropped: true });
    room.on("error", () => {});
    ws2.receive(welcome({ rooms: [{ op: "error", code: "forbidden", message: "not permitted", ref: "join",
      room: "quiz:q" }] }));
    await assert.rejects(queued, (err) => err.code === "forbidden");
    assert.equal(ws2.ops("publish").length, 0);
  });

  test("leave while disconnected: nothing sent, queued publishes reject, the next hello leaves it out", async () => {
    const { client, WebSocket, ws } = await connected();
    const room = client.join("quiz:q");
    const other = client.join("quiz:other");
    ws.receive(joined("quiz:q"));
    ws.serverClose(1006);
    const queued = room.publish("comment", { text: "x" });
    room.leave();
    await assert.rejects(queued, (err) => err.code === "left");
    assert.equal(client.queued, 0);
    assert.equal(ws.ops("leave").length, 0);
    await waitFor(() => WebSocket.sockets.length === 2, "a new socket");
    const ws2 = await reconnect(client, WebSocket, { dropped: true });
    assert.deepEqual(ws2.ops("hello")[0].rooms, [{ room: "quiz:other" }]);
    assert.ok(other.active);
  });

  test("joined or left while the hello is on its way: join and leave go out after the welcome", async () => {
    const { client, WebSocket, ws } = await connected();
    const stays = client.join("quiz:stays");
    const goes = client.join("quiz:goes");
    ws.receive(joined("quiz:stays"));
    ws.receive(joined("quiz:goes"));
    const ws2 = await reconnect(client, WebSocket);
    assert.deepEqual(ws2.ops("hello")[0].rooms.map((r) => r.room), ["quiz:stays", "quiz:goes"]);
    goes.leave();
    const late = client.join("quiz:late");
    assert.equal(ws2.sent.length, 1, "nothing before the welcome");
    ws2.receive(welcome({ rooms: [joined("quiz:stays", { resumed: true }), joined("quiz:goes", { resumed: true })] }));
    assert.deepEqual(ws2.sent.slice(1), [{ op: "leave", room: "quiz:goes" }, { op: "join", room: "quiz:late" }]);
    assert.equal(goes.joined, false, "the welcome's entry for a room left meanwhile is ignored");
    ws2.receive({ op: "left", room: "quiz:goes" });
    ws2.receive(joined("quiz:late"));
    assert.equal(late.joined, true);
    assert.equal(stays.joined, true);
  });

  test("the offline queue's bound: a publish pushed out rejects with queue_full", async () => {
    const { client, WebSocket, ws } = await connected({ offlineQueue: 2 });
    const room = client.join("quiz:q");
    ws.receive(joined("quiz:q"));
    ws.serverClose(1006);
    const first = room.publish("comment", { n: 1 });
    room.publish("comment", { n: 2 }).catch(() => {});
    room.publish("comment", { n: 3 }).catch(() => {});
    await assert.rejects(first, (err) => err.code === "queue_full");
    assert.equal(client.queued, 2);
    assert.ok(WebSocket);
  });

  test("close() rejects what is pending", async () => {
    const { client, ws } = await connected();
    const room = client.join("quiz:q");
    ws.receive(joined("quiz:q"));
    const sent = room.publish("comment", {});
    client.close();
    await assert.rejects(sent, (err) => err.code === "connection_lost" || err.code === "closed");
    await assert.rejects(room.publish("comment", {}), (err) => err.code === "closed");
  });
});

// -- the long-poll fallback with rooms -----------------------------------------------------------------

/** A hub that answers polls: POST /api/events with rooms, GET without; records the asks. */
function roomPollServer({ roomsAnswer, messages = () => [] } = {}) {
  const asks = [];
  let n = 0;
  const fetch = fakeFetch((url, init) => {
    if (url.pathname === "/api/events") {
      n += 1;
      const body = init.method === "POST" ? JSON.parse(init.body) : null;
      asks.push({ method: init.method ?? "GET", body, url, init });
      const answer = { epoch: "P1", seq: 0, resumed: n > 1, messages: messages(n, body) };
      if (n === 1) answer.snapshot = [];
      if (body) answer.rooms = roomsAnswer ? roomsAnswer(body, n) : body.rooms.map((r) => joined(r.room, {
        resumed: Boolean(r.resume), seq: r.resume ? 99 : 5, epoch: r.resume?.epoch ?? "RP" }));
      return { body: answer, delay: answer.messages.length || n === 1 || body?.rooms?.some((r) => !r.resume) ? 0 : 40 };
    }
    const match = url.pathname.match(/^\/api\/rooms\/([^/]+)\/(publish|typing)$/);
    if (match) {
      const body = JSON.parse(init.body);
      if (match[2] === "typing") return { status: 202, body: {} };
      if (body.data?.forbidden) return { status: 403, body: { detail: "not permitted in this room" } };
      return { status: 202, body: body.ephemeral ? {} : { seq: 77 } };
    }
    return { status: 404, body: { detail: "no" } };
  });
  fetch.asks = asks;
  return fetch;
}

describe("rooms across the long-poll fallback", () => {
  test("polls POST {resume, rooms, timeout}; room answers and envelopes apply; resume carried on", async () => {
    const fetch = roomPollServer({ messages: (n) => (n === 3
      ? [message("quiz:q", 6, "comment", { text: "polled" }), { seq: 1, type: "notification", ts: 1, data: { id: "n" } }]
      : []) });
    const { client, WebSocket } = makeClient({ enabled: false, fetch, pollMinInterval: 5, pollTimeout: 7 });
    const room = client.join("quiz:q", { info: { name: "Ann" } });
    const got = record(room, "message"), notes = [];
    client.on("notification", (e) => notes.push(e.seq));
    await client.start();
    await waitFor(() => fetch.asks.length >= 4, "polls");
    const [first, second, third, fourth] = fetch.asks;
    assert.equal(first.method, "POST");
    assert.equal(first.url.search, "", "no query: all in the body");
    assert.equal(first.init.headers.Authorization, "Bearer tok");
    assert.equal(first.init.headers["Content-Type"], "application/json");
    assert.deepEqual(first.body, { timeout: 7, rooms: [{ room: "quiz:q", info: { name: "Ann" } }] });
    assert.deepEqual(second.body, { timeout: 7, resume: { epoch: "P1", seq: 0 },
      rooms: [{ room: "quiz:q", resume: { epoch: "RP", seq: 5 }, info: { name: "Ann" } }] });
    assert.equal(room.joined, true);
    assert.deepEqual(got.map((e) => e.data.data.text), ["polled"]);
    assert.deepEqual(notes, [1], "the educator's own envelopes as before");
    assert.deepEqual(fourth.body.rooms[0].resume, { epoch: "RP", seq: 6 }, "from the room envelope, not joined.seq");
    assert.ok(third);
    assert.equal(WebSocket.sockets.length, 0);
  });

  test("with no room the poll is v1's GET; joining while a poll waits re-polls at once with the room", async () => {
    const fetch = roomPollServer();
    const { client } = makeClient({ enabled: false, fetch, pollMinInterval: 5 });
    await client.start();
    await waitFor(() => fetch.asks.length >= 2, "polls");
    assert.ok(fetch.asks.every((a) => a.method === "GET"));
    await sleep(10); // a GET is waiting now
    const before = fetch.asks.length;
    const started = Date.now();
    const room = client.join("quiz:q");
    await waitFor(() => room.joined, "joined by a poll");
    assert.ok(Date.now() - started < 200, "not after the waiting poll's timeout");
    const post = fetch.asks.slice(before).find((a) => a.method === "POST");
    assert.deepEqual(post.body.rooms, [{ room: "quiz:q" }]);
    assert.equal(client.state, "polling");
    await sleep(10);
    room.leave();
    await waitFor(() => fetch.asks.at(-1).method === "GET", "a GET again after leave");
  });

  test("publish and typing go over HTTP while polling; the own message's echo in the poll is dropped", async () => {
    let echo = null;
    const fetch = roomPollServer({ messages: () => (echo ? [echo.splice(0, 1)].flat() : []) });
    const { client } = makeClient({ enabled: false, fetch, pollMinInterval: 5, token: fakeJwt("ann") });
    const room = client.join("quiz:q");
    await client.start();
    await waitFor(() => room.joined, "joined");
    const got = record(room, "message");
    const ack = await room.publish("comment", { text: "from a poller", n: 1 });
    assert.deepEqual(ack, { op: "ack", id: ack.id, room: "quiz:q", seq: 77 });
    const call = fetch.calls.find((c) => c.url.pathname === "/api/rooms/quiz%3Aq/publish");
    assert.equal(call.init.method, "POST");
    assert.deepEqual(JSON.parse(call.init.body), { event: "comment", data: { text: "from a poller", n: 1 } });
    echo = [{ seq: 77, type: "room_message", ts: 1, room: "quiz:q", data: { event: "comment",
      data: { n: 1, text: "from a poller" }, from: { educatorId: "ann", session: "http" } } },
    message("quiz:q", 78, "comment", { text: "bob's" })];
    await waitFor(() => got.length >= 1, "bob's message");
    assert.deepEqual(got.map((e) => e.data.data.text), ["bob's"], "own echo dropped (key order aside)");
    assert.equal(room.seq, 78);
    await assert.rejects(room.publish("comment", { forbidden: true }),
      (err) => err.code === "forbidden" && err.message === "not permitted in this room");
    room.typing();
    await waitFor(() => fetch.calls.some((c) => c.url.pathname === "/api/rooms/quiz%3Aq/typing"), "typing");
    assert.deepEqual(JSON.parse(fetch.calls.find((c) => c.url.pathname.endsWith("/typing")).init.body), { typing: true });
  });

  test("a queued publish goes over HTTP when the client falls back to polling", async () => {
    const fetch = roomPollServer();
    const { client, WebSocket } = makeClient({ fetch, maxAttempts: 2, pollMinInterval: 5, upgradeRetry: 600000,
      upgradeDelay: 600000 });
    const room = client.join("quiz:q");
    const queued = room.publish("comment", { text: "waiting" });
    client.start();
    for (let i = 1; i <= 2; i++) {
      await waitFor(() => WebSocket.sockets.length === i, `attempt ${i}`);
      WebSocket.last().serverClose(1006);
    }
    assert.equal(client.state, "polling");
    assert.equal((await queued).seq, 77);
    await waitFor(() => room.joined, "joined by a poll");
  });

  test("a hub without rooms (POST /api/events: 405): the rooms fail with unsupported, polling goes on", async () => {
    const fetch = fakeFetch((url, init) => {
      if (init.method === "POST") return { status: 405, body: { detail: "Method Not Allowed" } };
      return { body: { epoch: "P1", seq: 0, resumed: false, messages: [], snapshot: [] }, delay: 20 };
    });
    const { client } = makeClient({ enabled: false, fetch, pollMinInterval: 5 });
    const room = client.join("quiz:q");
    const errors = record(room, "error");
    await client.start();
    await waitFor(() => errors.length === 1, "the room's error");
    assert.equal(errors[0].code, "unsupported");
    assert.match(errors[0].message, /does not support rooms/);
    assert.equal(room.active, false);
    await waitFor(() => fetch.polls().filter((c) => (c.init.method ?? "GET") === "GET").length >= 2, "GET polls");
    assert.equal(client.state, "polling");
  });

  test("back to the WebSocket from polling: the hello carries the rooms with their poll resume", async () => {
    const fetch = roomPollServer();
    const { client, WebSocket } = makeClient({ fetch, maxAttempts: 1, pollMinInterval: 5, upgradeDelay: 30,
      upgradeRetry: 30 });
    const room = client.join("quiz:q");
    client.start();
    WebSocket.last().serverClose(1006);
    await waitFor(() => room.joined, "joined by a poll");
    await waitFor(() => WebSocket.sockets.length === 2, "an upgrade try");
    const ws = WebSocket.last();
    ws.open();
    await waitFor(() => ws.ops("hello").length === 1, "hello");
    assert.deepEqual(ws.ops("hello")[0].rooms, [{ room: "quiz:q", resume: { epoch: "RP", seq: 5 } }]);
    ws.receive(welcome({ epoch: "P1", resumed: true, rooms: [joined("quiz:q", { epoch: "RP", seq: 5, resumed: true })] }));
    assert.equal(client.state, "connected");
    assert.equal(room.joined, true);
    const polls = fetch.asks.length;
    await sleep(40);
    assert.equal(fetch.asks.length, polls, "polling stopped");
  });
});

function fakeJwt(sub) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${part({ alg: "HS256" })}.${part({ sub, exp: Math.floor(Date.now() / 1000) + 3600 })}.sig`;
}
