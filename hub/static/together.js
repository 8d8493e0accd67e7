// The dashboard's "Working together" panel: for the quiz on show, who else is on it, who is typing,
// and comments, over the hub's room `quiz:<quizId>` (PROTOCOL.md section 7). dashboard.js shows it with
// `together.show(client, quizId)` when a quiz is drawn and `together.hide()` at sign-out.
import { ROOM_ID } from "./hub-client.js";

const MAX_COMMENTS = 50; // shown (the oldest go first)
const MAX_COMMENT = 2000; // characters of one comment (the hub takes 16 KiB of data)

/** A DOM element: `attrs` (class, text, on<event> listeners, other attributes; null/false skipped),
 * then `children` (nodes or strings, nested arrays flattened). The dashboard's too. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) if (child != null) node.append(child);
  return node;
}

function clock(ts) {
  return new Date((ts ?? Date.now() / 1000) * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** A list of names as a sentence: "Ann", "Ann and Bob", "Ann, Bob and Cy". */
function names(list) {
  return list.length < 2 ? list.join("") : `${list.slice(0, -1).join(", ")} and ${list.at(-1)}`;
}

/**
 * The panel in `root` (the #together section of index.html). One room at a time: showing another
 * quiz leaves the room of the one before.
 */
export class TogetherPanel {
  constructor(root) {
    this.root = root;
    this.room = null;
    this.quizId = null;
    this._offs = [];
    const q = (selector) => root.querySelector(selector);
    this.parts = { count: q("#together-count"), status: q("#together-status"), members: q("#together-members"),
      comments: q("#together-comments"), typing: q("#together-typing"), form: q("#comment-form"),
      input: q("#comment-text"), send: q("#send-comment"), error: q("#comment-error") };
    this.parts.form.addEventListener("submit", (event) => { event.preventDefault(); this.send(); });
    this.parts.input.addEventListener("input", () => { if (this.parts.input.value.trim()) this.room?.typing(); });
  }

  /** Join `quiz:<quizId>` on `client` as educator `me` (info {name: me}) and show the panel; nothing
   * changes when that room is already on show. A quiz id that cannot be a room id shows no panel. */
  show(client, quizId, me = client?.educatorId ?? "") {
    if (quizId === this.quizId && this.room?.active) return;
    this.hide();
    const id = `quiz:${quizId}`;
    if (!client || !quizId || !ROOM_ID.test(id)) return;
    this.client = client;
    this.me = me;
    this.quizId = quizId;
    const { comments, error, input } = this.parts;
    comments.replaceChildren();
    error.hidden = true;
    input.value = "";
    this._enable(true);
    this.root.hidden = false;
    this.root.dataset.room = id;
    const room = client.join(id, { info: { name: me } });
    this.room = room;
    this._offs = [
      room.on("joined", () => this._draw()),
      room.on("presence", () => this._draw()),
      room.on("typing", () => this._drawTyping()),
      room.on("message", (env) => this._message(env)),
      room.on("error", (event) => this._error(event)),
    ];
    this._draw();
  }

  /** Leave the room and hide the panel. */
  hide() {
    this._offs.forEach((off) => off());
    this._offs = [];
    this.room?.leave();
    this.room = null;
    this.quizId = null;
    this.root.hidden = true;
    delete this.root.dataset.room;
  }

  /** Publish the comment box's text as a "comment" event, shown here at once (the hub sends no
   * member its own messages) and marked when the hub acknowledges it. */
  send() {
    const { input, error } = this.parts;
    const text = input.value.trim();
    const room = this.room;
    if (!text || !room) return;
    error.hidden = true;
    if (text.length > MAX_COMMENT) {
      error.textContent = `A comment is at most ${MAX_COMMENT} characters (this one has ${text.length}).`;
      error.hidden = false;
      return;
    }
    input.value = "";
    room.stopTyping();
    const item = this._comment(this._me(), text, Date.now() / 1000, true);
    item.dataset.pending = "";
    room.publish("comment", { text }).then(() => { delete item.dataset.pending; }, (err) => {
      delete item.dataset.pending;
      item.dataset.failed = "";
      item.title = err.message;
      if (room !== this.room) return;
      error.textContent = `Your comment was not sent: ${err.message}`;
      error.hidden = false;
    });
  }

