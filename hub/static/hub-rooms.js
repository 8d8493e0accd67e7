// Rooms, presence and typing for hub-client.js (PROTOCOL.md section 7; the wire shapes in
// docs: joined / left / ack / error frames, room envelopes in batches, hello.rooms, welcome.rooms,
// POST /api/events with rooms). Dependency-free; hub-client.js imports it, pages use it through
//
//   const room = hub.join("quiz:q-42", { info: { name: "Ann" } });
//   room.on("message", (env) => show(env.data.from.educatorId, env.data.event, env.data.data));
//   room.on("presence", () => drawAvatars(room.members));
//   room.on("typing", () => drawTyping(room.typingMembers));
//   await room.publish("comment", { text: "Question 3 needs a better distractor" });
//   input.oninput = () => room.typing();   // repeats itself every 3 s while called, stops 4 s after
//   room.leave();
//
// The pure part (RoomState: epoch, seq, dedupe, the member list) has no I/O and no timers; Room is
// what a page holds; RoomSet is the client's bookkeeping of its rooms, outstanding publishes and joins.

/** A room id (PROTOCOL.md section 7): 1-128 characters of A-Za-z0-9_.:@- */
export const ROOM_ID = /^[A-Za-z0-9_.:@-]{1,128}$/;
/** ms: while `typing()` keeps being called, `typing: true` is sent at most this often (the contract
 * asks for a repeat every 3 s or less; the hub expires a typing mark after 6 s). */
export const TYPING_REPEAT_MS = 3000;
/** ms after the last `typing()` call at which the client sends `typing: false`. */
export const TYPING_IDLE_MS = 4000;
/** ms without a repeat after which a member's typing mark is dropped here too (the hub's 6 s expiry;
 * a safety net for a `typing: false` that never came). */
export const TYPING_EXPIRY_MS = 6000;
/** Own HTTP publishes remembered (while polling) to drop their echo from the room's stream. */
const OWN_ECHOES = 50;
const PENDING = Symbol("pending publish"); // on a queued publish op: its promise's entry
const ROOM_REFS = new Set(["join", "leave", "publish", "typing"]);

/** The error a room op's promise rejects with: `code` is the hub's (`forbidden`, `not_joined`,
 * `rate_limited`, `too_large`, `bad_frame`) or the client's own (`connection_lost`, `left`,
 * `queue_full`, `closed`, `unsupported`, `http_error`); `ref` the op; `room` the room id. */
export class HubRoomError extends Error {
  constructor(code, message, { ref = null, room = null, frame = null } = {}) {
    super(message);
    this.name = "HubRoomError";
    this.code = code;
    this.ref = ref;
    this.room = room;
    this.frame = frame;
  }
}

/** JSON with object keys sorted: two equal values give the same text whatever their key order. */
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

const HTTP_CODES = { 403: "forbidden", 409: "not_joined", 413: "too_large", 422: "bad_frame", 429: "rate_limited" };

/** A HubRoomError from a failed HTTP call (HubHttpError's `status` and `detail`). */
function httpRoomError(err, ref, room) {
  const code = HTTP_CODES[err?.status] ?? "http_error";
  return new HubRoomError(code, err?.message ?? String(err), { ref, room });
}

/**
 * The pure state of one room's stream: its epoch and last seq (dedupe), and the member list, kept
 * exact from `joined.members` plus the `presence` envelopes after it. No I/O, no timers.
 */
export class RoomState {
  constructor(room) {
    this.room = room;
    this.epoch = null;
    this.seq = 0;
    /** educatorId -> {educatorId, connections, info?} */
    this.members = new Map();
    this.memberCount = 0;
  }

  /** The `resume` of the next join (null before the first `joined`). */
  resume() {
    return this.epoch == null ? null : { epoch: this.epoch, seq: this.seq };
  }

  /** Apply a `joined` frame (or a welcome/poll `rooms` entry): the member list is replaced by
   * `members`; a fresh stream (`resumed: false`) starts at its `seq` (nothing before it is replayed).
   * Returns true when the stream was fresh. */
  applyJoined(frame) {
    if (typeof frame.epoch === "string") this.epoch = frame.epoch;
    if (!frame.resumed) this.seq = typeof frame.seq === "number" ? frame.seq : 0;
    this.members = new Map();
    for (const member of Array.isArray(frame.members) ? frame.members : []) {
      if (member && typeof member.educatorId === "string") this.members.set(member.educatorId, { ...member });
    }
    this.memberCount = typeof frame.memberCount === "number" ? frame.memberCount : this.members.size;
    return !frame.resumed;
  }

