// The signaling protocol, version 1, as the browser sees it (docs/protocol.md; calls/signaling/protocol/).
import { gettext } from "./i18n.js";

export const PROTOCOL_VERSION = 1;

// Close codes after which the client must not reconnect by itself.
export const FINAL_CLOSE_CODES = new Set([4401, 4403, 4409, 4429, 4430]);

export const CLOSE_MESSAGES = {
  4401: gettext("You are not logged in any more. Log in again to call."),
  4403: gettext("An administrator disconnected you."),
  4409: gettext("This call continues in another window."),
  4429: gettext("Too many invalid messages; disconnected."),
  4430: gettext("You have this site open in too many windows. Close one, then reload this page."),
};

export const ERROR_MESSAGES = {
  room_full: gettext("This room is full."),
  room_not_found: gettext("This room does not exist (any more)."),
  forbidden: gettext("You are not allowed in here."),
  user_not_found: gettext("Nobody by that name can be called."),
  rate_limited: gettext("Slow down: too many attempts."),
  unavailable: gettext("The server is briefly unavailable; retrying."),
  not_in_room: gettext("You are not in the call (any more)."),
  unknown_peer: gettext("That person is no longer in the call."),
  bad_frame: gettext("That cannot be sent."),
  too_many_rooms: gettext("This window is in too many calls."),
  too_many_in_room: gettext("You are already in this call from other windows."),
};

// The room page says the same (calls/views.py) when a removed user opens the room again.
export const REMOVED_MESSAGE = gettext("The owner removed you from this room; they can let you back in.");

// peer-left reasons, as the others may be told them.
export const LEAVE_REASONS = {
  leave: gettext("left"),
  disconnect: gettext("was disconnected"),
  timeout: gettext("lost the connection"),
  kicked: gettext("was disconnected by an administrator"),
  removed: gettext("was removed by the owner"),
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
