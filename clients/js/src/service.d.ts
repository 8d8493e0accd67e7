// Type declarations of service.js: the seed web app's API (one shared hub connection per page).
import type {
  AnyEnvelope, ClientOp, ConnectionState, Envelope, HubClient, HubClientOptions, HubErrorEvent, JobState,
  MessageDataMap, MessageType, PongFrame, RefreshedFrame, StateEvent, Unsubscribe, WelcomeFrame,
} from "./hub-client.js";

export interface WebSocketServiceOptions extends HubClientOptions {
  /** the app's route answering `{"token": "..."}` (GET, same-origin cookies), asked when no `token`
   * is given; default NEXT_PUBLIC_HUB_TOKEN_URL, else "/api/hub-token" */
  tokenUrl?: string;
}

/** The HubClient's own events, which handlers receive as `handler(event, event)`. */
export interface ServiceEventMap {
  state: StateEvent;
  /** a fatal close, a refused op, or `code: "no_token"` when the token route gave no token */
  error: HubErrorEvent;
  welcome: WelcomeFrame;
  snapshot: WelcomeFrame & { snapshot: JobState[] };
  pong: PongFrame;
  refreshed: RefreshedFrame;
}
export type ServiceEvent = keyof ServiceEventMap;

/** What WebSocketService and hub-client/testing's fake have in common. */
export interface WebSocketServiceLike {
  /** true while the WebSocket is open and welcomed (state "connected") */
  readonly isConnected: boolean;
  /** the HubClient's state; "idle" before the first connect() and after disconnect() */
  readonly state: ConnectionState;
  /** the shared HubClient; null before the first connect() or send() and after disconnect() */
  readonly client: HubClient | null;
  /** set the options of the next HubClient made */
  configure(options?: WebSocketServiceOptions): this;
  /** connect the shared client (made on first use); resolves once the hub answered; rejects on a
   * fatal close, when the token route gives no token (an Error with `code: "no_token"`), or when
   * disconnect() comes first. Idempotent while a client is live. */
  connect(): Promise<void>;
  /** close the client; subscriptions stay; a later connect() makes a new one */
  disconnect(): void;
  /** a client op, sent now or queued while offline (HubClient's bounded queue); TypeError for a non-op */
  send(message: ClientOp): void;
  /** `handler(data, envelope)` for each message of `type`; returns the function that removes it */
  subscribe<T extends MessageType>(type: T, handler: (data: MessageDataMap[T], envelope: Envelope<T>) => void): Unsubscribe;
  subscribe(type: "*", handler: (data: AnyEnvelope["data"], envelope: AnyEnvelope) => void): Unsubscribe;
  subscribe<E extends ServiceEvent>(type: E, handler: (event: ServiceEventMap[E], same: ServiceEventMap[E]) => void): Unsubscribe;
  /** a custom job kind's or another message type */
  subscribe(type: string, handler: (data: any, envelope: any) => void): Unsubscribe;
  /** handlers subscribed to `type` now */
  listenerCount(type: string): number;
}

/** The page's connection to the hub: one HubClient shared by every subscriber and hook. Its members are
 * WebSocketServiceLike's (the class merges with the interface of the same name). */
export declare class WebSocketService {
  constructor(options?: WebSocketServiceOptions);
}
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface WebSocketService extends WebSocketServiceLike {}

/** The page's one service (a fake one after hub-client/testing's installFakeWebSocketService). */
export declare function getWebSocketService(): WebSocketService;

/** Set the page's service's options (before its first connect); returns the service. */
export declare function configureWebSocketService(options?: WebSocketServiceOptions): WebSocketService;
