// A small TypeScript consumer of the packed npm package: scripts/check-pack.mjs installs the `npm pack`
// tarball into a scratch project and runs `tsc --noEmit --strict` on this file (module resolution
// NodeNext and Bundler, as Node and Next.js resolve `exports`). It imports every public export of each
// entry point and uses it, so that a declaration that is missing, wrong or not reachable through
// `exports` fails the check; test/package.test.mjs holds it to the .d.ts files (a new export of an
// entry must be used here). One section per entry point: add a section when an entry is added.
// `@ts-expect-error` lines check that the types refuse what the client refuses.

// -- "hub-client" ------------------------------------------------------------------------------

import HubClientDefault, {
  CLOSE, CLOSE_CODES, FATAL_CLOSE, HubClient, HubHttpError, HubRoomError, JOB_TYPES, MESSAGE_TYPES,
  MSGPACK_SUBPROTOCOL, NO_WEBSOCKET, PROTOCOLS, REFRESH_AT, ROOM_ID, Room, RoomState, STATES, SUBPROTOCOL,
  StreamState, TERMINAL, TYPING_EXPIRY_MS, TYPING_IDLE_MS, TYPING_REPEAT_MS, backoffDelay, httpUrl,
  newIdempotencyKey, refreshDelay, tokenTimes, upgradeDelay, wsUrl,
} from "hub-client";
import type {
  AckFrame, AnalyticsUpdateData, AnyEnvelope, BatchFrame, ClientOp, CloseCodeInfo, ConnectionState,
  DocumentProcessingData, DocumentStage, Envelope, HubClientOptions, HubErrorEvent, JobItem, JobKind, JobState,
  JobStatus, JoinOptions, JoinedFrame, LeftFrame, MessageDataMap, MessageType, NotificationData,
  NotificationLevel, PongFrame, PresenceData, PublishOptions, Question, QuestionReplaceData, QuizResult,
  QuizStatusData, RefreshedFrame, ResumePoint, RoomDataMap, RoomEnvelope, RoomErrorCode, RoomErrorEvent,
  RoomErrorFrame, RoomEvents, RoomId, RoomMember, RoomMessageData, RoomRequest, StateEvent, SubmitOptions, SubmitReply,
  TypingData, Unsubscribe, Waiting, WebSocketLike, WelcomeFrame, WireProtocol,
} from "hub-client";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;
export type ClientChecks = [
  Expect<Equal<typeof SUBPROTOCOL, "hub.v1">>,
  Expect<Equal<typeof MSGPACK_SUBPROTOCOL, "hub.v1.msgpack">>,
  Expect<Equal<WireProtocol, "json" | "msgpack">>,
  Expect<Equal<HubClient["protocol"], WireProtocol | null>>,
  Expect<Equal<HubClient["preferredProtocol"], WireProtocol>>,
  Expect<Equal<typeof CLOSE.UNAUTHORIZED, 4401>>,
  Expect<Equal<typeof HubClientDefault, typeof HubClient>>,
  Expect<Equal<MessageDataMap["quiz_status"], QuizStatusData>>,
];

const options: HubClientOptions = {
  url: "http://127.0.0.1:8000",
  token: async () => "a token",
  protocol: "msgpack",
  types: ["quiz_status", "notification"],
  maxAttempts: 5,
};
// @ts-expect-error: the protocol is "json" or "msgpack"
const badOptions: HubClientOptions = { protocol: "cbor" };
void badOptions;

// the browser's WebSocket (lib "dom") is a WebSocketLike the client accepts
const browserSocket: new (url: string, protocols?: string | string[]) => WebSocketLike = WebSocket;
const hub: HubClient = new HubClientDefault({ ...options, WebSocket: browserSocket });
const protocol: WireProtocol | null = hub.protocol;
const offered: readonly WireProtocol[] = PROTOCOLS;
const state: ConnectionState = hub.state;
const states: readonly ConnectionState[] = STATES;
const everyType: readonly MessageType[] = MESSAGE_TYPES;
const jobTypes: readonly MessageType[] = JOB_TYPES;
const terminal: readonly JobStatus[] = TERMINAL;
const closeInfo: CloseCodeInfo = CLOSE_CODES[4409];
const fatalMeaning: string = FATAL_CLOSE[CLOSE.UNAUTHORIZED];
const timing: number = TYPING_EXPIRY_MS + TYPING_IDLE_MS + TYPING_REPEAT_MS + REFRESH_AT;
const delays: number = backoffDelay(2) + upgradeDelay(1, 1000, 30000, Math.random);
const urls: string = wsUrl("http://h:8000") + httpUrl("wss://h/ws") + NO_WEBSOCKET;
const times: { iat: number | null; exp: number | null } = tokenTimes("a.b.c");
const refreshIn: number | null = refreshDelay("a.b.c", Date.now());
const roomIdOk: boolean = ROOM_ID.test("quiz:q-42");
export const constants = [protocol, offered, state, states, everyType, jobTypes, terminal, closeInfo, fatalMeaning,
  timing, delays, urls, times, refreshIn, roomIdOk];

