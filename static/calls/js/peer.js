// One RTCPeerConnection to one remote peer, with "perfect negotiation" as in the WebRTC spec
// (and webrtc/samples): the polite side yields on glare, candidates wait for the remote
// description, and a failed (or long disconnected) connection restarts ICE. Negotiation
// failures are logged and dispatched as an "error" event ({step, error}); the handle*
// methods never reject.
//
// What each m-line carries (its role) is told by its place, not by any label: the Nth
// transceiver of a kind in m-line order has the same role on both sides, because both sides
// see the same SDP. Audio #0 is the microphone, video #0 the camera, video #1 the screen share
// and audio #1 the shared tab's or system's sound. The initiator creates all four at once, so
// a screen share needs no renegotiation; a side that answers an offer lacking one of them
// (another client, a watch-only peer) adds its own transceiver for whatever it has to send,
// and negotiates again (so every peer hears and sees us, whatever it offered).
import { relay } from "./protocol.js";

const DISCONNECTED_GRACE_MS = 5000;
export const ROLES = { mic: ["audio", 0], camera: ["video", 0], screen: ["video", 1], screenAudio: ["audio", 1] };
const MAIN = new Set(["mic", "camera"]); // the person's own tile; the others go to the share tile

export class PeerLink extends EventTarget {
  constructor({ signaling, room, remotePeer, user, config, tracks, initiator }) {
    super();
    this.signaling = signaling;
    this.room = room;
    this.remotePeer = remotePeer;
    this.user = user;
    this.polite = signaling.peer > remotePeer; // both sides derive opposite roles from the ids
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.isSettingRemoteAnswerPending = false;
    this.pendingCandidates = [];
    this.remoteStream = new MediaStream(); // microphone and camera
    this.screenStream = new MediaStream(); // screen share and its sound
    this.pc = new RTCPeerConnection(config);
    this.lastStats = null;
    this.disconnectTimer = null;
    this.closed = false;
    this.localStream = new MediaStream();
    this.localScreen = new MediaStream();
    this.tracks = { mic: null, camera: null, screen: null, screenAudio: null, ...tracks };
    this.transceivers = {}; // role -> RTCRtpTransceiver
    this.encodings = {}; // role -> {maxBitrate, scaleResolutionDownBy}
    this.initiator = initiator;
    if (initiator) {
      for (const role of Object.keys(ROLES)) this.#add(role);
    }
    this.pc.onnegotiationneeded = () => this.#negotiate();
    this.pc.onicecandidate = ({ candidate }) =>
      this.#send("candidate", candidate ? candidate.toJSON() : null);
    this.pc.ontrack = ({ track, transceiver }) => {
      this.#assignRoles();
      const role = this.roleOf(transceiver);
      const stream = MAIN.has(role) ? this.remoteStream : this.screenStream;
      if (role && !stream.getTracks().includes(track)) stream.addTrack(track);
      this.dispatchEvent(new CustomEvent("track", { detail: { track, role } }));
    };
    this.pc.onconnectionstatechange = () => this.#onState();
  }

  get state() {
    return this.pc.connectionState;
  }

  // Kept for the tests and the page: the microphone's and the camera's transceivers.
  get audio() {
    return this.transceivers.mic || null;
  }

  get video() {
    return this.transceivers.camera || null;
  }

  roleOf(transceiver) {
    return Object.keys(this.transceivers).find((role) => this.transceivers[role] === transceiver) || null;
  }

