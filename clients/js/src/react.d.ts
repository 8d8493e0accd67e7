// Type declarations of react.js (React bindings of hub-client.js).
import type {
  AnyEnvelope, ConnectionState, Envelope, HubClient, HubErrorEvent, JobState, JoinOptions, MessageDataMap,
  MessageType, Room, RoomEnvelope, RoomErrorEvent, RoomId, RoomMember, StateEvent, WelcomeFrame,
} from "./hub-client.js";
import type { ServiceEvent, ServiceEventMap } from "./service.js";

export { WebSocketService, configureWebSocketService, getWebSocketService } from "./service.js";
export type { WebSocketServiceLike, WebSocketServiceOptions } from "./service.js";

/**
 * The seed web app's hook: `handler(data, envelope)` for each message of `type` on the page's one
 * WebSocketService (getWebSocketService()) while mounted, connecting it on first use. The latest
 * handler is always called; the subscription is renewed when `type` or `deps` change.
 */
export declare function useWebSocket<T extends MessageType>(
  type: T,
  handler: (data: MessageDataMap[T], envelope: Envelope<T>) => void,
  deps?: readonly unknown[],
): void;
export declare function useWebSocket(
  type: "*",
  handler: (data: AnyEnvelope["data"], envelope: AnyEnvelope) => void,
  deps?: readonly unknown[],
): void;
export declare function useWebSocket<E extends ServiceEvent>(
  type: E,
  handler: (event: ServiceEventMap[E], same: ServiceEventMap[E]) => void,
  deps?: readonly unknown[],
): void;
export declare function useWebSocket(
  type: string,
  handler: (data: any, envelope: any) => void,
  deps?: readonly unknown[],
): void;

export type HubEvent = MessageType | "*" | "welcome" | "snapshot" | "state" | "error";

export interface HubEventPayloads {
  quiz_status: Envelope<"quiz_status">;
  question_replace: Envelope<"question_replace">;
  document_processing: Envelope<"document_processing">;
  analytics_update: Envelope<"analytics_update">;
  notification: Envelope<"notification">;
  "*": AnyEnvelope;
  welcome: WelcomeFrame;
  snapshot: WelcomeFrame & { snapshot: JobState[] };
  state: StateEvent;
  error: HubErrorEvent;
}

/** Call `handler` for each `type` event while mounted; the latest handler is always used. */
export declare function useHubMessages<K extends HubEvent>(
  client: HubClient | null | undefined,
  type: K,
  handler: (payload: HubEventPayloads[K]) => void,
  deps?: readonly unknown[],
): void;

/** The client's connection state; re-renders when it changes. */
export declare function useHubState(client: HubClient | null | undefined): ConnectionState;

/** The client's job states, newest first; re-renders on every job change. */
export declare function useHubJobs(client: HubClient | null | undefined): JobState[];

// -- rooms, presence and typing (PROTOCOL.md section 7) --------------------------------------------

export interface UseRoomOptions extends JoinOptions {
  /** the newest room messages kept in `messages`; default 100 */
  keep?: number;
}

export interface UseRoomResult {
  /** null until joined (and with no client or room id) */
  room: Room | null;
  members: readonly RoomMember[];
  /** the room_message envelopes since the join, oldest first */
  messages: readonly RoomEnvelope<"room_message">[];
  /** the room's last error (a refused join: code "forbidden"), or null */
  error: RoomErrorEvent | null;
}

/** Join a room while mounted; leave when the last component using it unmounts. */
export declare function useRoom(
  client: HubClient | null | undefined,
  roomId: RoomId | null | undefined,
  options?: UseRoomOptions,
): UseRoomResult;

/** The room's members; re-renders when someone joins or leaves. */
export declare function usePresence(room: Room | null | undefined): readonly RoomMember[];

export interface UseTypingResult {
  /** educatorIds of the others typing now */
  typing: readonly string[];
  /** call on every keystroke (room.typing()); the same function on every render */
  notify: () => void;
  /** stop typing now (room.stopTyping()) */
  stop: () => void;
}

/** Who else is typing in the room, and the function to call on each keystroke. */
export declare function useTyping(room: Room | null | undefined): UseTypingResult;
