// The remote side of the call: one PeerLink and two tiles (the person, their screen share) per
// remote peer, their media state and raised hands as the server last said, the participant
// list rows, and the send limits that follow the size of the mesh.
import { gettext, interpolate, ngettext } from "./i18n.js";
import { applySpeaker } from "./media.js";
import { PeerLink } from "./peer.js";
import { cameraEncoding, screenEncoding } from "./quality.js";
import { describeQuality, linkState, notice, qualityGrade, remoteTile, setButton, setCount, showHand, showMedia } from "./ui.js";

export const nameOf = (user) => user?.display_name || user?.username || gettext("guest");

export class Mesh {
  constructor({ signaling, room, people, stage, links, localTile, getTracks, getIce }) {
    this.signaling = signaling;
    this.room = room;
    this.people = people;
    this.stage = stage;
    this.localTile = localTile;
    this.getTracks = getTracks; // () => {mic, camera, screen, screenAudio}
    this.getIce = getIce; // () => {iceServers, iceTransportPolicy}
    this.links = links; // peer id -> { link, tile, screenTile, user, name } (shared with the stage)
    this.media = new Map(); // peer id -> {audio, video, screen} as the peer last said (null: not known)
    this.hands = []; // peer ids in the order hands went up
    this.owner = null; // the room owner's user id
    this.speakerId = "";
    this.mediaNotice = "";
    this.linkNotice = null; // { peer, text }: the negotiation failure on show, if any
  }

  add(peer, user, initiator, media) {
    if (media !== undefined) this.media.set(peer, media || null);
    if (this.links.has(peer)) return this.links.get(peer);
    const link = new PeerLink({
      signaling: this.signaling,
      room: this.room,
      remotePeer: peer,
      user,
      config: this.getIce(),
      tracks: this.getTracks(),
      initiator,
    });
    const name = nameOf(user);
    const tile = remoteTile(peer, name);
    const screenTile = remoteTile(peer, name, { screen: true });
    link.addEventListener("track", ({ detail }) => {
      // Only once there is media: a media element with an empty stream never finishes loading.
      const share = detail.role === "screen" || detail.role === "screenAudio";
      const target = share ? screenTile : tile;
      const stream = share ? link.screenStream : link.remoteStream;
      if (target.video.srcObject !== stream) {
        target.video.srcObject = stream;
        applySpeaker(target.video, this.speakerId);
      }
    });
    link.addEventListener("state", ({ detail }) => {
      tile.state.textContent = detail === "connected" ? "" : linkState(detail);
      tile.tile.dataset.state = detail;
      if (detail === "connected") this.clearLinkNotice(peer); // whatever failed, the call works now
    });
    link.addEventListener("error", ({ detail }) => {
      const text = interpolate(gettext("The connection with %(name)s ran into a problem (%(step)s: %(error)s)."),
        { name, step: detail.step, error: detail.error?.message || detail.error });
      this.linkNotice = { peer, text };
      notice(text, "error");
    });
    const entry = { link, tile, screenTile, user, name };
    this.links.set(peer, entry);
    this.people.upsert(peer, { name, self: false, owner: user?.id === this.owner, media: this.media.get(peer) || null, quality: linkState("connecting") });
    this.showMedia(peer);
    this.showHands();
    this.#changed();
    return entry;
  }

  drop(peer) {
    const entry = this.links.get(peer);
    this.media.delete(peer);
    // The server takes a departed peer out of the queue of hands without a `hand` frame: the
    // ones behind it move up on this page too.
    if (this.hands.includes(peer)) this.setHands(this.hands.filter((p) => p !== peer));
    if (!entry) return null;
    this.clearLinkNotice(peer);
    entry.link.close();
    this.links.delete(peer);
    entry.tile.tile.remove();
    entry.screenTile.tile.remove();
    this.people.remove(peer);
    this.#changed();
    return entry;
  }

  dropAll() {
    for (const peer of [...this.links.keys()]) this.drop(peer);
  }

  // Each peer gets its own copy of our video: the per-copy limits follow the size of the mesh.
  #changed() {
    const n = this.links.size;
    for (const { link } of this.links.values()) {
      link.setEncoding("camera", cameraEncoding(n));
      link.setEncoding("screen", screenEncoding(n));
    }
    setCount("people-count", n + 1, interpolate(ngettext("%(n)s in the call", "%(n)s in the call", n + 1), { n: n + 1 }));
    this.stage.arrange();
  }

  // What we send changed: every connection sends the new tracks.
  applyTracks() {
    const tracks = this.getTracks();
    for (const { link } of this.links.values()) {
      for (const [role, track] of Object.entries(tracks)) link.setTrack(role, track);
    }
  }

  setMedia(peer, media) {
    this.media.set(peer, media);
    this.showMedia(peer);
  }

  showMedia(peer) {
    const entry = this.links.get(peer);
    if (!entry) return;
    const media = this.media.get(peer) || null;
    showMedia(entry.tile.tile, media);
    entry.screenTile.tile.hidden = !media?.screen;
    this.people.upsert(peer, { media });
    this.stage.arrange();
  }

  setHands(order) {
    this.hands = order || [];
    this.showHands();
  }

  showHands() {
    const place = (peer) => this.hands.indexOf(peer) + 1;
    for (const [peer, { tile }] of this.links) showHand(tile.tile, place(peer));
    const mine = place(this.signaling.peer);
    showHand(this.localTile, mine);
    setButton(document.getElementById("hand"), { label: mine ? gettext("Lower hand") : gettext("Raise hand"), pressed: Boolean(mine) });
    this.people.setHands(this.hands);
  }

  setSpeakerOutput(speakerId) {
    this.speakerId = speakerId;
    const videos = [...this.links.values()].flatMap(({ tile, screenTile }) => [tile.video, screenTile.video]);
    return Promise.all(videos.map((video) => applySpeaker(video, speakerId)));
  }

  // Connection trouble is over: show only what is still true (e.g. that we joined without a camera).
  clearNotice() {
    notice(this.mediaNotice || "", "warning");
  }

  // Take a peer's negotiation failure off the page, unless another notice has replaced it.
  clearLinkNotice(peer) {
    if (this.linkNotice?.peer !== peer) return;
    if (document.getElementById("notice").textContent === this.linkNotice.text) this.clearNotice();
    this.linkNotice = null;
  }

  async stats() {
    const out = {};
    for (const [peer, { link, tile }] of this.links) {
      const s = await link.stats();
      tile.quality.textContent = describeQuality(s);
      this.people.upsert(peer, { quality: qualityGrade(s) });
      out[peer] = s;
    }
    return out;
  }
}
