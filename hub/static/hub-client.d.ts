// Type declarations of hub-client.js (hub protocol v1, PROTOCOL.md).

export declare const SUBPROTOCOL: "hub.v1";
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

export interface QuizStatusData {
  jobId: string;
  quizId: string;
  status: JobStatus;
  /** 0-100 */
  progress: number;
  message: string;
  etaSeconds?: number;
  error?: string;
  /** present for custom job kinds, which report quiz_status-shaped messages */
  kind?: string;
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
}

export interface BatchFrame { op: "batch"; messages: AnyEnvelope[]; skipped?: number }
export interface PongFrame { op: "pong"; id: unknown }
/** The answer to an accepted `refresh`: the connection now lasts to `exp` (Unix seconds). */
export interface RefreshedFrame { op: "refreshed"; exp: number }

export interface HubErrorEvent {
  /** a close code (number) when fatal; the server's error code (string) otherwise, or "no_websocket" */
  code: number | string;
  message: string;
  ref?: string;
  /** true: the client has closed for good (4400, 4401, 4403, or a refused poll) */
  fatal: boolean;
}

export type ClientOp =
  | { op: "subscribe"; types: MessageType[] }
  | { op: "unsubscribe"; types: MessageType[] }
  | { op: "ping"; id: unknown }
  | { op: "cancel"; jobId: string }
  | { op: "refresh"; token: string };

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

export declare class HubHttpError extends Error {
  constructor(status: number, detail: unknown);
  readonly status: number;
  /** what the hub answered in `detail` (a string, or FastAPI's validation list) */
  readonly detail: unknown;
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
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
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

export interface SubmitReply { jobId: string; status: "queued" }

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
  /** welcomes received over the WebSocket */
  connects: number;
  /** failed WebSocket attempts in a row */
  failures: number;
  readonly state: ConnectionState;
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
  /** Send now when connected, else queue (cancel goes over HTTP while polling). True when sent. */
  send(op: ClientOp): boolean;
  cancel(jobId: string): boolean;
  subscribe(types: MessageType[]): boolean;
  unsubscribe(types: MessageType[]): boolean;

  /** An HTTP API call with the bearer token; throws HubHttpError on a non-2xx answer. */
  request<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  submitJob(kind: JobKind, params?: Record<string, unknown>): Promise<SubmitReply>;
  listJobs(): Promise<JobState[]>;
  getJob(jobId: string): Promise<JobState>;
  getResult<T = QuizResult>(jobId: string): Promise<T>;
  cancelJob(jobId: string): Promise<{ jobId: string; status: string }>;
}

export default HubClient;
