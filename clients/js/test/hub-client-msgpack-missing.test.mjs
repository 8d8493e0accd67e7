// clients/js/src/hub-client.js with `protocol: "msgpack"` where ./hub-msgpack.js cannot be loaded (a
// page served without it, a bundler that left it out): the client says so in an "error" event and
// speaks JSON, which every hub understands. A file of its own: the import fails for the whole process
// (a module loader hook). `npm test` in clients/js (Node 20).
import assert from "node:assert/strict";
import { register } from "node:module";
import { afterEach, test } from "node:test";

import { fakeFetch, fakeWebSocket, waitFor } from "./fakes.mjs";

register(`data:text/javascript,${encodeURIComponent(`export async function resolve(specifier, context, next) {
  if (specifier === "./hub-msgpack.js") throw new Error("Cannot find module './hub-msgpack.js'");
  return next(specifier, context);
}`)}`);
const { HubClient } = await import("../src/hub-client.js");

const clients = [];
afterEach(() => { while (clients.length) clients.pop().close(); });

test("MessagePack unavailable: an error event with a sentence, then JSON", async () => {
  const WebSocket = fakeWebSocket();
  const client = new HubClient({ url: "http://hub.test:8000", token: "tok", protocol: "msgpack", WebSocket,
    fetch: fakeFetch(() => ({ body: {}, delay: 10000 })), heartbeat: 60000, baseDelay: 1, maxDelay: 5 });
  clients.push(client);
  const errors = [];
  client.on("error", (e) => errors.push(e));
  const ready = client.start();
  await waitFor(() => WebSocket.sockets.length === 1, "a socket");
  assert.deepEqual(errors.map((e) => [e.code, e.fatal]), [["msgpack_unavailable", false]]);
  assert.match(errors[0].message, /^MessagePack is unavailable \(\.\/hub-msgpack\.js did not load: .*\); using JSON$/);
  const ws = WebSocket.last();
  assert.equal(ws.protocols, "hub.v1", "offers JSON only");
  ws.open();
  await waitFor(() => ws.ops("hello").length === 1, "hello");
  assert.equal(ws.frames[0].binary, false);
  ws.receive({ op: "welcome", session: "s", educatorId: "a", epoch: "E", seq: 0, heartbeat: 20, resumed: false,
    snapshot: [] });
  await ready;
  assert.equal(client.protocol, "json");
  ws.serverClose(1012);
  await waitFor(() => WebSocket.sockets.length === 2, "a reconnect");
  assert.equal(WebSocket.last().protocols, "hub.v1");
  assert.equal(errors.length, 1, "said once");
});
