// The browser client's bookkeeping of its rooms (PROTOCOL.md section 7): the Room objects by id, the
// publishes waiting for their ack, the joins and leaves on the wire, and how each room op goes out
// (WebSocket, HTTP while polling, or the offline queue). hub-client.js holds one; pages never use it.
import { HubRoomError, ROOM_ID, Room, canonical } from "./hub-rooms.js";

const PENDING = Symbol("pending publish"); // on a queued publish op: its promise's entry
const ROOM_REFS = new Set(["join", "leave", "publish", "typing"]);
const HTTP_CODES = { 403: "forbidden", 409: "not_joined", 413: "too_large", 422: "bad_frame", 429: "rate_limited" };

/** A HubRoomError from a failed HTTP call (HubHttpError's `status` and `detail`). */
function httpRoomError(err, ref, room) {
  const code = HTTP_CODES[err?.status] ?? "http_error";
  return new HubRoomError(code, err?.message ?? String(err), { ref, room });
}

/**
 * The client's rooms: the Room objects by id, the publishes waiting for their `ack`, the joins and
 * leaves on the wire. `client` is the HubClient; it calls in at connect, at each frame and at close.
 */
export class RoomSet {
  constructor(client) {
    this.client = client;
    /** room id -> Room, while joined (or joining) */
    this.rooms = new Map();
    this._outstanding = []; // publishes sent on the current connection, oldest first
    this._joining = []; // room ids of join ops sent and not yet answered, in order
    this._leaving = new Map(); // room id -> leave ops sent and not yet answered
    this._ids = 0;
    this._idPrefix = `p${Math.floor((client.random ?? Math.random)() * 36 ** 4).toString(36)}-`; // ids it makes
    /** set when the hub answered POST /api/events with 404/405 (a hub without rooms) */
    this.pollUnsupported = false;
  }

  later(fn, ms) { return this.client._later(fn, ms); }
  clearTimer(id) { this.client._clearTimer(id); }

  /** The entries of hello.rooms / POST /api/events `rooms`: every room joined, in join order. */
  requests() {
    return [...this.rooms.values()].map((room) => room.request());
  }

  join(id, { presence = true, info } = {}) {
    if (typeof id !== "string" || !ROOM_ID.test(id)) {
      throw new HubRoomError("bad_frame", `a room id is 1-128 characters of A-Za-z0-9_.:@- (got ${JSON.stringify(id)})`,
        { ref: "join", room: typeof id === "string" ? id : null });
    }
    let room = this.rooms.get(id);
    if (room) {
      const same = room.presence === (presence !== false) && canonical(room.info) === canonical(info);
      if (same) return room;
      room.presence = presence !== false;
      room.info = info;
    } else {
      room = new Room(this, id, { presence, info });
      this.rooms.set(id, room);
    }
    this._sendJoin(room);
    return room;
  }

  _sendJoin(room) {
    const transport = this.client._transport();
    if (transport === "ws") {
      this.client._wsSend({ op: "join", ...room.request() });
      this._joining.push(room.id);
    } else if (transport === "poll") {
      this.client._restartPoll();
    } // offline: the next hello carries it
  }

  leave(room) {
    if (!room.active) return;
    room.active = false;
    room.joined = false;
    room._stopTimers();
    room._clearTyping(false);
    if (this.rooms.get(room.id) === room) this.rooms.delete(room.id);
    const transport = this.client._transport();
    if (transport === "ws") {
      this.client._wsSend({ op: "leave", room: room.id });
      this._leaving.set(room.id, (this._leaving.get(room.id) ?? 0) + 1);
    } else if (transport === "poll") {
      this.client._restartPoll();
    }
    this._rejectQueued((op) => op.room === room.id,
      () => new HubRoomError("left", `left room ${room.id} before this publish was sent`, { ref: "publish", room: room.id }));
    room._emit("left", { op: "left", room: room.id, local: true });
  }

  /** A join refused (error frame, or an error entry in welcome/poll `rooms`): the room is done. */
  _fail(room, frame) {
    room.active = false;
    room.joined = false;
    room._stopTimers();
    room._clearTyping(false);
    if (this.rooms.get(room.id) === room) this.rooms.delete(room.id);
    this._rejectQueued((op) => op.room === room.id, () => new HubRoomError(frame.code ?? "error",
      frame.message ?? `could not join room ${room.id}`, { ref: "publish", room: room.id, frame }));
    this._roomError(room, { ...frame, ref: frame.ref ?? "join", room: room.id });
  }

