// Fakes shared by the browser client's Node tests (not a test file itself: `node --test` runs *.test.mjs).

export function fakeWebSocket() {
  const sockets = [];
  class FakeSocket {
    constructor(url, protocol) {
      this.url = url;
      this.protocol = protocol;
      this.sent = [];
      this.closedWith = null;
      sockets.push(this);
    }
    send(text) { this.sent.push(JSON.parse(text)); }
    close(code, reason) { this.closedWith = { code, reason }; }
    // what the server does
    open() { this.onopen?.({}); }
    receive(frame) { this.onmessage?.({ data: JSON.stringify(frame) }); }
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
