// Type declarations of hub-client.js (hub protocol v1, PROTOCOL.md; rooms from hub-rooms.js, section 7;
// MessagePack, section 8).

export declare const SUBPROTOCOL: "hub.v1";
/** The subprotocol of MessagePack connections (PROTOCOL.md section 8). */
export declare const MSGPACK_SUBPROTOCOL: "hub.v1.msgpack";
/** How frames go on the WebSocket: JSON text, or binary MessagePack frames holding the same objects. */
export type WireProtocol = "json" | "msgpack";
/** The values of the `protocol` option: ["json", "msgpack"]. */
export declare const PROTOCOLS: readonly WireProtocol[];
export declare const MESSAGE_TYPES: readonly MessageType[];
export declare const JOB_TYPES: readonly ["quiz_status", "question_replace", "document_processing"];
export declare const TERMINAL: readonly ["completed", "failed", "cancelled"];
export declare const STATES: readonly ConnectionState[];
export interface CloseCodeInfo {
  readonly name: string;
  /** The client reconnects and resumes from its last seq. */
  readonly reconnect: boolean;
  /** The contract says "reconnect and resume": nothing the client did. */
  readonly resume: boolean;
  readonly meaning: string;
}
export declare const CLOSE_CODES: Readonly<
  Record<1000 | 1001 | 1009 | 1011 | 1012 | 4400 | 4401 | 4403 | 4408 | 4409 | 4429, CloseCodeInfo>
>;
/** Each close code by its name, e.g. `CLOSE.UNAUTHORIZED === 4401`. */
export declare const CLOSE: Readonly<{
  NORMAL: 1000;
  GOING_AWAY: 1001;
  TOO_LARGE: 1009;
  INTERNAL_ERROR: 1011;
  SERVICE_RESTART: 1012;
  BAD_HELLO: 4400;
  UNAUTHORIZED: 4401;
  ORIGIN_REFUSED: 4403;
  HELLO_TIMEOUT: 4408;
  SLOW_CONSUMER: 4409;
  TOO_MANY: 4429;
}>;
export declare const FATAL_CLOSE: Readonly<Record<4400 | 4401 | 4403, string>>;

// -- messages (PROTOCOL.md section 3) ------------------------------------------------------------

export type JobStatus = "queued" | "processing" | "completed" | "failed" | "cancelled";
export type DocumentStage = "uploaded" | "parsing" | "chunking" | "indexing" | "done";
export type NotificationLevel = "info" | "success" | "warning" | "error";
export type MessageType =
  | "quiz_status" | "question_replace" | "document_processing" | "analytics_update" | "notification";

/** Why a queued or processing job waits (PROTOCOL.md section 9): its monitor or tasks cannot be
 * placed on the cluster for lack of resources. Absent once they run. */
export interface Waiting {
  /** a sentence, e.g. "waiting for 1 GPU: none free on the cluster's 3 nodes" */
  reason: string;
  /** seconds since the epoch, when the wait began */
  since: number;
}

export interface QuizStatusData {
  jobId: string;
  quizId: string;
  status: JobStatus;
  /** 0-100 */
  progress: number;
  message: string;
  etaSeconds?: number;
  error?: string;
  /** while its monitor or tasks cannot be placed (PROTOCOL.md section 9) */
  waiting?: Waiting;
  /** present for custom job kinds, which report quiz_status-shaped messages */
  kind?: string;
  /** a finished piece of the result, one message per piece as soon as it is done (PROTOCOL.md section 9):
   * a quiz's question, or a custom kind's `ctx.item` value */
  item?: JobItem;
  /** how many items (questions) are done, for a job of a kind that reports them */
  itemsDone?: number;
}

/** A partial result (PROTOCOL.md section 9): item `index` (from 0) of `total`; `question` on a quiz's
 * (`quiz_generation`) messages, `value` on a custom kind's. Clients key items by `index`. */
export interface JobItem {
  index: number;
  total?: number;
  /** the question as the result's `questions[index]` will hold it (quiz_generation) */
  question?: Question;
  /** a custom kind's item value */
  value?: unknown;
}