  #add(role) {
    const [kind] = ROLES[role];
    const streams = [MAIN.has(role) ? this.localStream : this.localScreen];
    const transceiver = this.pc.addTransceiver(kind, { direction: "sendrecv", streams });
    if (!transceiver) return null; // a client that cannot send this kind
    this.transceivers[role] = transceiver;
    this.#apply(role);
    return transceiver;
  }

  // The offer's m-lines get their roles by kind and order (see the top of this file).
  #assignRoles() {
    const seen = { audio: 0, video: 0 };
    const ordered = this.pc.getTransceivers().filter((t) => t.mid !== null && !t.stopped)
      .sort((a, b) => mlineIndex(a) - mlineIndex(b));
    for (const transceiver of ordered) {
      const kind = transceiver.receiver.track.kind;
      const index = seen[kind]++;
      const role = Object.keys(ROLES).find((r) => ROLES[r][0] === kind && ROLES[r][1] === index);
      if (role && !this.transceivers[role] && !this.roleOf(transceiver)) this.transceivers[role] = transceiver;
    }
  }

  // After an offer: send on every m-line we have a role for; add what we must send but the offer lacked.
  #adopt() {
    this.#assignRoles();
    for (const [role, transceiver] of Object.entries(this.transceivers)) {
      if (transceiver.direction !== "sendrecv" && !transceiver.stopped) {
        transceiver.direction = "sendrecv";
        transceiver.sender.setStreams?.(MAIN.has(role) ? this.localStream : this.localScreen);
      }
      this.#apply(role);
    }
    for (const role of ["mic", "camera"]) {
      if (!this.transceivers[role]) this.#add(role); // renegotiates once this answer is out
    }
  }

  #apply(role) {
    const transceiver = this.transceivers[role];
    if (!transceiver) return;
    transceiver.sender.replaceTrack(this.tracks[role]).catch((error) => this.#fail(`sending the ${role}`, error));
    this.#applyEncoding(role);
  }

  #send(kind, payload) {
    this.signaling.send(relay(kind, this.room, this.remotePeer, payload));
  }

  // Logged with context, and passed to the page to show.
  #fail(step, error) {
    if (this.closed) return;
    console.error(`negotiation with peer ${this.remotePeer}: ${step} failed`, error);
    this.dispatchEvent(new CustomEvent("error", { detail: { step, error } }));
  }

  async #negotiate() {
    // Nothing to offer yet (the answering side before the first offer: changing the ICE servers,
    // as a TURN refresh does, can still raise negotiationneeded): an offer without m-lines would
    // only collide with the initiator's.
    if (!this.pc.getTransceivers().length) return;
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      this.#send(this.pc.localDescription.type, { type: this.pc.localDescription.type, sdp: this.pc.localDescription.sdp });
    } catch (error) {
      this.#fail("creating an offer", error);
    } finally {
      this.makingOffer = false;
    }
  }

  async handleDescription(description) {
    // While our answer is being applied we are as good as stable: setRemoteDescription calls
    // run in order, so an offer that arrives meanwhile is applied after the answer, not glare.
    const readyForOffer =
      !this.makingOffer && (this.pc.signalingState === "stable" || this.isSettingRemoteAnswerPending);
    const offerCollision = description.type === "offer" && !readyForOffer;
    this.ignoreOffer = !this.polite && offerCollision;
    if (this.ignoreOffer) return;
    try {
      this.isSettingRemoteAnswerPending = description.type === "answer";
      try {
        await this.pc.setRemoteDescription(description); // rolls our own offer back on glare
      } finally {
        this.isSettingRemoteAnswerPending = false;
      }
      if (description.type === "offer") this.#adopt();
      for (const candidate of this.pendingCandidates.splice(0)) await this.#addCandidate(candidate);
      if (description.type === "offer") {
        await this.pc.setLocalDescription();
        this.#send("answer", { type: "answer", sdp: this.pc.localDescription.sdp });
      }
      for (const role of Object.keys(this.transceivers)) this.#applyEncoding(role);
    } catch (error) {
      this.#fail(`applying the remote ${description.type}`, error);
    }
  }

  async handleCandidate(candidate) {
    if (!this.pc.remoteDescription) {
      this.pendingCandidates.push(candidate);
      return;
    }
    await this.#addCandidate(candidate);
  }

  async #addCandidate(candidate) {
    try {
      await this.pc.addIceCandidate(candidate ?? undefined);
    } catch (error) {
      // Candidates of an offer we ignored cannot match anything: expected, not an error.
      if (!this.ignoreOffer) this.#fail("adding a remote ICE candidate", error);
    }
  }

  restartIce() {
    if (!this.closed) this.pc.restartIce();
  }

  #onState() {
    const state = this.pc.connectionState;
    clearTimeout(this.disconnectTimer);
    if (state === "failed") this.restartIce();
    if (state === "disconnected") {
      this.disconnectTimer = setTimeout(() => {
        if (this.pc.connectionState === "disconnected") this.restartIce();
      }, DISCONNECTED_GRACE_MS);
    }
    if (state === "connected") for (const role of Object.keys(this.transceivers)) this.#applyEncoding(role);
    this.dispatchEvent(new CustomEvent("state", { detail: state }));
  }

  setIceServers(iceServers, iceTransportPolicy) {
    this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers, iceTransportPolicy });
  }

  // What this side sends in a role: a track, or null for nothing (muted, camera off, no device).
  // A role the connection has no m-line for yet gets one (and a renegotiation).
  // Until the initiator's first offer arrives the answering side adds nothing: it adopts the
  // offer's m-lines (#adopt), so an m-line of its own would make both sides offer at once.
  setTrack(role, track) {
    this.tracks[role] = track;
    const negotiating = this.initiator || this.pc.remoteDescription !== null;
    if (!this.transceivers[role] && track && negotiating && !this.closed) this.#add(role);
    else this.#apply(role);
  }

  // Send limits for a role ({maxBitrate, scaleResolutionDownBy}); kept and re-applied after negotiation.
  setEncoding(role, encoding) {
    this.encodings[role] = encoding;
    this.#applyEncoding(role);
  }

  async #applyEncoding(role) {
    const sender = this.transceivers[role]?.sender;
    const wanted = this.encodings[role];
    if (!sender || !wanted || this.closed) return;
    const params = sender.getParameters();
    if (!params.encodings?.length) return; // not negotiated yet: applied again once it is
    const current = params.encodings[0];
    if (Object.entries(wanted).every(([key, value]) => current[key] === value)) return;
    Object.assign(current, wanted);
    try {
      await sender.setParameters(params);
    } catch (error) {
      console.warn(`peer ${this.remotePeer}: send limits for the ${role} not applied`, error);
    }
  }

  // Round-trip time, loss, inbound bitrate and whether the selected pair is relayed.
  async stats() {
    const report = await this.pc.getStats();
    const now = performance.now();
    let pair = null;
    let inboundBytes = 0;
    let videoBytes = 0;
    let audioBytes = 0;
    let lost = 0;
    let received = 0;
    let framesDecoded = 0;
    const byId = new Map();
    report.forEach((stat) => byId.set(stat.id, stat));
    report.forEach((stat) => {
      if (stat.type === "transport" && stat.selectedCandidatePairId) pair = byId.get(stat.selectedCandidatePairId);
      if (stat.type === "inbound-rtp") {
        inboundBytes += stat.bytesReceived || 0;
        lost += stat.packetsLost || 0;
        received += stat.packetsReceived || 0;
        if (stat.kind === "video") {
          videoBytes += stat.bytesReceived || 0;
          framesDecoded += stat.framesDecoded || 0;
        } else audioBytes += stat.bytesReceived || 0;
      }
    });
    if (!pair) report.forEach((stat) => { if (stat.type === "candidate-pair" && stat.nominated && stat.state === "succeeded") pair = stat; });
    const local = pair && byId.get(pair.localCandidateId);
    const remote = pair && byId.get(pair.remoteCandidateId);
    const previous = this.lastStats;
    const bitrate = previous ? ((inboundBytes - previous.inboundBytes) * 8) / ((now - previous.at) / 1000) : 0;
    this.lastStats = {
      at: now,
      state: this.pc.connectionState,
      rtt: pair && pair.currentRoundTripTime !== undefined ? pair.currentRoundTripTime * 1000 : null,
      loss: received + lost > 0 ? (100 * lost) / (received + lost) : 0,
      bitrate,
      inboundBytes,
      videoBytes,
      audioBytes,
      framesDecoded,
      localType: local ? local.candidateType : null,
      remoteType: remote ? remote.candidateType : null,
      relayed: Boolean(local && remote && (local.candidateType === "relay" || remote.candidateType === "relay")),
    };
    return this.lastStats;
  }

  // The microphone's current level (0..1) from the receiver's statistics, for the active speaker.
  async audioLevel() {
    const receiver = this.transceivers.mic?.receiver;
    if (!receiver || this.closed) return 0;
    let level = 0;
    (await receiver.getStats()).forEach((stat) => {
      if (stat.type === "inbound-rtp" && stat.kind === "audio") level = Math.max(level, stat.audioLevel || 0);
    });
    return level;
  }

  close() {
    this.closed = true;
    clearTimeout(this.disconnectTimer);
    this.pc.close();
  }
}

// Where a transceiver's m-line is in the SDP: both sides use numeric mids in m-line order
// (Chromium and Firefox both do); anything else falls back to creation order.
function mlineIndex(transceiver) {
  const n = Number(transceiver.mid);
  return Number.isFinite(n) ? n : 1e6;
}
