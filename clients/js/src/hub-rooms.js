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
// what a page holds; RoomSet (hub-roomset.js) is the client's bookkeeping of its rooms, outstanding
// publishes and joins.

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
export function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
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
/** Handlers by event name, as `on` takes them (HubClient, Room): `on` returns a function that removes
 * the handler; a handler that throws is logged (with `what`) and skipped, so it never stops delivery. */
export class Emitter {
  constructor(what = "") {
    this._handlers = new Map();
    this._what = what;
  }

  on(event, handler) {
    if (!this._handlers.has(event)) this._handlers.set(event, new Set());
    const entry = (payload) => handler(payload);
    this._handlers.get(event).add(entry);
    return () => { this._handlers.get(event)?.delete(entry); };
  }

  /** Call `event`'s handlers with `payload`; how many there were. */
  _emit(event, payload) {
    const handlers = [...(this._handlers.get(event) ?? [])];
    for (const handler of handlers) {
      try { handler(payload); } catch (err) { console.error(`hub: ${this._what}handler for ${event} failed`, err); }
    }
    return handlers.length;
  }
}

export class Room extends Emitter {
  constructor(rooms, id, { presence = true, info } = {}) {
    super(`room ${id}: `);
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
  on(event, handler) { return super.on(event, handler); }



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