export interface Question {
  id: string;
  type: "multiple_choice" | "cloze" | string;
  prompt: string;
  answer: string;
  options?: string[];
  explanation?: string;
  sourceSentence?: string;
  sentenceIndex?: number;
  [key: string]: unknown;
}

export interface QuestionReplaceData {
  jobId: string;
  quizId: string;
  questionId: string;
  status: JobStatus;
  progress: number;
  message: string;
  /** the new question, on completed */
  question?: Question;
  etaSeconds?: number;
  error?: string;
  /** while its monitor or tasks cannot be placed (PROTOCOL.md section 9) */
  waiting?: Waiting;
}

export interface DocumentProcessingData {
  jobId: string;
  documentId: string;
  status: JobStatus;
  progress: number;
  stage: DocumentStage;
  message: string;
  etaSeconds?: number;
  error?: string;
  /** while its monitor or tasks cannot be placed (PROTOCOL.md section 9) */
  waiting?: Waiting;
}

export interface AnalyticsUpdateData {
  educatorId: string;
  /** the changed fields, merged into what the client has */
  updates: Record<string, unknown>;
}

export interface NotificationData {
  id: string;
  level: NotificationLevel;
  title: string;
  body: string;
  broadcast: boolean;
}

export interface MessageDataMap {
  quiz_status: QuizStatusData;
  question_replace: QuestionReplaceData;
  document_processing: DocumentProcessingData;
  analytics_update: AnalyticsUpdateData;
  notification: NotificationData;
}

export interface Envelope<T extends MessageType = MessageType> {
  seq: number;
  type: T;
  /** seconds since the epoch */
  ts: number;
  data: MessageDataMap[T];
}

export type AnyEnvelope = { [T in MessageType]: Envelope<T> }[MessageType];

// -- job state (PROTOCOL.md section 4) -----------------------------------------------------------

export type JobKind = "quiz_generation" | "question_replace" | "document_processing" | (string & {});

export interface JobState {
  jobId: string;
  kind: JobKind;
  educatorId?: string;
  quizId?: string;
  questionId?: string;
  documentId?: string;
  status: JobStatus;
  progress: number;
  message: string;
  /** seconds since the epoch */
  createdAt?: number;
  updatedAt?: number;
  error?: string;
  etaSeconds?: number;
  stage?: DocumentStage;
  question?: Question;
  /** while its monitor or tasks cannot be placed (PROTOCOL.md section 9) */
  waiting?: Waiting;
  /** finished items (a quiz's questions) so far, for a job of a kind that reports them (PROTOCOL.md section 9) */
  itemsDone?: number;
  [key: string]: unknown;
}

// -- frames (PROTOCOL.md section 2) --------------------------------------------------------------

export interface ResumePoint { epoch: string; seq: number }

export interface WelcomeFrame {
  op: "welcome";
  session: string;
  educatorId?: string;
  epoch: string;
  seq: number;
  /** seconds */
  heartbeat?: number;
  resumed: boolean;
  snapshot?: JobState[];
  /** true when this came from a long-poll answer, not the WebSocket */
  polling?: boolean;
  /** one entry per hello.rooms entry, in order (present when the hello carried rooms) */
  rooms?: (JoinedFrame | RoomErrorFrame)[];
}

/** A batch may mix the educator's stream (no `room`) and rooms' streams (with `room`). */
export interface BatchFrame { op: "batch"; messages: (AnyEnvelope | RoomEnvelope)[]; skipped?: number }
export interface PongFrame { op: "pong"; id: unknown }
/** The answer to an accepted `refresh`: the connection now lasts to `exp` (Unix seconds). */
export interface RefreshedFrame { op: "refreshed"; exp: number }

export interface HubErrorEvent {
  /** a close code (number) when fatal; the server's error code (string) otherwise, or "no_websocket",
   * or "msgpack_unavailable" (protocol "msgpack" but ./hub-msgpack.js did not load: JSON is used) */
  code: number | string;
  message: string;
  ref?: string;
  /** the room, for an error of a room op whose room has no "error" handler */
  room?: string;
  /** true: the client has closed for good (4400, 4401, 4403, or a refused poll) */
  fatal: boolean;
}

