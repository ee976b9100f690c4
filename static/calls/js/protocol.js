// The signaling protocol, version 1, as the browser sees it (docs/protocol.md; calls/signaling/protocol.py).

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
};

export function relay(kind, room, to, payload) {
  return { type: kind, room, to, payload };
}