  /** Take one envelope of this room: false for a seq already seen (drop it). Ephemeral envelopes
   * (no `seq`) are never deduped and never move the seq. A `presence` envelope updates the members:
   * `join` adds or updates an entry, `leave` removes it. */
  accept(env) {
    if (typeof env.seq === "number") {
      if (env.seq <= this.seq) return false;
      this.seq = env.seq;
    }
    if (env.type === "presence") this._presence(env.data ?? {});
    return true;
  }

  _presence(data) {
    const member = data.member;
    if (!member || typeof member.educatorId !== "string") return;
    if (data.action === "join") {
      const before = this.members.get(member.educatorId);
      this.members.set(member.educatorId, { ...(before ?? { connections: 1 }), ...member });
    } else if (data.action === "leave") {
      this.members.delete(member.educatorId);
    }
    if (typeof data.memberCount === "number") this.memberCount = data.memberCount;
  }
}

/**
 * One joined room, as `client.join(room)` returns it (the same object for the same room while
 * joined). Events (`on`): "message" (a `room_message` envelope: `data` is {event, data, from}),
 * "presence" (a `presence` envelope; `members` is up to date), "typing" (a `typing` envelope, or one
 * made here with `local: true` when a mark expires), "joined" (a `joined` frame or welcome/poll
 * entry), "left", and "error" (an error frame of this room's ops, `{code, message, ref, room}`;
 * with no "error" handler here it goes to the client's "error" handlers).
 */
export class Room {
  constructor(rooms, id, { presence = true, info } = {}) {
    this._rooms = rooms;
    this.id = id;
    /** false: this connection is not listed as a member (a watcher) */
    this.presence = presence !== false;
    /** shown to other members (at most 1 KiB as JSON) */
    this.info = info;
    this.state = new RoomState(id);
    /** true once the hub confirmed the join on the current connection (or poll) */
    this.joined = false;
    /** false once left (or refused): the object is done; join again for a new one */
    this.active = true;
    this._handlers = new Map();
    this._memberList = null;
    this._typing = new Map(); // educatorId -> expiry timer
    this._typingSent = false;
    this._typingCooldown = null;
    this._typingIdle = null;
    this._ownEchoes = [];
  }

  /** The members now: [{educatorId, connections, info?}], most recent joiner last (a new array after
   * each change, the same one until then). */
  get members() {
    this._memberList ??= Object.freeze([...this.state.members.values()]);
    return this._memberList;
  }

  /** The HubClient this room belongs to (its `educatorId` is this educator). */
  get client() { return this._rooms.client; }
  /** The exact number of members (`members` lists at most 1,000). */
  get memberCount() { return this.state.memberCount; }
  get epoch() { return this.state.epoch; }
  get seq() { return this.state.seq; }
  /** The educatorIds typing in this room now (this educator's other connections included). */
  get typingMembers() { return [...this._typing.keys()]; }

  /** Call `handler` for "message", "presence", "typing", "joined", "left" or "error"; returns a
   * function that removes it. */
  on(event, handler) {
    if (!this._handlers.has(event)) this._handlers.set(event, new Set());
    const entry = (payload) => handler(payload);
    this._handlers.get(event).add(entry);
    return () => { this._handlers.get(event)?.delete(entry); };
  }

  _emit(event, payload) {
    const handlers = [...(this._handlers.get(event) ?? [])];
    for (const handler of handlers) {
      try { handler(payload); } catch (err) { console.error(`hub: room ${this.id}: handler for ${event} failed`, err); }
    }
    return handlers.length;
  }

  /** Publish `event` with `data` (an object, at most 16 KiB as JSON) to the other members. Resolves
   * with the hub's `ack` ({op: "ack", id, room, seq?}; no seq when `ephemeral`); rejects with a
   * HubRoomError (`.code`). `id` (any JSON value) defaults to one the client makes. Made while
   * disconnected, it waits in the offline queue and goes after the rejoin; while polling it goes
   * over HTTP (POST /api/rooms/{room}/publish). */
  publish(event, data = {}, { ephemeral = false, id } = {}) {
    return this._rooms.publish(this, event, data, { ephemeral, id });
  }