// -- rooms, presence and typing (PROTOCOL.md section 7) -------------------------------------------

/** A room id: 1-128 characters of A-Za-z0-9_.:@- (e.g. "quiz:q-42", "course:bio-101:week-3"). */
export type RoomId = string;
/** /^[A-Za-z0-9_.:@-]{1,128}$/ */
export declare const ROOM_ID: RegExp;
/** ms: `typing: true` goes out at most this often while `typing()` keeps being called (3000). */
export declare const TYPING_REPEAT_MS: number;
/** ms after the last `typing()` call at which `typing: false` goes out (4000). */
export declare const TYPING_IDLE_MS: number;
/** ms without a repeat after which a member's typing mark is dropped (6000, the hub's expiry). */
export declare const TYPING_EXPIRY_MS: number;

/** One member of a room: an educator with at least one present connection in it. */
export interface RoomMember {
  educatorId: string;
  /** the educator's connections in the room (across every ingress) */
  connections: number;
  /** what the member joined with (at most 1 KiB as JSON), e.g. {name, avatar} */
  info?: Record<string, unknown>;
}

/** The answer to `join` (also an entry of `welcome.rooms` and of a poll answer's `rooms`). */
export interface JoinedFrame {
  op: "joined";
  room: RoomId;
  epoch: string;
  /** the last seq of the room's stream */
  seq: number;
  /** true: the missed messages after the join's `resume` follow in batches */
  resumed: boolean;
  /** at most 1,000 entries */
  members: RoomMember[];
  /** exact */
  memberCount: number;
}

export interface LeftFrame {
  op: "left";
  room: RoomId;
  /** true when made by the client at `leave()` (the hub's own `left` is not passed on then) */
  local?: boolean;
}

/** The answer to a `publish`. */
export interface AckFrame {
  op: "ack";
  /** the publish's id (the client's own when none was given) */
  id: unknown;
  room: RoomId;
  /** absent for an ephemeral publish */
  seq?: number;
}

export type RoomErrorCode = "forbidden" | "not_joined" | "rate_limited" | "too_large" | "bad_frame";

/** An error frame of a room op (the connection stays open), or a refused entry of `welcome.rooms`. */
export interface RoomErrorFrame {
  op: "error";
  code: RoomErrorCode | (string & {});
  /** a sentence */
  message: string;
  ref: "join" | "leave" | "publish" | "typing";
  room?: RoomId;
}

/** `data` of a `room_message` envelope. */
export interface RoomMessageData<T = Record<string, unknown>> {
  event: string;
  data: T;
  /** session "http" for an HTTP publish */
  from: { educatorId: string; session: string };
}

/** `data` of a `presence` envelope. */
export interface PresenceData {
  action: "join" | "leave";
  member: { educatorId: string; info?: Record<string, unknown> };
  /** the exact member count after this change */
  memberCount: number;
}

/** `data` of a `typing` envelope. */
export interface TypingData {
  educatorId: string;
  typing: boolean;
}

export interface RoomDataMap {
  room_message: RoomMessageData;
  presence: PresenceData;
  typing: TypingData;
}

/** An envelope of a room's stream: it carries `room`. Ephemeral ones (typing, ephemeral publishes)
 * carry no `seq`, are never deduped and are not replayed on resume. */
export interface RoomEnvelope<T extends keyof RoomDataMap = keyof RoomDataMap> {
  seq?: number;
  type: T;
  /** seconds since the epoch */
  ts: number;
  room: RoomId;
  data: RoomDataMap[T];
  /** true for a typing mark made by the client (expired after 6 s, or its member left) */
  local?: boolean;
}

/** `client.join(room, options)` */
export interface JoinOptions {
  /** false: watch without being listed as a member; default true */
  presence?: boolean;
  /** shown to the other members (at most 1 KiB as JSON) */
  info?: Record<string, unknown>;
}

