// Bare Socket.IO 4.8 relay with the benchmark's semantics, default options otherwise:
// a client joins the room named in its auth; "msg.send" is broadcast as "msg" to the room
// except the sender, then acknowledged. Usage: node server.js <port>. Loopback only.
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const port = Number(process.argv[2]);
// Anything but /socket.io/ (which socket.io intercepts) gets a 404, so a probe sees we are up.
const httpServer = http.createServer((req, res) => {
  res.writeHead(404);
  res.end();
});
const io = new Server(httpServer, { cors: { origin: "*" } });

io.on("connection", (socket) => {
  const room = socket.handshake.auth && socket.handshake.auth.room;
  if (typeof room === "string") socket.join(room);
  socket.on("msg.send", (data, ack) => {
    socket.to(data.room).emit("msg", data);
    if (typeof ack === "function") ack({ ok: true });
  });
});

httpServer.listen(port, "127.0.0.1", () => console.log("ready"));
process.on("SIGTERM", () => {
  io.close();
  process.exit(0);
});
