// MessagePack in clients/js/src/hub-client.js (PROTOCOL.md section 8): `protocol: "msgpack"` offers
// hub.v1.msgpack before hub.v1; when the hub selects it, every op goes out as a binary MessagePack frame
// holding exactly the object JSON would carry, and binary frames are decoded; a hub that selects hub.v1
// gets JSON. `npm test` in clients/js (Node 20).
import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";

import { decode, encode } from "@msgpack/msgpack";

import { HubClient, MSGPACK_SUBPROTOCOL, PROTOCOLS, SUBPROTOCOL } from "../src/hub-client.js";

import { fakeFetch, fakeWebSocket, waitFor } from "./fakes.mjs";

const welcome = (extra = {}) => ({ op: "welcome", session: "s1", educatorId: "alice", epoch: "E1", seq: 0,
  heartbeat: 20, resumed: false, snapshot: [], ...extra });
const env = (seq, data = {}) => ({ seq, type: "quiz_status", ts: 1764094212.531 + seq, data });
const quiz = (jobId, status, progress) => ({ jobId, quizId: "q", status, progress, message: `${status} ${progress}` });
const arrayBuffer = (bytes) => bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);

const clients = [];
function makeClient(options = {}) {
  const WebSocket = options.WebSocket ?? fakeWebSocket();
  const fetch = options.fetch ?? fakeFetch(() => ({ body: {}, delay: 10000 }));
  const client = new HubClient({ url: "http://hub.test:8000", token: "tok", baseDelay: 1, maxDelay: 5,
    heartbeat: 60000, random: () => 0.5, protocol: "msgpack", ...options, WebSocket, fetch });
  clients.push(client);
  return { client, WebSocket, fetch };
}
afterEach(() => { while (clients.length) clients.pop().close(); });

/** A started client's socket (made once the codec has loaded), opened with `selected`, hello sent. */
async function opened(made, selected) {
  await waitFor(() => made.WebSocket.sockets.length > 0, "a socket");
  const ws = made.WebSocket.last();
  ws.open(selected);
  await waitFor(() => ws.ops("hello").length === 1, "hello");
  return ws;
}