  _roomError(room, frame) {
    const event = { ...frame, fatal: false };
    if (!room._emit("error", event)) this.client._emit("error", event);
  }

  publish(room, event, data, { ephemeral = false, id } = {}) {
    const refuse = (code, message) => Promise.reject(new HubRoomError(code, message, { ref: "publish", room: room.id }));
    if (!room.active) return refuse("not_joined", `not in room ${room.id} (left or refused): join it again to publish`);
    if (typeof event !== "string" || event.length < 1 || event.length > 64) {
      return refuse("bad_frame", "a publish's event is a string of 1-64 characters");
    }
    if (!data || typeof data !== "object" || Array.isArray(data)) {
      return refuse("bad_frame", "a publish's data is a JSON object");
    }
    const op = { op: "publish", room: room.id, event, data };
    if (ephemeral) op.ephemeral = true;
    op.id = id !== undefined ? id : `${this._idPrefix}${++this._ids}`;
    let entry;
    const promise = new Promise((resolve, reject) => { entry = { room: room.id, key: canonical(op.id), resolve, reject }; });
    op[PENDING] = entry;
    const transport = this.client._transport();
    if (transport === "ws") this._sendPublish(op);
    else if (transport === "poll") this.publishOverHttp(op);
    else if (transport === "offline") this.client._enqueue(op);
    else entry.reject(new HubRoomError("closed", "the client was closed", { ref: "publish", room: room.id }));
    return promise;
  }

  _sendPublish(op) {
    this._outstanding.push(op[PENDING]);
    this.client._wsSend(op);
  }

  /** While polling: POST /api/rooms/{room}/publish; resolves as an ack would. */
  publishOverHttp(op) {
    const entry = op[PENDING];
    const room = this.rooms.get(op.room);
    const echo = room?._rememberOwn(op.event, op.data);
    const body = { event: op.event, data: op.data };
    if (op.ephemeral) body.ephemeral = true;
    this.client.request("POST", `/api/rooms/${encodeURIComponent(op.room)}/publish`, body).then((reply) => {
      const ack = { op: "ack", id: op.id, room: op.room };
      if (typeof reply?.seq === "number") ack.seq = reply.seq;
      entry?.resolve(ack);
    }, (err) => {
      if (echo) room._forgetOwn(echo);
      entry?.reject(httpRoomError(err, "publish", op.room));
    });
  }

  /** Send typing over the current transport; true when it went out (or is going over HTTP). */
  sendTyping(room, typing) {
    const transport = this.client._transport();
    if (transport === "ws") {
      this.client._wsSend({ op: "typing", room: room.id, typing });
      return true;
    }
    if (transport === "poll") {
      this.client.request("POST", `/api/rooms/${encodeURIComponent(room.id)}/typing`, { typing })
        .catch((err) => { if (room.active) this._roomError(room, { op: "error", ...httpErrorFields(err, room.id) }); });
      return true;
    }
    return false; // offline: typing is not worth queueing
  }

  /** A queued op about to go out after a welcome: false (and its promise rejected) when its room is gone. */
  flushing(op) {
    if (op.op !== "publish" || !op[PENDING]) return true;
    if (!this.rooms.has(op.room)) {
      op[PENDING].reject(new HubRoomError("not_joined", `room ${op.room} was not rejoined: publish not sent`,
        { ref: "publish", room: op.room }));
      return false;
    }
    this._outstanding.push(op[PENDING]);
    return true;
  }

  /** A queued op pushed out of the bounded offline queue. */
  dropped(op) {
    op?.[PENDING]?.reject(new HubRoomError("queue_full",
      "the offline queue was full: this publish was dropped before it could be sent", { ref: "publish", room: op.room }));
  }

  _rejectQueued(match, error) {
    const queue = this.client._queue;
    for (let i = queue.length - 1; i >= 0; i--) {
      const op = queue[i];
      if (op.op === "publish" && op[PENDING] && match(op)) {
        queue.splice(i, 1);
        op[PENDING].reject(error());
      }
    }
  }

  /** Apply welcome.rooms or a poll answer's `rooms` (`sent`: the room ids asked for, in order). */
  applyAnswers(answers, sent = []) {
    if (!Array.isArray(answers)) return;
    answers.forEach((answer, i) => {
      if (!answer || typeof answer !== "object") return;
      const room = this.rooms.get(typeof answer.room === "string" ? answer.room : sent[i]);
      if (!room) return;
      if (answer.op === "error") this._fail(room, answer);
      else room._applyJoined(answer);
    });
  }