  _me() { return this.client?.educatorId ?? this.me ?? ""; }

  _name(educatorId) {
    const member = this.room?.state.members.get(educatorId);
    const name = member?.info?.name;
    return typeof name === "string" && name ? name : educatorId;
  }

  _draw() {
    const room = this.room;
    if (!room) return;
    const { count, status, members } = this.parts;
    const me = this._me();
    const typing = new Set(room.typingMembers);
    members.replaceChildren(...room.members.map((m) => {
      const name = this._name(m.educatorId);
      return el("li", { class: "member", "data-educator-id": m.educatorId, "data-typing": typing.has(m.educatorId),
        title: m.educatorId === me ? `${name} (you)` : name },
      el("span", { class: "avatar", "aria-hidden": "true", text: name.slice(0, 1).toUpperCase() || "?" }),
      el("span", { class: "name", text: m.educatorId === me ? `${name} (you)` : name }));
    }));
    const others = room.members.filter((m) => m.educatorId !== me).length;
    count.textContent = room.joined ? `${room.memberCount} here` : "";
    status.textContent = !room.joined ? "Joining…"
      : others ? "Everyone here sees comments as they are sent." : "Only you are on this quiz now.";
    this._drawTyping();
  }

  _drawTyping() {
    const room = this.room;
    if (!room) return;
    const me = this._me();
    const who = room.typingMembers.filter((id) => id !== me).map((id) => this._name(id));
    this.parts.typing.textContent = who.length ? `${names(who)} ${who.length === 1 ? "is" : "are"} typing…` : "";
    for (const item of this.parts.members.children) {
      item.toggleAttribute("data-typing", room.typingMembers.includes(item.dataset.educatorId));
    }
  }

  _message(env) {
    const d = env.data ?? {};
    const who = this._name(d.from?.educatorId ?? "someone");
    if (d.event === "comment" && typeof d.data?.text === "string") this._comment(who, d.data.text, env.ts, false);
    else this._event(who, d.event, env.ts);
  }

  _comment(who, text, ts, mine) {
    const item = el("li", { class: "comment", "data-mine": mine },
      el("span", { class: "who", text: mine ? `${this._name(who)} (you)` : who }),
      el("span", { class: "text", text }),
      el("time", { class: "muted", text: clock(ts) }));
    this._append(item);
    return item;
  }

  _event(who, event, ts) { // another kind of room message, e.g. "question_regenerated"
    this._append(el("li", { class: "comment event" }, `${who}: ${String(event ?? "").replace(/_/g, " ")}`,
      el("time", { class: "muted", text: clock(ts) })));
  }

  _append(item) {
    const list = this.parts.comments;
    list.append(item);
    while (list.children.length > MAX_COMMENTS) list.firstElementChild.remove();
    list.scrollTop = list.scrollHeight;
  }

  _error(event) {
    if (event.ref === "join") { // refused (no room pattern in the token, or a hub without rooms)
      this.parts.status.textContent = `Working together is not available for this quiz: ${event.message}`;
      this.parts.members.replaceChildren();
      this.parts.count.textContent = "";
      this.parts.typing.textContent = "";
      this._enable(false);
      this.root.dataset.unavailable = event.code ?? "error";
    } else if (event.ref !== "typing") {
      this.parts.error.textContent = event.message;
      this.parts.error.hidden = false;
    }
  }

  _enable(on) {
    this.parts.input.disabled = !on;
    this.parts.send.disabled = !on;
    if (on) delete this.root.dataset.unavailable;
  }
}
