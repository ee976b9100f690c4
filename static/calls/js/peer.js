// One RTCPeerConnection to one remote peer, with "perfect negotiation" as in the WebRTC spec
// (and webrtc/samples): the polite side yields on glare, candidates wait for the remote
// description, and a failed (or long disconnected) connection restarts ICE. Negotiation
// failures are logged and dispatched as an "error" event ({step, error}); the handle*
// methods never reject.
import { relay } from "./protocol.js";

const DISCONNECTED_GRACE_MS = 5000;

export class PeerLink extends EventTarget {
  // The initiator (the peer that just joined) creates the audio and video transceivers and
  // offers; the other side adopts the transceivers the offer creates, so each call has
  // exactly one audio and one video m-line.
  constructor({ signaling, room, remotePeer, user, config, localStream, tracks, initiator }) {
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
    this.remoteStream = new MediaStream();
    this.pc = new RTCPeerConnection(config);
    this.lastStats = null;
    this.disconnectTimer = null;
    this.closed = false;
    this.localStream = localStream;
    this.tracks = { audio: tracks.audio || null, video: tracks.video || null };
    this.audio = null;
    this.video = null;
    if (initiator) {
      this.audio = this.pc.addTransceiver("audio", { direction: "sendrecv", streams: [localStream] });
      this.video = this.pc.addTransceiver("video", { direction: "sendrecv", streams: [localStream] });
      this.#applyTracks();
    }
    this.pc.onnegotiationneeded = () => this.#negotiate();
    this.pc.onicecandidate = ({ candidate }) =>
      this.#send("candidate", candidate ? candidate.toJSON() : null);
    this.pc.ontrack = ({ track }) => {
      this.remoteStream.addTrack(track);
      this.dispatchEvent(new CustomEvent("track", { detail: track }));
    };
    this.pc.onconnectionstatechange = () => this.#onState();
  }

  get state() {
    return this.pc.connectionState;
  }

  #send(kind, payload) {
    this.signaling.send(relay(kind, this.room, this.remotePeer, payload));
  }

  // Logged with context, and passed to the page to show.
  #fail(step, error) {
    console.error(`negotiation with peer ${this.remotePeer}: ${step} failed`, error);
    this.dispatchEvent(new CustomEvent("error", { detail: { step, error } }));
  }

  async #negotiate() {
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      this.#send(this.pc.localDescription.type, { type: this.pc.localDescription.type, sdp: this.pc.localDescription.sdp });
    } catch (error) {
      if (!this.closed) this.#fail("creating an offer", error);
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
      if (description.type === "offer" && !this.audio) this.#adoptTransceivers();
      for (const candidate of this.pendingCandidates.splice(0)) await this.#addCandidate(candidate);
      if (description.type === "offer") {
        await this.pc.setLocalDescription();
        this.#send("answer", { type: "answer", sdp: this.pc.localDescription.sdp });
      }
    } catch (error) {
      if (!this.closed) this.#fail(`applying the remote ${description.type}`, error);
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
      if (!this.ignoreOffer && !this.closed) this.#fail("adding a remote ICE candidate", error);
    }
  }

  #adoptTransceivers() {
    for (const transceiver of this.pc.getTransceivers()) {
      const kind = transceiver.receiver.track.kind;
      if (!this[kind]) {
        this[kind] = transceiver;
        transceiver.direction = "sendrecv";
        transceiver.sender.setStreams?.(this.localStream);
      }
    }
    this.#applyTracks();
  }

  #applyTracks() {
    for (const kind of ["audio", "video"]) {
      if (this[kind]) this[kind].sender.replaceTrack(this.tracks[kind]);
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
    this.dispatchEvent(new CustomEvent("state", { detail: state }));
  }

  setIceServers(iceServers, iceTransportPolicy) {
    this.pc.setConfiguration({ ...this.pc.getConfiguration(), iceServers, iceTransportPolicy });
  }

  // What this side sends: a track, or null for nothing (muted, camera off, no device).
  replaceTrack(kind, track) {
    this.tracks[kind] = track;
    return this[kind] ? this[kind].sender.replaceTrack(track) : Promise.resolve();
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

  close() {
    this.closed = true;
    clearTimeout(this.disconnectTimer);
    this.pc.close();
  }
}
