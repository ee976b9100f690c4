// The signaling protocol, version 1, as the browser sees it (docs/protocol.md; calls/signaling/protocol/).

export const PROTOCOL_VERSION = 1;

// Close codes after which the client must not reconnect by itself.
export const FINAL_CLOSE_CODES = new Set([4401, 4403, 4409, 4429, 4430]);

export const CLOSE_MESSAGES = {
  4401: "You are not logged in any more. Log in again to call.",
  4403: "An administrator disconnected you.",
  4409: "This call continues in another window.",
  4429: "Too many invalid messages; disconnected.",
  4430: "You have this site open in too many windows. Close one, then reload this page.",
};

export const ERROR_MESSAGES = {
  room_full: "This room is full.",
  room_not_found: "This room does not exist (any more).",
  forbidden: "You are not allowed in here.",
  user_not_found: "Nobody by that name can be called.",
  rate_limited: "Slow down: too many attempts.",
  unavailable: "The server is briefly unavailable; retrying.",
  not_in_room: "You are not in the call (any more).",
  unknown_peer: "That person is no longer in the call.",
  bad_frame: "That cannot be sent.",
  too_many_rooms: "This window is in too many calls.",
  too_many_in_room: "You are already in this call from other windows.",
};

// The room page says the same (calls/views.py) when a removed user opens the room again.
export const REMOVED_MESSAGE = "The owner removed you from this room; they can let you back in.";

// peer-left reasons, as the others may be told them.
export const LEAVE_REASONS = {
  leave: "left",
  disconnect: "was disconnected",
  timeout: "lost the connection",
  kicked: "was disconnected by an administrator",
  removed: "was removed by the owner",
};

// A chat message's text: 1 to MAX_CHAT_LENGTH characters (code points), not only whitespace.
export const MAX_CHAT_LENGTH = 2000;

export function relay(kind, room, to, payload) {
  return { type: kind, room, to, payload };
}

// Room frames (docs/protocol.md, "In the room" and "The owner").
export const chat = (room, text) => ({ type: "chat", room, text });
export const media = (room, { audio, video, screen }) => ({ type: "media", room, audio, video, screen });
export const hand = (room, raised, peer) => (peer ? { type: "hand", room, raised, peer } : { type: "hand", room, raised });
export const remove = (room, peer) => ({ type: "remove", room, peer });
export const letIn = (room, user) => ({ type: "let-in", room, user });
