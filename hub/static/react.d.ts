// Type declarations of react.js (React bindings of hub-client.js).
import type {
  AnyEnvelope, ConnectionState, Envelope, HubClient, HubErrorEvent, JobState, MessageType, StateEvent,
  WelcomeFrame,
} from "./hub-client.js";

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