const offQuiz: Unsubscribe = hub.on("quiz_status", (env: Envelope<"quiz_status">) => {
  const data: QuizStatusData = env.data;
  const status: JobStatus = data.status;
  const progress: number = data.progress;
  const waiting: Waiting | undefined = data.waiting; // PROTOCOL.md section 9: why it waits
  const why: string | undefined = waiting?.reason;
  const since: number | undefined = waiting?.since;
  const item: JobItem | undefined = data.item; // partial results: one finished question per message
  const prompt: string | undefined = item?.question?.prompt;
  const done: number | undefined = data.itemsDone;
  void [status, progress, why, since, env.seq, env.ts, item?.index, item?.total, prompt, done];
});
hub.on("question_replace", (env) => {
  const data: QuestionReplaceData = env.data;
  const question: Question | undefined = data.question;
  void question?.prompt;
});
hub.on("document_processing", (env) => {
  const data: DocumentProcessingData = env.data;
  const stage: DocumentStage = data.stage;
  void stage;
});
hub.on("analytics_update", (env) => { const data: AnalyticsUpdateData = env.data; void data.updates; });
hub.on("notification", (env) => {
  const data: NotificationData = env.data;
  const level: NotificationLevel = data.level;
  void level;
});
hub.on("*", (env: AnyEnvelope) => { if (env.type === "quiz_status") void env.data.progress; });
hub.on("welcome", (frame: WelcomeFrame) => {
  const resume: ResumePoint = { epoch: frame.epoch, seq: frame.seq };
  const entries: (JoinedFrame | RoomErrorFrame)[] = frame.rooms ?? [];
  void [resume, entries];
});
hub.on("snapshot", (frame) => { const jobs: JobState[] = frame.snapshot; void jobs; });
hub.on("state", (event: StateEvent) => { const now: ConnectionState = event.state; void now; });
hub.on("error", (event: HubErrorEvent) => { if (event.fatal) void event.code; });
hub.on("pong", (frame: PongFrame) => void frame.id);
hub.on("refreshed", (frame: RefreshedFrame) => void frame.exp);
offQuiz();

const ops: ClientOp[] = [{ op: "cancel", jobId: "j1" }, { op: "ping", id: 1 }, { op: "subscribe", types: ["notification"] }];
for (const op of ops) hub.send(op);
// @ts-expect-error: not an op of the protocol
hub.send({ op: "shout" });
const batch: BatchFrame = { op: "batch", messages: [] };
void batch;

const joinOptions: JoinOptions = { presence: true, info: { name: "Ada" } };
const roomId: RoomId = "quiz:q-42";
const room: Room = hub.join(roomId, joinOptions);
const request: RoomRequest = room.request();
const roomState: RoomState = new RoomState(roomId);
const members: readonly RoomMember[] = room.members;
room.on("message", (env: RoomEnvelope<"room_message">) => {
  const data: RoomMessageData = env.data;
  void data.from.educatorId;
});
room.on("presence", (env) => { const data: PresenceData = env.data; void data.memberCount; });
room.on("typing", (env) => { const data: TypingData = env.data; void data.typing; });
room.on("left", (frame: LeftFrame) => void frame.room);
room.on("error", (event: RoomErrorEvent) => { const code: RoomErrorCode | string = event.code; void code; });
const roomEvents: keyof RoomEvents = "joined";
const roomData: keyof RoomDataMap = "presence";
const publishOptions: PublishOptions = { ephemeral: true };
const acked: Promise<AckFrame> = room.publish("chat", { text: "hi" }, publishOptions);
acked.catch((err: unknown) => {
  if (err instanceof HubRoomError) void [err.code, err.room];
});
room.typing();
void [request, roomState.resume(), members, roomEvents, roomData];

const stream = new StreamState();
stream.applyWelcome({ epoch: "E1", seq: 0, resumed: false, snapshot: [] });