/** `room.publish(event, data, options)` */
export interface PublishOptions {
  /** not kept in history, not replayed, acked without seq; default false */
  ephemeral?: boolean;
  /** any JSON value, echoed in the ack; default one the client makes */
  id?: unknown;
}

/** The error a room op rejects with (or a `join` throws for a bad room id). `code` is the hub's, or
 * the client's own: `connection_lost` (sent, the connection closed before the ack: it may or may
 * not have been delivered), `left`, `queue_full`, `closed`, `unsupported` (a hub without rooms),
 * `http_error`. */
export declare class HubRoomError extends Error {
  constructor(code: string, message: string, extra?: { ref?: string | null; room?: string | null; frame?: unknown });
  readonly code: RoomErrorCode | "connection_lost" | "left" | "queue_full" | "closed" | "unsupported" | "http_error" | (string & {});
  readonly ref: string | null;
  readonly room: RoomId | null;
  /** the error frame, when the hub sent one */
  readonly frame: RoomErrorFrame | null;
}

/** A room error event (a room's "error" handlers; the client's when the room has none). */
export interface RoomErrorEvent extends RoomErrorFrame {
  room: RoomId;
  fatal: false;
}

export interface RoomEvents {
  message: RoomEnvelope<"room_message">;
  presence: RoomEnvelope<"presence">;
  typing: RoomEnvelope<"typing">;
  joined: JoinedFrame;
  left: LeftFrame;
  error: RoomErrorEvent;
}

/** The pure state of one room's stream: epoch, last seq (dedupe) and the exact member list. */
export declare class RoomState {
  constructor(room: RoomId);
  readonly room: RoomId;
  epoch: string | null;
  seq: number;
  readonly members: Map<string, RoomMember>;
  memberCount: number;
  resume(): ResumePoint | null;
  /** true when the stream was fresh (resumed: false): members replaced, seq from the frame */
  applyJoined(frame: Pick<JoinedFrame, "epoch" | "seq" | "resumed" | "members" | "memberCount">): boolean;
  /** false for a seq already seen; ephemeral envelopes (no seq) are always taken */
  accept(envelope: RoomEnvelope): boolean;
}

/** A joined room: `client.join(room)` returns the same object while it is joined. */
export declare class Room {
  readonly id: RoomId;
  presence: boolean;
  info: Record<string, unknown> | undefined;
  readonly state: RoomState;
  /** the client it belongs to (`client.educatorId` is this educator) */
  readonly client: HubClient;
  /** the hub confirmed the join on the current connection (or poll) */
  readonly joined: boolean;
  /** false once left or refused: join again for a new Room */
  readonly active: boolean;
  /** the members now; a new array after each change, the same one until then */
  readonly members: readonly RoomMember[];
  /** exact (members lists at most 1,000) */
  readonly memberCount: number;
  readonly epoch: string | null;
  readonly seq: number;
  /** educatorIds typing now (this educator's other connections included) */
  readonly typingMembers: string[];
  on<K extends keyof RoomEvents>(event: K, handler: (payload: RoomEvents[K]) => void): Unsubscribe;
  /** Resolves with the ack; rejects with a HubRoomError. Queued while offline, over HTTP while polling. */
  publish<T extends Record<string, unknown> = Record<string, unknown>>(
    event: string, data?: T, options?: PublishOptions): Promise<AckFrame>;
  /** Call on each keystroke: `typing: true` now and every 3 s at most while called, `typing: false`
   * 4 s after the last call. `typing(false)` stops at once. false when the room is no longer joined. */
  typing(on?: boolean): boolean;
  stopTyping(): boolean;
  leave(): void;
  /** this room's entry in hello.rooms / POST /api/events rooms */
  request(): RoomRequest;
}

/** An entry of hello.rooms and of POST /api/events `rooms`. */
export interface RoomRequest {
  room: RoomId;
  resume?: ResumePoint;
  presence?: boolean;
  info?: Record<string, unknown>;
}

