// The yardstick bench/run.py measures rtcsite against: Socket.IO with the Redis adapter,
// written as its documentation shows. N processes share one Redis:
//
//   node server.mjs PORT REDIS_URL
//
// Namespace /signal. A client authenticates with any non-empty `auth.token` (the yardstick
// measures relaying, not authentication), emits `join` {room} and gets an ack listing the
// peers already there, and emits `offer`/`answer`/`candidate` {room, to?, payload}: to one
// peer when `to` names its socket id (rtcsite's `to`), else to the rest of the room.
import { createServer } from "node:http";
import { createAdapter } from "@socket.io/redis-adapter";
import { createClient } from "redis";
import { Server } from "socket.io";

const port = Number(process.argv[2]);
const redisUrl = process.argv[3] ?? "redis://127.0.0.1:6379/0";

const pubClient = createClient({ url: redisUrl });
const subClient = pubClient.duplicate();
for (const client of [pubClient, subClient]) client.on("error", (error) => console.error("redis:", error.message));
await Promise.all([pubClient.connect(), subClient.connect()]);

const httpServer = createServer();
const io = new Server(httpServer, { adapter: createAdapter(pubClient, subClient), serveClient: false });
const signal = io.of("/signal");

signal.use((socket, next) => {
  const token = socket.handshake.auth?.token;
  if (typeof token !== "string" || token === "") return next(new Error("unauthorized"));
  next();
});

signal.on("connection", (socket) => {
  socket.on("join", async (frame, ack) => {
    if (typeof ack !== "function") return;
    const room = frame?.room;
    if (typeof room !== "string" || room === "") return ack({ error: "invalid" });
    // Join before taking the list, so a peer joining at the same moment is in one of the
    // two views (its list or our peer-joined), never in neither.
    socket.join(room);
    const sockets = await signal.in(room).fetchSockets();
    const peers = sockets.filter((s) => s.id !== socket.id).map((s) => ({ peer: s.id }));
    ack({ room, peer: socket.id, peers });
    socket.to(room).emit("peer-joined", { room, peer: socket.id });
  });

  for (const type of ["offer", "answer", "candidate"]) {
    socket.on(type, (frame) => {
      const room = frame?.room;
      if (!socket.rooms.has(room)) return;
      // A socket id is a room of its own in Socket.IO: `to` reaches that one peer,
      // on whichever process it is connected to.
      const target = typeof frame.to === "string" ? frame.to : room;
      socket.to(target).emit(type, { room, from: socket.id, payload: frame.payload });
    });
  }
});

httpServer.listen(port, "127.0.0.1");

function stop() {
  io.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