  /** After a welcome: join the rooms joined since the hello went out; leave those left meanwhile. */
  afterWelcome(sent = []) {
    const asked = new Set(sent);
    for (const id of asked) {
      if (!this.rooms.has(id)) {
        this.client._wsSend({ op: "leave", room: id });
        this._leaving.set(id, (this._leaving.get(id) ?? 0) + 1);
      }
    }
    for (const room of this.rooms.values()) if (!asked.has(room.id)) this._sendJoin(room);
  }

  /** Take a batch's room envelopes (those with `room`); envelopes of rooms not joined are ignored. */
  deliver(envelopes) {
    for (const env of envelopes) {
      const room = this.rooms.get(env.room);
      if (room && env && typeof env === "object") room._deliver(env);
    }
  }

  /** A room frame (joined, left, ack, or an error of a room op): true when it was handled here. */
  handle(frame) {
    if (frame.op === "joined") {
      this._answered(frame.room);
      const room = this.rooms.get(frame.room);
      if (room) room._applyJoined(frame);
      return true;
    }
    if (frame.op === "left") {
      const pending = this._leaving.get(frame.room) ?? 0;
      if (pending > 1) this._leaving.set(frame.room, pending - 1);
      else if (pending === 1) this._leaving.delete(frame.room);
      else {
        const room = this.rooms.get(frame.room); // the hub took this connection out of the room
        if (room) {
          room.active = room.joined = false;
          room._stopTimers();
          this.rooms.delete(room.id);
          room._emit("left", frame);
        }
      }
      return true;
    }
    if (frame.op === "ack") {
      const key = canonical(frame.id);
      const i = this._outstanding.findIndex((e) => e.key === key && (frame.room == null || e.room === frame.room));
      if (i >= 0) this._outstanding.splice(i, 1)[0].resolve(frame);
      return true;
    }
    if (frame.op !== "error" || !ROOM_REFS.has(frame.ref)) return false;
    if (frame.ref === "publish") {
      // error frames carry no id: the hub answers a connection's ops in order, so the error is the
      // oldest outstanding publish to that room
      const i = this._outstanding.findIndex((e) => frame.room == null || e.room === frame.room);
      if (i >= 0) {
        const entry = this._outstanding.splice(i, 1)[0];
        entry.reject(new HubRoomError(frame.code ?? "error", frame.message ?? "publish refused",
          { ref: "publish", room: entry.room, frame }));
        return true;
      }
    }
    if (frame.ref === "join") {
      const id = typeof frame.room === "string" ? frame.room : this._joining[0];
      this._answered(id);
      const room = this.rooms.get(id);
      if (room) { this._fail(room, frame); return true; }
      return false;
    }
    const room = this.rooms.get(frame.room);
    if (!room) return false;
    this._roomError(room, frame);
    return true;
  }

  _answered(id) {
    const i = this._joining.indexOf(id);
    if (i >= 0) this._joining.splice(i, 1);
  }

  /** The connection is gone: rooms wait for the rejoin; publishes sent and not acknowledged reject
   * (`connection_lost`: the hub may or may not have taken them). */
  disconnected() {
    for (const room of this.rooms.values()) {
      room.joined = false;
      room._stopTimers();
    }
    this._joining = [];
    this._leaving.clear();
    for (const entry of this._outstanding.splice(0)) {
      entry.reject(new HubRoomError("connection_lost",
        "the connection closed before the hub acknowledged this publish: it may or may not have been delivered",
        { ref: "publish", room: entry.room }));
    }
  }

  /** The hub has no rooms (POST /api/events answered 404 or 405): every room fails with `unsupported`. */
  unsupported(status) {
    this.pollUnsupported = true;
    for (const room of [...this.rooms.values()]) {
      this._fail(room, { op: "error", code: "unsupported", ref: "join", room: room.id,
        message: `this hub does not support rooms (POST /api/events answered ${status})` });
    }
  }

  /** The client closed for good: every pending publish rejects (`closed`). */
  closed() {
    this.disconnected();
    this._rejectQueued(() => true, () => new HubRoomError("closed", "the client was closed", { ref: "publish" }));
    for (const room of this.rooms.values()) { room._clearTyping(false); room.joined = false; }
  }
}

function httpErrorFields(err, room) {
  const e = httpRoomError(err, "typing", room);
  return { code: e.code, message: e.message, ref: "typing", room };
}
