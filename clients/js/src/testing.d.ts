// Type declarations of testing.js (hub-client/testing): a fake WebSocketService for Jest/Vitest tests.
import type { ClientOp, Envelope, MessageDataMap, MessageType } from "./hub-client.js";
import type { WebSocketServiceLike, WebSocketServiceOptions } from "./service.js";

export interface FakeWebSocketService extends WebSocketServiceLike {
  readonly client: null;
  /** every op given to send(), in order */
  readonly sent: ClientOp[];
  /** connections connect() started (calls while one is live count once) */
  readonly connects: number;
  /** what configure() (or configureWebSocketService()) was last given */
  readonly options: WebSocketServiceOptions;
  /** deliver `{seq, type, ts, data, ...extra}` to the subscribers of `type` and "*" (for "state",
   * "error" and the client's other events: `{...data, ...extra}` as the event); returns it */
  emit<T extends MessageType>(type: T, data: Partial<MessageDataMap[T]>, extra?: Record<string, unknown>): Envelope<T>;
  emit(type: string, data: unknown, extra?: Record<string, unknown>): unknown;
  /** state "connected", or "reconnecting" (isConnected false); tells "state" subscribers */
  setConnected(connected: boolean): void;
}

export interface FakeWebSocketServiceOptions {
  /** true (default): it starts "connected", and connect() after disconnect() connects it again;
   * false: it starts "idle", connect() makes it "connecting", setConnected(true) connects it */
  connected?: boolean;
}

export declare function createFakeWebSocketService(options?: FakeWebSocketServiceOptions): FakeWebSocketService;

/** Make `fake` (default: a new one) the page's service for getWebSocketService() and useWebSocket. */
export declare function installFakeWebSocketService<F extends WebSocketServiceLike = FakeWebSocketService>(fake?: F): F;

/** Forget the page's service (disconnecting a real one); the next getWebSocketService() makes a new one. */
export declare function resetWebSocketService(): void;
