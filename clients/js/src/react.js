// React bindings of hub-client.js. The page's bundler (or import map) resolves "react".
//
//   const hub = useMemo(() => new HubClient({ token }), [token]);
//   useEffect(() => { hub.start(); return () => hub.close(); }, [hub]);
//   const state = useHubState(hub);
//   useHubMessages(hub, "quiz_status", (env) => setProgress(env.data.progress));
//   const { room, members, messages } = useRoom(hub, "quiz:q-42", { info: { name: "Ann" } });
//
// The seed web app's hook, on the page's one shared connection (service.js):
//   useWebSocket("quiz_status", (data, envelope) => setProgress(data.progress), [quizId]);
//   getWebSocketService().isConnected

import { useEffect, useRef, useState } from "react";

import { getWebSocketService } from "./service.js";

export { WebSocketService, configureWebSocketService, getWebSocketService } from "./service.js";

/**
 * Call `handler(data, envelope)` for every message of `type` (a message type such as
 * "quiz_status", or "*" for all) on the page's one WebSocketService (getWebSocketService()) while the
 * component is mounted, connecting it on first use; the connection is shared by every hook of the
 * page and stays open when they unmount (getWebSocketService().disconnect() closes it). The latest
 * `handler` is always the one called; the subscription is renewed when `type` or `deps` change.
 * A connection that cannot be made (no token from the token route, a refused token) is reported
 * to "error" subscribers, else on the console, in a sentence.
 */
export function useWebSocket(type, handler, deps = []) {
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => {
    const service = getWebSocketService();
    const off = service.subscribe(type, (data, envelope) => latest.current?.(data, envelope));
    service.connect().catch(() => {}); // reported by the service (see above)
    return off;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [type, ...deps]);
}

/**
 * Call `handler(payload)` for every `type` event of `client` (a message type, "*", "welcome",
 * "snapshot", "state" or "error") while the component is mounted. The latest `handler` is always
 * the one called; the subscription is renewed when `client`, `type` or `deps` change.
 */
export function useHubMessages(client, type, handler, deps = []) {
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => {
    if (!client) return undefined;
    return client.on(type, (payload) => latest.current?.(payload));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, type, ...deps]);
}

/** The client's connection state, re-rendering when it changes. */
export function useHubState(client) {
  const [state, setState] = useState(() => client?.state ?? "idle");
  useEffect(() => {
    if (!client) return undefined;
    setState(client.state);
    return client.on("state", (event) => setState(event.state));
  }, [client]);
  return state;
}

/** The client's job states as an array (newest first), re-rendering on every job change. */
export function useHubJobs(client) {
  const snapshot = () => (client ? [...client.jobs.values()].sort(
    (a, b) => (b.createdAt ?? 0) - (a.createdAt ?? 0)) : []);
  const [jobs, setJobs] = useState(snapshot);
  useEffect(() => {
    if (!client) return undefined;
    const refresh = () => setJobs(snapshot());
    refresh();
    const offSnapshot = client.on("snapshot", refresh);
    const offJobs = client.on("*", (env) => { if (env.data?.jobId) refresh(); });
    return () => { offSnapshot(); offJobs(); };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client]);
  return jobs;
}

// -- rooms, presence and typing (PROTOCOL.md section 7) --------------------------------------------
//
//   const { room, members, messages } = useRoom(hub, `quiz:${quizId}`, { info: { name } });
//   const { typing, notify, stop } = useTyping(room);
//   <textarea onInput={notify} />  {typing.length > 0 && `${typing.join(", ")} typing…`}

const NONE = Object.freeze([]);
const holders = new WeakMap(); // client -> Map(room id -> mounted useRoom hooks holding it)

/**
 * Join `roomId` on `client` while the component is mounted (and while `roomId`, `presence` and
 * `info` stay the same), leaving it when the last component using it unmounts. Returns
 * `{room, members, messages, error}`: the Room (null until joined, and with no client or room id),
 * its members (re-rendering on each change), the `room_message` envelopes received since the join
 * (the newest `keep`, default 100, oldest first), and the last error of the room (a refused join:
 * `error.code` "forbidden"), or null. `roomId` must be 1-128 characters of A-Za-z0-9_.:@-.
 */
export function useRoom(client, roomId, { presence = true, info, keep = 100 } = {}) {
  const [room, setRoom] = useState(null);
  const [messages, setMessages] = useState(NONE);
  const [error, setError] = useState(null);
  const infoKey = JSON.stringify(info ?? null);
  useEffect(() => {
    if (!client || !roomId) { setRoom(null); return undefined; }
    const joined = client.join(roomId, { presence, info });
    if (!holders.has(client)) holders.set(client, new Map());
    const held = holders.get(client);
    held.set(roomId, (held.get(roomId) ?? 0) + 1);
    setRoom(joined);
    setMessages(NONE);
    setError(null);
    const offs = [
      joined.on("message", (env) => setMessages((list) => [...list, env].slice(-Math.max(1, keep)))),
      joined.on("error", (event) => setError(event)),
    ];
    return () => {
      offs.forEach((off) => off());
      const left = (held.get(roomId) ?? 1) - 1;
      if (left > 0) held.set(roomId, left);
      else { held.delete(roomId); joined.leave(); }
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [client, roomId, presence, infoKey, keep]);
  const members = usePresence(room);
  return { room, members, messages, error };
}

/** The members of `room` (a Room, or null): an array of {educatorId, connections, info?},
 * re-rendering when someone joins or leaves and when the room is (re)joined. */
export function usePresence(room) {
  const [members, setMembers] = useState(() => room?.members ?? NONE);
  useEffect(() => {
    if (!room) { setMembers(NONE); return undefined; }
    const refresh = () => setMembers(room.members);
    refresh();
    const offs = [room.on("presence", refresh), room.on("joined", refresh), room.on("left", () => setMembers(NONE))];
    return () => offs.forEach((off) => off());
  }, [room]);
  return room ? members : NONE;
}

/**
 * Typing in `room` (a Room, or null): `{typing, notify, stop}`. `typing` is the educatorIds of the
 * others typing now (re-rendering on each change; this educator's own other tabs left out);
 * `notify()` is for every keystroke (it calls `room.typing()`, which sends at most every 3 s and
 * stops 4 s after the last call); `stop()` ends it at once (after sending a comment). Both are the
 * same functions on every render. Unmounting stops typing.
 */
export function useTyping(room) {
  const [typing, setTyping] = useState(NONE);
  const current = useRef(room);
  current.current = room;
  const actions = useRef(null);
  actions.current ??= { notify: () => { current.current?.typing(); }, stop: () => { current.current?.stopTyping(); } };
  useEffect(() => {
    if (!room) { setTyping(NONE); return undefined; }
    const refresh = () => {
      const me = room.client?.educatorId;
      setTyping(room.typingMembers.filter((id) => id !== me));
    };
    refresh();
    const offs = [room.on("typing", refresh), room.on("joined", refresh), room.on("left", refresh)];
    return () => { offs.forEach((off) => off()); room.stopTyping(); };
  }, [room]);
  return { typing: room ? typing : NONE, notify: actions.current.notify, stop: actions.current.stop };
}
