// Type declarations of hub-rooms.js: the rooms part of hub-client.js, declared with it.
export {
  HubRoomError, Room, RoomState, ROOM_ID, TYPING_EXPIRY_MS, TYPING_IDLE_MS, TYPING_REPEAT_MS,
} from "./hub-client.js";