describe("protocol: msgpack", () => {
  test("offers hub.v1.msgpack then hub.v1 and speaks MessagePack both ways when the hub selects it", async () => {
    const made = makeClient();
    const { client, WebSocket } = made;
    assert.equal(client.preferredProtocol, "msgpack");
    const ready = client.start();
    await waitFor(() => WebSocket.sockets.length === 1, "a socket");
    const ws = WebSocket.last();
    assert.deepEqual(ws.protocols, [MSGPACK_SUBPROTOCOL, SUBPROTOCOL]);
    assert.deepEqual([MSGPACK_SUBPROTOCOL, SUBPROTOCOL], ["hub.v1.msgpack", "hub.v1"]);
    assert.equal(ws.binaryType, "arraybuffer", "binary frames arrive as ArrayBuffers");
    assert.equal(client.protocol, null, "not open yet");
    await opened(made);
    assert.equal(ws.protocol, "hub.v1.msgpack");
    assert.equal(client.protocol, "msgpack");
    // the hello: one binary frame, the very bytes @msgpack/msgpack makes of the object JSON would carry
    assert.equal(ws.frames.length, 1);
    assert.equal(ws.frames[0].binary, true);
    assert.deepEqual(ws.sent[0], { op: "hello", token: "tok" });
    assert.deepEqual([...ws.frames[0].data], [...encode({ op: "hello", token: "tok" })]);

    const seen = [];
    client.on("quiz_status", (e) => seen.push(e));
    ws.receive(welcome({ snapshot: [quiz("j0", "completed", 100)] }));
    assert.equal((await ready).session, "s1");
    assert.equal(client.state, "connected");
    assert.equal(client.jobs.get("j0").status, "completed");
    ws.receive({ op: "batch", messages: [env(1, quiz("j1", "queued", 0)), env(2, quiz("j1", "processing", 40))] });
    assert.deepEqual(seen.map((e) => [e.seq, e.data.status, e.data.progress]), [[1, "queued", 0], [2, "processing", 40]]);
    assert.equal(seen[1].ts, 1764094212.531 + 2, "ts a float64");
    assert.equal(client.jobs.get("j1").progress, 40);

    client.cancel("j1");
    client.subscribe(["notification"]);
    assert.deepEqual(ws.sent.slice(1), [{ op: "cancel", jobId: "j1" }, { op: "subscribe", types: ["notification"] }]);
    assert.ok(ws.frames.every((f) => f.binary && f.data instanceof Uint8Array), "every op a binary frame");

    const errors = [];
    client.on("error", (e) => errors.push(e));
    ws.receive({ op: "error", code: "bad_frame", message: "nope", ref: "cancel" });
    assert.deepEqual(errors.map((e) => [e.code, e.fatal]), [["bad_frame", false]]);
  });

  test("heartbeat ping and the pong over MessagePack", async () => {
    const made = makeClient({ heartbeat: 20 });
    made.client.start();
    const ws = await opened(made);
    ws.receive(welcome());
    await waitFor(() => ws.ops("ping").length >= 1, "a ping");
    const ping = ws.ops("ping")[0];
    assert.equal(ws.frames[ws.sent.indexOf(ping)].binary, true);
    const pongs = [];
    made.client.on("pong", (f) => pongs.push(f));
    ws.receive({ op: "pong", id: ping.id });
    assert.deepEqual(pongs, [{ op: "pong", id: ping.id }]);
  });

  test("a frame holds exactly what JSON would carry: undefined members dropped, Dates and NaN as JSON has them",
    async () => {
      const made = makeClient();
      made.client.start();
      const ws = await opened(made);
      ws.receive(welcome());
      const op = { op: "publish", room: "r1", id: undefined, data: { when: new Date(0), n: NaN, inf: -Infinity,
        gone: undefined, list: [1, undefined, () => 1], nested: { keep: "é", drop: undefined }, fn: () => 1 } };
      made.client.send(op);
      const expected = JSON.parse(JSON.stringify(op));
      assert.deepEqual(ws.sent.at(-1), expected);
      assert.deepEqual([...ws.frames.at(-1).data], [...encode(expected)]);
      const plain = { op: "ping", id: { a: [1, 2.5, "x", null, true], b: undefined } };
      made.client.send(plain);
      assert.deepEqual(ws.sent.at(-1), { op: "ping", id: { a: [1, 2.5, "x", null, true] } });
    });

  test("JSON when the hub selects hub.v1 (a hub without MessagePack)", async () => {
    const made = makeClient();
    made.client.start();
    const ws = await opened(made, "hub.v1");
    assert.equal(made.client.protocol, "json");
    assert.equal(ws.frames[0].binary, false);
    assert.equal(ws.frames[0].data, JSON.stringify({ op: "hello", token: "tok" }));
    const seen = [];
    made.client.on("quiz_status", (e) => seen.push(e.seq));
    ws.receive(welcome()); // JSON text, as that hub sends
    ws.receive({ op: "batch", messages: [env(1, quiz("j1", "queued", 0))] });
    assert.equal(made.client.state, "connected");
    assert.deepEqual(seen, [1]);
    made.client.cancel("j1");
    assert.equal(ws.frames.at(-1).data, JSON.stringify({ op: "cancel", jobId: "j1" }));
  });

  test("malformed frames (MessagePack or JSON) are ignored as before, never a crash", async () => {
    const made = makeClient();
    const { client } = made;
    client.start();
    const ws = await opened(made);
    ws.receive(welcome());
    const errors = [];
    client.on("error", (e) => errors.push(e));
    const seen = [];
    client.on("quiz_status", (e) => seen.push(e.seq));
    const bad = [
      new Uint8Array([0xc1]), // a byte MessagePack never uses
      new Uint8Array([0x82, 0xa2, 0x6f, 0x70]), // a map cut short
      new Uint8Array([0xdb, 0xff, 0xff, 0xff, 0xff]), // a str32 claiming 4 GiB
      new Uint8Array([0x81, 0xc0, 0x01]), // a map with a nil key
      new Uint8Array([...encode({ op: "pong", id: 1 }), 0x00]), // extra bytes after the object
      new Uint8Array(0), // empty
      encode(5), encode(null), encode("batch"), encode([{ op: "batch" }]), // not an object
      encode({ op: "batch", messages: "nope" }), encode({ op: "batch", messages: [null, 7, { seq: "x" }] }),
      encode({ op: 12 }),
    ];
    for (const bytes of bad) ws.receiveRaw(arrayBuffer(bytes));
    ws.receiveRaw(new Uint8Array([0xc1])); // a typed array rather than an ArrayBuffer
    ws.receiveRaw(new Blob([new Uint8Array([0x80])])); // a Blob: not what binaryType asked for
    for (const text of ["{", "null", "42", "[]", "\"batch\"", ""]) ws.receiveRaw(text); // bad JSON too
    assert.equal(client.state, "connected");
    assert.deepEqual(seen, []);
    assert.equal(client.protocol, "msgpack");
    ws.receive({ op: "batch", messages: [env(1, quiz("j1", "queued", 0))] });
    ws.receiveRaw(JSON.stringify({ op: "batch", messages: [env(2, quiz("j1", "processing", 5))] }));
    assert.deepEqual(seen, [1, 2], "frames after the bad ones still delivered (a text frame read as JSON)");
    assert.deepEqual(errors, []);
  });

  test("on a JSON connection too: a binary frame or a JSON non-object is ignored", async () => {
    const made = makeClient({ protocol: "json" });
    made.client.start();
    const ws = await opened(made);
    assert.equal(ws.protocols, "hub.v1");
    assert.equal(ws.binaryType, "blob", "binaryType left alone for JSON");
    ws.receive(welcome());
    for (const data of ["null", "7", "[1]", arrayBuffer(encode({ op: "batch", messages: [env(1)] }))]) {
      ws.receiveRaw(data);
    }
    const seen = [];
    made.client.on("quiz_status", (e) => seen.push(e.seq));
    ws.receive({ op: "batch", messages: [env(1)] });
    assert.deepEqual(seen, [1]);
    assert.equal(made.client.state, "connected");
  });

  test("a reconnect offers MessagePack again and resumes over it", async () => {
    const made = makeClient();
    const { client, WebSocket } = made;
    client.start();
    const ws = await opened(made);
    ws.receive(welcome({ seq: 3 }));
    ws.receive({ op: "batch", messages: [env(4, quiz("j1", "processing", 10))] });
    ws.serverClose(1012, "restarting");
    await waitFor(() => WebSocket.sockets.length === 2, "a second socket");
    const ws2 = WebSocket.last();
    assert.deepEqual(ws2.protocols, ["hub.v1.msgpack", "hub.v1"]);
    assert.equal(ws2.binaryType, "arraybuffer");
    ws2.open();
    await waitFor(() => ws2.ops("hello").length === 1, "hello");
    assert.equal(ws2.frames[0].binary, true);
    assert.deepEqual(ws2.sent[0], { op: "hello", token: "tok", resume: { epoch: "E1", seq: 4 } });
    ws2.receive(welcome({ seq: 4, resumed: true, snapshot: undefined }));
    assert.equal(client.state, "connected");
    assert.equal(client.protocol, "msgpack");
    // a hub rolled back to JSON-only on the next reconnect: JSON there, MessagePack offered again after
    ws2.serverClose(1001);
    await waitFor(() => WebSocket.sockets.length === 3, "a third socket");
    const ws3 = WebSocket.last();
    assert.deepEqual(ws3.protocols, ["hub.v1.msgpack", "hub.v1"]);
    ws3.open("hub.v1");
    await waitFor(() => ws3.ops("hello").length === 1, "hello");
    assert.equal(ws3.frames[0].binary, false);
    assert.equal(client.protocol, "json");
  });

  test("the long-poll fallback stays JSON; protocol is null while polling", async () => {
    const fetch = fakeFetch(() => ({ body: { epoch: "P1", seq: 0, resumed: false, snapshot: [], messages: [] } }));
    const { client } = makeClient({ enabled: false, fetch });
    await client.start();
    assert.equal(client.state, "polling");
    assert.equal(client.protocol, null);
    assert.equal(fetch.polls()[0].url.pathname, "/api/events");
  });

  test("the protocol option: json (default) or msgpack, anything else a clear error", () => {
    assert.deepEqual(PROTOCOLS, ["json", "msgpack"]);
    const json = new HubClient({ url: "http://h", token: "t" });
    assert.equal(json.preferredProtocol, "json");
    assert.equal(json.protocol, null);
    assert.equal(new HubClient({ url: "http://h", token: "t", protocol: null }).preferredProtocol, "json");
    for (const protocol of ["cbor", "MSGPACK", "hub.v1.msgpack", 1, false]) {
      assert.throws(() => new HubClient({ url: "http://h", token: "t", protocol }),
        /HubClient: protocol is "json" or "msgpack" \(got /);
    }
  });
});

describe("decode of what the hub sends", () => {
  test("the codec the client uses reads a hub's frame (maps with string keys, ts float64)", async () => {
    const codec = await import("../src/hub-msgpack.js");
    const frame = { op: "batch", messages: [env(9, quiz("j", "completed", 100))] };
    assert.deepEqual(codec.decode(encode(frame)), frame);
    assert.deepEqual(decode(codec.encode(frame)), frame);
  });
});