export type ClientOp =
  | { op: "subscribe"; types: MessageType[] }
  | { op: "unsubscribe"; types: MessageType[] }
  | { op: "ping"; id: unknown }
  | { op: "cancel"; jobId: string }
  | { op: "refresh"; token: string }
  | ({ op: "join" } & RoomRequest)
  | { op: "leave"; room: RoomId }
  | { op: "publish"; room: RoomId; event: string; data: Record<string, unknown>; ephemeral?: boolean; id?: unknown }
  | { op: "typing"; room: RoomId; typing: boolean };

export type ConnectionState = "idle" | "connecting" | "connected" | "reconnecting" | "polling" | "closed";

export interface StateEvent { state: ConnectionState; previous: ConnectionState }

export type Unsubscribe = () => void;

// -- helpers ------------------------------------------------------------------------------------

/** Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)). */
export declare function backoffDelay(attempt: number, base?: number, cap?: number, random?: () => number): number;
/** The wait before the attempt-th try (0 first) to leave polling for the WebSocket: min(cap, first * 2**attempt),
 * jittered in [half, whole). */
export declare function upgradeDelay(attempt: number, first?: number, cap?: number, random?: () => number): number;
/** The sentence of the "no_websocket" error event. */
export declare const NO_WEBSOCKET: string;
/** The fraction of a token's lifetime (iat to exp) at which a connection refreshes it: 0.85. */
export declare const REFRESH_AT: number;
/** A JWT's `iat` and `exp` (Unix seconds; null when absent or unreadable), read without verifying it. */
export declare function tokenTimes(token: string | null | undefined): { iat: number | null; exp: number | null };
/** ms from `now` (ms) until a connection holding `token` should refresh it; 0 once past; null without exp. */
export declare function refreshDelay(token: string | null | undefined, now?: number, at?: number): number | null;
/** ws(s)://host/ws from an http(s) or ws(s) base URL. */
export declare function wsUrl(base: string): string;
/** http(s)://host from an http(s) or ws(s) URL. */
export declare function httpUrl(base: string): string;

/** The page's NEXT_PUBLIC_* settings (from globalThis, or `process.env.NEXT_PUBLIC_*` as bundlers
 * such as Next.js inline them): the hub's base URL (NEXT_PUBLIC_WS_URL, else location.origin),
 * `enabled` false when NEXT_PUBLIC_ENABLE_WEBSOCKET is "false", and NEXT_PUBLIC_HUB_TOKEN_URL. */
export declare function readEnv(): { url: string | undefined; enabled: boolean; tokenUrl: string | undefined };

// -- the seed web app's API (service.d.ts): one shared connection per page ---------------------
export { WebSocketService, configureWebSocketService, getWebSocketService } from "./service.js";
export type { WebSocketServiceLike, WebSocketServiceOptions } from "./service.js";

export declare class HubHttpError extends Error {
  constructor(status: number, detail: unknown);
  readonly status: number;
  /** what the hub answered in `detail` (a string, or FastAPI's validation list) */
  readonly detail: unknown;
  /** the answer's Retry-After header (a 429's seconds), null without one */
  retryAfter?: string | null;
}

/** The pure stream bookkeeping: epoch/seq, dedupe, merged job states and analytics. */
export declare class StreamState {
  epoch: string | null;
  seq: number;
  readonly jobs: Map<string, JobState>;
  analytics: Record<string, unknown>;
  resume(): ResumePoint | null;
  /** true when the frame replaced the job states (resumed: false) */
  applyWelcome(frame: Pick<WelcomeFrame, "epoch" | "seq" | "resumed" | "snapshot">): boolean;
  /** false for a seq already seen */
  accept(envelope: AnyEnvelope): boolean;
  /** the new envelopes, ascending seq */
  applyBatch(messages: AnyEnvelope[]): AnyEnvelope[];
  advanceTo(seq: number): void;
}

// -- the client ---------------------------------------------------------------------------------

