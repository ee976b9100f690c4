"""docs/protocol.md says who offers, who is polite and who repairs after a resume; the call page does that.

Checked against the page's own source lines, so neither can change without the other.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = " ".join((ROOT / "docs" / "protocol.md").read_text().split())
CALL_JS = (ROOT / "static" / "calls" / "js" / "call.js").read_text()
PEER_JS = (ROOT / "static" / "calls" / "js" / "peer.js").read_text()


def test_the_joiner_offers_and_those_in_the_room_wait():
    initiator = "for (const { peer, user, media } of joined.peers) mesh.add(peer, user, true, media);"
    assert initiator in CALL_JS
    assert 'signaling.addEventListener("peer-joined"' in CALL_JS
    assert "mesh.add(detail.peer, detail.user, false, detail.media)" in CALL_JS  # prepares, does not offer
    assert "**The joiner offers.** After `joined`, a client sends an `offer`" in DOC
    assert "Peers already in the room **wait**" in DOC


def test_the_greater_peer_id_is_polite():
    assert "this.polite = signaling.peer > remotePeer;" in PEER_JS
    assert "the peer whose id is **greater**" in DOC and "is **polite**" in DOC


def test_after_a_resume_the_resumed_client_restarts_ice_only_on_links_not_connected():
    assert 'if (link.state !== "connected") link.restartIce();' in CALL_JS
    assert "**the client that resumed** repairs" in DOC
    assert "whose RTCPeerConnection is not `connected`" in DOC and "it restarts ICE" in DOC
    assert "Connections that are `connected` are left alone" in DOC
    assert "the call page does an ICE restart)" not in DOC  # the old, unconditional claim


def test_a_client_must_support_rollback_and_ice_restarts():
    assert "rollback of its own pending offer" in DOC and "ICE restarts in both directions" in DOC