  /** Say that this educator is typing (call it on each keystroke): sends `typing: true` at once and
   * then at most every 3 s while calls keep coming, and `typing: false` 4 s after the last call.
   * `typing(false)` stops at once. Returns false when the room is no longer joined. */
  typing(on = true) {
    if (on === false) return this.stopTyping();
    if (!this.active) return false;
    const rooms = this._rooms;
    rooms.clearTimer(this._typingIdle);
    this._typingIdle = rooms.later(() => { this._typingIdle = null; this.stopTyping(); }, TYPING_IDLE_MS);
    if (this._typingCooldown == null) {
      this._typingCooldown = rooms.later(() => { this._typingCooldown = null; }, TYPING_REPEAT_MS);
      this._typingSent = rooms.sendTyping(this, true);
    }
    return true;
  }

  /** Stop typing now: `typing: false` when a `typing: true` went out. */
  stopTyping() {
    const rooms = this._rooms;
    rooms.clearTimer(this._typingIdle);
    rooms.clearTimer(this._typingCooldown);
    this._typingIdle = this._typingCooldown = null;
    if (this._typingSent && this.active) rooms.sendTyping(this, false);
    this._typingSent = false;
    return true;
  }

  /** Leave the room (answered by `left`); its queued publishes reject (`left`). Safe when
   * disconnected or already left. */
  leave() { this._rooms.leave(this); }

  /** The entry of this room in hello.rooms and POST /api/events `rooms`, and the join op's fields. */
  request() {
    const req = { room: this.id };
    const resume = this.state.resume();
    if (resume) req.resume = resume;
    if (!this.presence) req.presence = false;
    if (this.info !== undefined) req.info = this.info;
    return req;
  }

  // -- what the client feeds in ----------------------------------------------------------------

  _applyJoined(frame) {
    const before = this.joined ? canonical(this.members) : null;
    const fresh = this.state.applyJoined(frame);
    this._memberList = null;
    this.joined = true;
    if (fresh) this._clearTyping(false);
    if (fresh || before !== canonical(this.members)) this._emit("joined", frame);
  }

  _deliver(env) {
    if (!this.state.accept(env)) return;
    if (env.type === "presence") {
      this._memberList = null;
      const member = env.data?.member?.educatorId;
      if (env.data?.action === "leave" && this._typing.has(member)) this._typingMark(member, false, true);
      this._emit("presence", env);
    } else if (env.type === "typing") {
      const who = env.data?.educatorId;
      if (typeof who !== "string") return;
      this._typingMark(who, env.data.typing === true, false);
      this._emit("typing", env);
    } else if (env.type === "room_message") {
      if (!this._ownEcho(env)) this._emit("message", env);
    } else {
      this._emit(env.type, env);
    }
  }

  _typingMark(who, typing, announce) {
    this._rooms.clearTimer(this._typing.get(who));
    this._typing.delete(who);
    if (typing) {
      this._typing.set(who, this._rooms.later(() => this._typingMark(who, false, true), TYPING_EXPIRY_MS));
    }
    if (announce) {
      this._emit("typing", { type: "typing", room: this.id, ts: Date.now() / 1000,
        data: { educatorId: who, typing }, local: true });
    }
  }

  _clearTyping(announce) {
    for (const who of [...this._typing.keys()]) this._typingMark(who, false, announce);
  }

  _rememberOwn(event, data) {
    const echo = { event, json: canonical(data) };
    this._ownEchoes.push(echo);
    while (this._ownEchoes.length > OWN_ECHOES) this._ownEchoes.shift();
    return echo;
  }

  _forgetOwn(echo) {
    const i = this._ownEchoes.indexOf(echo);
    if (i >= 0) this._ownEchoes.splice(i, 1);
  }

  /** A message this client published over HTTP while polling comes back in its own poll (the
   * hub sends a connection none of its own publishes, but an HTTP publish has no connection). */
  _ownEcho(env) {
    const d = env.data ?? {};
    if (!this._ownEchoes.length || d.from?.session !== "http") return false;
    const me = this._rooms.client.educatorId;
    if (me != null && d.from?.educatorId !== me) return false;
    const json = canonical(d.data ?? {});
    const i = this._ownEchoes.findIndex((e) => e.event === d.event && e.json === json);
    if (i < 0) return false;
    this._ownEchoes.splice(i, 1);
    return true;
  }

  _stopTimers() {
    const rooms = this._rooms;
    rooms.clearTimer(this._typingIdle);
    rooms.clearTimer(this._typingCooldown);
    this._typingIdle = this._typingCooldown = null;
    this._typingSent = false;
  }
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
    this._roomError(room, { ...frame, room: room.id });
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
    op.id = id !== undefined ? id : `p${++this._ids}`;
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
