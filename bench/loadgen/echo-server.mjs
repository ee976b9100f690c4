// A trivial relay with rtcsite's frame shapes (hello, join/joined/peer-joined, relay with
// from): the load generator's own ceiling is measured against it.
import { WebSocketServer } from "ws";

const port = Number(process.argv[2]);
const peers = new Map();
let counter = 0;
const server = new WebSocketServer({ port, host: "127.0.0.1", perMessageDeflate: false });
server.on("connection", (ws) => {
  const id = `p${++counter}`;
  peers.set(id, ws);
  ws.send(JSON.stringify({ type: "hello", peer: id, protocol: 1 }));
  ws.on("message", (data) => {
    const frame = JSON.parse(data);
    if (frame.type === "join") {
      ws.room = frame.room;
      const others = [...peers.entries()].filter(([p, w]) => p !== id && w.room === frame.room);
      ws.send(JSON.stringify({ type: "joined", room: frame.room, peer: id, peers: others.map(([p]) => ({ peer: p })) }));
      for (const [, w] of others) w.send(JSON.stringify({ type: "peer-joined", room: frame.room, peer: id }));
    } else if (frame.to) {
      peers.get(frame.to)?.send(JSON.stringify({ type: frame.type, room: frame.room, from: id, payload: frame.payload }));
    }
  });
  ws.on("close", () => peers.delete(id));
});
server.on("listening", () => process.stdout.write("listening\n"));