export async function submitAndWatch(): Promise<JobKind> {
  await hub.start();
  const reply: SubmitReply = await hub.submitJob("quiz_generation", { numQuestions: 5 });
  const options: SubmitOptions = { idempotencyKey: newIdempotencyKey(), retries: 1, retryDelay: 500 };
  const again: SubmitReply = await hub.submitJob("quiz_generation", { numQuestions: 5 }, options);
  void again.status;
  try {
    const result: QuizResult = await hub.getResult(reply.jobId);
    void result.questions.length;
  } catch (err) {
    if (err instanceof HubHttpError) return String(err.status);
  }
  const job: JobState = await hub.getJob(reply.jobId);
  hub.close();
  return job.kind;
}

// The seed web app's API (service.js), also from "hub-client": one shared connection per page.
import {
  WebSocketService, configureWebSocketService, getWebSocketService, readEnv,
} from "hub-client";
import type { WebSocketServiceLike, WebSocketServiceOptions } from "hub-client";

const pageEnv: { url: string | undefined; enabled: boolean; tokenUrl: string | undefined } = readEnv();
const serviceOptions: WebSocketServiceOptions = { url: pageEnv.url, tokenUrl: "/api/hub-token", protocol: "msgpack" };
const service: WebSocketService = configureWebSocketService(serviceOptions);
const pageService: WebSocketServiceLike = getWebSocketService();
// @ts-expect-error: a protocol the client does not speak
configureWebSocketService({ protocol: "cbor" });

export async function seedApp(): Promise<boolean> {
  await service.connect();
  const off: Unsubscribe = service.subscribe("quiz_status", (data: QuizStatusData, envelope) => {
    void [data.progress, envelope.seq];
  });
  service.send({ op: "ping", id: 1 });
  off();
  service.disconnect();
  void new WebSocketService({ token: async () => "a token" });
  return pageService.isConnected;
}

// -- "hub-client/react" ------------------------------------------------------------------------

import {
  WebSocketService as ReactWebSocketService, configureWebSocketService as configureFromReact,
  getWebSocketService as getFromReact, useHubJobs, useHubMessages, useHubState, usePresence, useRoom, useTyping,
  useWebSocket,
} from "hub-client/react";
import type {
  WebSocketServiceLike as ReactServiceLike, WebSocketServiceOptions as ReactServiceOptions,
} from "hub-client/react";
import type {
  HubEvent, HubEventPayloads, UseRoomOptions, UseRoomResult, UseTypingResult,
} from "hub-client/react";

export function QuizProgress(props: { client: HubClient; quizId: string }): string {
  const connection: ConnectionState = useHubState(props.client);
  const jobs: JobState[] = useHubJobs(props.client);
  const event: HubEvent = "quiz_status";
  useHubMessages(props.client, event, (env: HubEventPayloads["quiz_status"]) => void env.data.progress, [props.quizId]);
  useHubMessages(props.client, "error", (e) => void e.message);
  const roomOptions: UseRoomOptions = { keep: 50, presence: false };
  const joined: UseRoomResult = useRoom(props.client, `quiz:${props.quizId}`, roomOptions);
  const present: readonly RoomMember[] = usePresence(joined.room);
  const typing: UseTypingResult = useTyping(joined.room);
  typing.notify();
  return `${connection}: ${jobs.length} jobs, ${present.length} here, ${typing.typing.join(", ")}`;
}

// The seed app's hook: its handler gets the message's data (and the envelope).
export function SeedPage(props: { quizId: string }): string {
  useWebSocket("quiz_status", (data: QuizStatusData, envelope) => void [data.progress, envelope.ts], [props.quizId]);
  useWebSocket("*", (_data, envelope: AnyEnvelope) => void envelope.type);
  const page: ReactServiceLike = getFromReact();
  const options: ReactServiceOptions = { types: ["quiz_status"] };
  const same: ReactWebSocketService = configureFromReact(options);
  return page.isConnected && same === getFromReact() ? "connected" : "offline";
}

// -- "hub-client/testing" ----------------------------------------------------------------------

import {
  createFakeWebSocketService, installFakeWebSocketService, resetWebSocketService,
} from "hub-client/testing";
import type { FakeWebSocketService, FakeWebSocketServiceOptions } from "hub-client/testing";

export function fakeForATest(): number {
  const fakeOptions: FakeWebSocketServiceOptions = { connected: false };
  const fake: FakeWebSocketService = installFakeWebSocketService(createFakeWebSocketService(fakeOptions));
  fake.setConnected(true);
  fake.emit("quiz_status", { jobId: "j1", status: "processing", progress: 50 });
  const sent: number = fake.sent.length + fake.connects;
  resetWebSocketService();
  return sent;
}