export interface WebSocketLike {
  /** JSON text, or a binary MessagePack frame on a hub.v1.msgpack connection */
  send(data: string | Uint8Array): void;
  /** the subprotocol the hub selected, once open */
  readonly protocol?: string;
  /** set to "arraybuffer" for MessagePack */
  binaryType?: string;
  close(code?: number, reason?: string): void;
  // The client sets these (it reads `data` of a message event, `code` and `reason` of a close event).
  // Their events are `any` so that the browser's WebSocket (Event, MessageEvent, CloseEvent) and the
  // "ws" package's fit: a handler property's parameter is checked both ways under strictFunctionTypes.
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
}

export interface HubClientOptions {
  /** the hub's base URL, http(s) or ws(s); default NEXT_PUBLIC_WS_URL, else location.origin */
  url?: string;
  /** a token, or a (possibly async) function that returns a fresh one, asked before every
   * (re)connect, poll and HTTP call, and for each `refresh`. With a function, a 4401 close for an
   * expired token reconnects with a new one and resumes; with a string it is fatal. */
  token?: string | (() => string | Promise<string>);
  /** with a token function: send `refresh` with a new token at 85% of the current one's lifetime,
   * so the connection outlives it; default true */
  refresh?: boolean;
  /** false: long-poll only; default NEXT_PUBLIC_ENABLE_WEBSOCKET !== "false" */
  enabled?: boolean;
  /** "msgpack": offer hub.v1.msgpack before hub.v1 and, when the hub selects it, send and receive binary
   * MessagePack frames (PROTOCOL.md section 8; the codec, ./hub-msgpack.js, is loaded on first use);
   * a hub that selects hub.v1 gets JSON. Long-polls are JSON either way. Default "json". Anything else
   * throws. */
  protocol?: WireProtocol;
  /** message types to receive (all when absent) */
  types?: MessageType[];
  /** ms; default 1000 */
  baseDelay?: number;
  /** ms; default 30000 */
  maxDelay?: number;
  /** failed WebSocket attempts in a row before long-polling; default 5 (Infinity: never poll) */
  maxAttempts?: number;
  /** ms between pings; default the welcome's heartbeat */
  heartbeat?: number;
  /** most ops kept while disconnected; default 100 (oldest dropped) */
  offlineQueue?: number;
  /** ms before the first attempt to go from polling back to the WebSocket; doubles (jittered) after
   * each failed one, up to `upgradeRetry`; default 1000 */
  upgradeDelay?: number;
  /** the longest ms between attempts to go from polling back to the WebSocket; default 30000 */
  upgradeRetry?: number;
  /** ms from opening a socket to its welcome before giving up on it; default 15000 */
  connectTimeout?: number;
  /** seconds a poll waits on the server; default 25 */
  pollTimeout?: number;
  /** ms: an empty poll answer faster than this waits out the rest; default 500 */
  pollMinInterval?: number;
  /** the jitter source; default Math.random */
  random?: () => number;
  /** the WebSocket implementation; default globalThis.WebSocket. Node 20 has none: pass the "ws"
   * package's (`import { WebSocket } from "ws"`). With none, the client emits an "error" event with
   * code "no_websocket" and a sentence saying so, then long-polls. */
  WebSocket?: new (url: string, protocols?: string | string[]) => WebSocketLike;
  fetch?: typeof fetch;
}

/** 202 `{jobId, status: "queued"}` for a new job; 200 with the job's status now for a repeat of an
 * Idempotency-Key (PROTOCOL.md section 9). */
export interface SubmitReply { jobId: string; status: JobStatus }

export interface SubmitOptions {
  /** 1-128 printable ASCII characters; default: a fresh uuid4 for this call. The same key and body
   * within 24 hours gets the first job back; another body with it is a 409. */
  idempotencyKey?: string;
  /** times a lost answer, a 503 or a 429 is sent again with the same key (default 2) */
  retries?: number;
  /** ms before such a retry when no Retry-After says (default 1000) */
  retryDelay?: number;
}

/** A fresh Idempotency-Key (a uuid4). */
export declare function newIdempotencyKey(): string;

export interface QuizResult {
  quizId: string;
  documentId?: string | null;
  numQuestions: number;
  questions: Question[];
}

