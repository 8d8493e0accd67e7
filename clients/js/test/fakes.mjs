// Fakes shared by the browser client's Node tests (not a test file itself: `node --test` runs *.test.mjs).
import { decode, encode } from "@msgpack/msgpack";

const MSGPACK = "hub.v1.msgpack";

/** A WebSocket class whose sockets the test drives as the server would. `new (url, protocols)` records
 * the subprotocols offered (`protocols`); `open(selected)` selects one as a hub does (default: the first
 * offered; PROTOCOL.md section 8) and sets `protocol`. Frames the client sends are kept decoded in `sent`
 * (JSON text or, for binary frames, MessagePack) and as they came in `frames` ({binary, data}).
 * `receive(frame)` sends one as the hub would on this connection: MessagePack (an ArrayBuffer, or a Blob
 * unless the client set binaryType "arraybuffer", as browsers do) on hub.v1.msgpack, else JSON text;
 * `receiveRaw(data)` delivers any data as it is. */
export function fakeWebSocket() {
  const sockets = [];
  class FakeSocket {
    constructor(url, protocols) {
      this.url = url;
      this.protocols = protocols;
      this.protocol = "";
      this.binaryType = "blob";
      this.sent = [];
      this.frames = [];
      this.closedWith = null;
      sockets.push(this);
    }
    send(data) {
      const binary = typeof data !== "string";
      this.frames.push({ binary, data });
      this.sent.push(binary ? decode(data) : JSON.parse(data));
    }
    close(code, reason) { this.closedWith = { code, reason }; }
    // what the server does
    open(selected) {
      this.protocol = selected ?? [this.protocols ?? []].flat()[0] ?? "";
      this.onopen?.({});
    }
    receive(frame) {
      if (this.protocol !== MSGPACK) return this.receiveRaw(JSON.stringify(frame));
      const bytes = encode(frame);
      const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      this.receiveRaw(this.binaryType === "arraybuffer" ? buffer : new Blob([buffer]));
    }
    receiveRaw(data) { this.onmessage?.({ data }); }
    serverClose(code, reason = "") { this.onclose?.({ code, reason }); }
    ops(op) { return this.sent.filter((f) => f.op === op); }
  }
  FakeSocket.sockets = sockets;
  FakeSocket.last = () => sockets[sockets.length - 1];
  return FakeSocket;
}

/** fetch that answers with `respond(url, init)` -> {status, body, delay}; records every call. */
export function fakeFetch(respond) {
  const calls = [];
  const fetch = (url, init = {}) => {
    calls.push({ url: new URL(url), init });
    const { status = 200, body = {}, delay = 0 } = respond(new URL(url), init, calls.length) ?? {};
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => resolve(new Response(JSON.stringify(body), { status })), delay);
      init.signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(new DOMException("aborted", "AbortError"));
      });
    });
  };
  fetch.calls = calls;
  fetch.polls = () => calls.filter((c) => c.url.pathname === "/api/events");
  return fetch;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export async function waitFor(cond, what = "condition", timeout = 3000) {
  const deadline = Date.now() + timeout;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}
