// The signaling WebSocket: reconnects with exponential backoff and jitter, resumes its
// peer (`?resume=`), pings within the heartbeat window, and answers requests by `ref`.
// A server speaking a newer protocol than this page (its `hello`) ends signaling: the page
// shows a reload banner and emits `outdated` instead of `hello`.
import { showReloadBanner } from "./outdated.js";
import { FINAL_CLOSE_CODES, PROTOCOL_VERSION } from "./protocol.js";
import { gettext } from "./i18n.js";

export class Signaling extends EventTarget {
  constructor(path = "/ws/signal/") {
    super();
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    this.url = `${scheme}://${location.host}${path}`;
    this.ws = null;
    this.peer = null;
    this.resumeToken = null;
    this.attempt = 0;
    this.nextId = 1;
    this.pending = new Map();
    this.stopped = false;
    this.pingTimer = null;
    this.retryTimer = null;
    this.outdated = false;
  }

  connect() {
    if (this.stopped) return;
    const url = this.resumeToken ? `${this.url}?resume=${encodeURIComponent(this.resumeToken)}` : this.url;
    const ws = new WebSocket(url);
    this.ws = ws;
    ws.onmessage = (event) => this.#onMessage(event);
    ws.onclose = (event) => this.#onClose(ws, event);
  }

  get open() {
    return this.ws && this.ws.readyState === WebSocket.OPEN && this.peer !== null;
  }

  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  // Send a frame with an id; resolves with the reply carrying that ref (or rejects on error frames).
  request(frame, timeoutMs = 10000) {
    const id = `c${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(gettext("timeout")));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      if (!this.send({ ...frame, id })) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new Error(gettext("not connected")));
      }
    });
  }

  close() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.ws) this.ws.close(1000);
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #onMessage(event) {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame.type === "hello" && frame.protocol > PROTOCOL_VERSION) {
      this.#refuseNewerServer(frame.protocol);
      return;
    }
    if (frame.type === "hello") {
      const resumed = frame.resumed && frame.peer === this.peer;
      this.peer = frame.peer;
      this.resumeToken = frame.resume;
      this.attempt = 0;
      clearInterval(this.pingTimer);
      const every = Math.max(1, frame.heartbeat / 3) * 1000;
      this.pingTimer = setInterval(() => this.send({ type: "ping" }), every);
      this.#emit("hello", { ...frame, resumed });
      return;
    }
    if (frame.ref !== undefined && this.pending.has(frame.ref)) {
      const { resolve, reject, timer } = this.pending.get(frame.ref);
      clearTimeout(timer);
      this.pending.delete(frame.ref);
      if (frame.type === "error") reject(Object.assign(new Error(frame.message), { code: frame.code }));
      else resolve(frame);
    }
    if (frame.type === "reconnect") {
      this.attempt = 0; // the server is draining: come back right away, elsewhere
    }
    this.#emit(frame.type, frame);
    this.#emit("frame", frame);
  }

  // Stop for good (a clean close, so the server forgets the peer at once) and ask for a reload.
  #refuseNewerServer(serverVersion) {
    this.outdated = true;
    this.close();
    showReloadBanner();
    this.#emit("outdated", { server: serverVersion, page: PROTOCOL_VERSION });
  }

  #onClose(ws, event) {
    if (ws !== this.ws) return;
    clearInterval(this.pingTimer);
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new Error(gettext("connection closed")));
    }
    this.pending.clear();
    if (this.stopped) return;
    if (FINAL_CLOSE_CODES.has(event.code)) {
      this.stopped = true;
      this.#emit("final", { code: event.code });
      return;
    }
    // Exponential backoff with full jitter: 0.25 s, 0.5 s, 1 s ... capped at 15 s.
    const cap = Math.min(15000, 250 * 2 ** this.attempt);
    const delay = this.attempt === 0 ? Math.random() * 250 : Math.random() * cap;
    this.attempt += 1;
    this.#emit("reconnecting", { code: event.code, delay });
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
}