export declare class HubClient {
  constructor(options?: HubClientOptions);
  url: string;
  token: HubClientOptions["token"];
  refresh: boolean;
  /** tokens the hub accepted through `refresh` */
  refreshes: number;
  enabled: boolean;
  types: MessageType[] | null;
  readonly stream: StreamState;
  session: string | null;
  /** the welcome's educatorId (while polling: the token's `sub`) */
  educatorId: string | null;
  /** room id -> Room, for each room joined or being joined */
  readonly rooms: ReadonlyMap<RoomId, Room>;
  /** welcomes received over the WebSocket */
  connects: number;
  /** failed WebSocket attempts in a row */
  failures: number;
  readonly state: ConnectionState;
  /** the `protocol` option: what is offered */
  readonly preferredProtocol: WireProtocol;
  /** what the open socket speaks (the hub's choice); null with no open socket (also while polling) */
  readonly protocol: WireProtocol | null;
  /** jobId -> the latest merged job state (snapshot + messages) */
  readonly jobs: ReadonlyMap<string, JobState>;
  /** analytics_update `updates`, merged */
  readonly analytics: Readonly<Record<string, unknown>>;
  readonly epoch: string | null;
  readonly seq: number;
  /** ops waiting for a connection */
  readonly queued: number;
  readonly httpBase: string;

  on(type: "quiz_status", handler: (envelope: Envelope<"quiz_status">) => void): Unsubscribe;
  on(type: "question_replace", handler: (envelope: Envelope<"question_replace">) => void): Unsubscribe;
  on(type: "document_processing", handler: (envelope: Envelope<"document_processing">) => void): Unsubscribe;
  on(type: "analytics_update", handler: (envelope: Envelope<"analytics_update">) => void): Unsubscribe;
  on(type: "notification", handler: (envelope: Envelope<"notification">) => void): Unsubscribe;
  on<T extends MessageType>(type: T, handler: (envelope: Envelope<T>) => void): Unsubscribe;
  on(type: "*", handler: (envelope: AnyEnvelope) => void): Unsubscribe;
  on(type: "welcome", handler: (frame: WelcomeFrame) => void): Unsubscribe;
  on(type: "snapshot", handler: (frame: WelcomeFrame & { snapshot: JobState[] }) => void): Unsubscribe;
  on(type: "state", handler: (event: StateEvent) => void): Unsubscribe;
  on(type: "error", handler: (event: HubErrorEvent) => void): Unsubscribe;
  on(type: "pong", handler: (frame: PongFrame) => void): Unsubscribe;
  on(type: "refreshed", handler: (frame: RefreshedFrame) => void): Unsubscribe;

  /** Connect and keep reconnecting; resolves with the first welcome (or poll answer). Idempotent. */
  start(): Promise<WelcomeFrame>;
  /** Close for good (state "closed"). */
  close(): void;
  /** Join a room (throws HubRoomError "bad_frame" for a bad id); the same Room for the same id while
   * joined. Rejoined and resumed on every reconnect (hello.rooms), carried by polls (POST /api/events). */
  join(room: RoomId, options?: JoinOptions): Room;
  /** Send now when connected, else queue (cancel goes over HTTP while polling). True when sent. */
  send(op: ClientOp): boolean;
  cancel(jobId: string): boolean;
  subscribe(types: MessageType[]): boolean;
  unsubscribe(types: MessageType[]): boolean;

  /** An HTTP API call with the bearer token; throws HubHttpError on a non-2xx answer. */
  request<T = unknown>(method: string, path: string, body?: unknown, extraHeaders?: Record<string, string>): Promise<T>;
  /** POST /api/jobs with an Idempotency-Key (fresh per call unless given), reused on its own retries. */
  submitJob(kind: JobKind, params?: Record<string, unknown>, options?: SubmitOptions): Promise<SubmitReply>;
  listJobs(): Promise<JobState[]>;
  getJob(jobId: string): Promise<JobState>;
  getResult<T = QuizResult>(jobId: string): Promise<T>;
  cancelJob(jobId: string): Promise<{ jobId: string; status: string }>;
}

export default HubClient;
