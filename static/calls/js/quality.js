// Send quality for the mesh: every peer gets its own copy of our camera, so the per-peer limit
// falls as the call grows. A 1:1 call sends 720p; a six-person mesh (five copies) stays under
// about 2 Mbit/s of uplink at 240p. Applied with RTCRtpSender.setParameters (peer.js) whenever
// somebody joins or leaves.

export function cameraEncoding(peers) {
  if (peers <= 1) return { maxBitrate: 2_500_000, scaleResolutionDownBy: 1 };
  if (peers === 2) return { maxBitrate: 1_200_000, scaleResolutionDownBy: 1.5 };
  if (peers <= 4) return { maxBitrate: 600_000, scaleResolutionDownBy: 2 };
  return { maxBitrate: 350_000, scaleResolutionDownBy: 3 };
}

// A shared screen keeps its resolution (text must stay readable); the frame rate gives way.
export function screenEncoding(peers) {
  return { maxBitrate: peers <= 2 ? 1_500_000 : 800_000, scaleResolutionDownBy: 1 };
}
