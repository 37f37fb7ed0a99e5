// Lean Socket.IO load generator for the relay benchmark.
//
// socket.io-client costs 60-80 µs of CPU per delivery and would measure itself, so this speaks
// the protocol directly over `ws`: Engine.IO 4 ("0" open, "2"/"3" ping/pong, "4" message) and
// Socket.IO 5 ("40" connect, "42" event, "43" ack, "44" connect error), text frames only.
// Usage: node loadgen.js <job.json>. Every phase is bounded in time; every socket is closed
// before exit. Loopback only (the job's urls).
//
// The job may be one part of a run split across several generator processes (bench/loadgen.py
// splits it and merges the results): whole rooms, a share of the idle clients (from
// `idle.first` on) and of the open-loop rate. So that no process starts a phase while another
// is still connecting, each waits at a barrier before every step that others must not overlap:
// it writes "ready <step>" on stdout and goes on when "go" arrives on stdin. The result is one
// line, "result <JSON>", with raw counts (deliveries, CPU-seconds, latency samples) that add up
// across processes; the Python side computes the rates and percentiles from their sums.
//
// The server may be several processes: `urls` lists where clients connect (client i of each
// room, and idle client i, to urls[i % urls.length]) and `server_pids` names every process
// whose CPU and RSS count as the server's ({name: pid}): each is reported apart.
"use strict";
const fs = require("fs");
const crypto = require("crypto");
const readline = require("readline");
const WebSocket = require("ws");

const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const URLS = job.urls;
const SERVER_PIDS = job.server_pids;
const urlFor = (i) => URLS[i % URLS.length];
const wsUrl = (url) => url.replace(/^http/, "ws") + "/socket.io/?EIO=4&transport=websocket";
const PKCS8_ED25519 = Buffer.from("302e020100300506032b657004220420", "hex");
const CONNECT_LABEL = Buffer.from("hearth-v1 connect");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();

// ---- the barrier: "ready <step>" out, "go" in ----------------------------------------------

const input = readline.createInterface({ input: process.stdin });
const lines = [];
const waiting = [];
let inputClosed = false;
input.on("line", (line) => (waiting.length ? waiting.shift()(line) : lines.push(line)));
input.on("close", () => {
  inputClosed = true;
  for (const resolve of waiting.splice(0)) resolve(null);
});
const nextLine = () =>
  lines.length || inputClosed
    ? Promise.resolve(lines.length ? lines.shift() : null)
    : new Promise((resolve) => waiting.push(resolve));

async function barrier(step) {
  process.stdout.write(`ready ${step}\n`);
  const line = await nextLine();
  if (line !== "go") throw new Error(`expected "go" after "ready ${step}", got ${JSON.stringify(line)}`);
}

// ---- the server's processes, read from /proc ---------------------------------------------

function cpuSeconds(pid) {
  // /proc/<pid>/stat: utime and stime (fields 14 and 15) in clock ticks, all threads.
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / job.clock_ticks;
}

function rssKb(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]);
}

// {name: reading} for every server process.
function perProcess(read) {
  return Object.fromEntries(Object.entries(SERVER_PIDS).map(([name, pid]) => [name, read(pid)]));
}

const ownCpuSeconds = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
};

// ---- one connection -----------------------------------------------------------------------

function connect(auth, url) {
  return new Promise((resolve, reject) => {
    // perMessageDeflate is offered, as browsers and socket.io-client do; the server decides.
    const ws = new WebSocket(wsUrl(url), { origin: url, perMessageDeflate: true });
    const client = { ws, nextAck: 1, acks: new Map(), onMsg: null, closed: false };
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error("connect timeout"));
    }, 30000);
    ws.on("message", (data) => {
      // Look at the first bytes only: a delivery ("42[...") is counted without decoding.
      const type = data[0];
      if (type === 0x34 /* "4" message */) {
        const packet = data[1];
        if (packet === 0x32 /* "2" event */) {
          if (client.onMsg) client.onMsg(data);
        } else if (packet === 0x33 /* "3" ack */) {
          const text = data.toString();
          const bracket = text.indexOf("[");
          const id = Number(text.slice(2, bracket));
          const callback = client.acks.get(id);
          client.acks.delete(id);
          if (callback) callback(text.slice(bracket));
        } else if (packet === 0x30 /* "0" connected */) {
          clearTimeout(timer);
          resolve(client);
        } else if (packet === 0x34 /* "4" connect error */) {
          clearTimeout(timer);
          ws.terminate();
          reject(new Error("refused: " + data.toString().slice(2)));
        }
      } else if (type === 0x32 /* "2" ping */) {
        ws.send("3");
      } else if (type === 0x30 /* "0" open */) {
        ws.send("40" + JSON.stringify(auth));
      }
    });
    ws.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    ws.on("close", () => {
      client.closed = true;
    });
  });
}

function emit(client, event, data, callback) {
  const id = client.nextAck++;
  client.acks.set(id, callback);
  client.ws.send("42" + id + JSON.stringify([event, data]));
}

async function closeAll(clients) {
  for (const client of clients) client.ws.close();
  const deadline = now() + 5000;
  while (clients.some((c) => !c.closed) && now() < deadline) await sleep(20);
  for (const client of clients) if (!client.closed) client.ws.terminate();
}

// ---- who connects, with what, and what each sends ----------------------------------------

const keys = new Map(); // account public key -> KeyObject, made once
async function hearthAuth(account, url) {
  let key = keys.get(account.pk);
  if (!key) {
    const der = Buffer.concat([PKCS8_ED25519, Buffer.from(account.sk, "base64url")]);
    key = crypto.createPrivateKey({ key: der, format: "der", type: "pkcs8" });
    keys.set(account.pk, key);
  }
  // From the process the client then connects to, whatever a challenge's scope.
  const { challenge } = await fetchChallenge(url);
  const signed = Buffer.concat([CONNECT_LABEL, Buffer.from(challenge, "base64url")]);
  const sig = crypto.sign(null, signed, key).toString("base64url");
  return { v: 1, account_pk: account.pk, challenge, sig };
}

// fetch keeps connections alive, and may reuse one just as the server closes it for being idle
// (uvicorn's keep-alive timeout): "other side closed". Such a request is tried again.
async function fetchChallenge(url, attempts = 3) {
  for (let i = 1; ; i++) {
    try {
      const response = await fetch(url + "/api/challenge", { headers: { origin: url } });
      return await response.json();
    } catch (error) {
      if (i >= attempts) throw error;
    }
  }
}

// A coalesced frame (Hearth's msg.batch) carries several deliveries; the sender's own messages
// come back in it too and are not deliveries. Plain frames are counted without decoding.
const BATCH_PREFIX = '42["msg.batch"';
function isBatch(data) {
  return data.length > BATCH_PREFIX.length && data.toString("latin1", 0, BATCH_PREFIX.length) === BATCH_PREFIX;
}
function payloadsOf(client, data) {
  const [event, payload] = JSON.parse(data.toString().slice(2));
  if (event !== "msg.batch") return [payload];
  return payload.messages.filter((m) => m.sender_id !== client.member.sender);
}

// A member: where it connects, how it authenticates and where its next message comes from
// (null: pool used up). Members of one room alternate between the urls.
function members(topology) {
  const list = [];
  if (job.kind === "hearth") {
    topology.rooms.forEach((room, r) => {
      room.members.forEach((member, m) => {
        member.next = member.next || 0; // the cursor outlives a phase: never reuse a msg_id
        const url = urlFor(m);
        list.push({
          room: r,
          url,
          sender: member.member_id,
          auth: () => hearthAuth(member, url),
          message: () => {
            if (member.next >= member.pool.length) return null;
            const [msgId, envelope] = member.pool[member.next++];
            return { key: msgId, data: { group_id: room.group_id, envelope } };
          },
        });
      });
    });
  } else {
    let counter = 0;
    // this process's rooms, by their numbers in the whole run (names and senders stay distinct
    // across generator processes)
    for (const r of topology.room_ids) {
      for (let m = 0; m < topology.members; m++) {
        const room = "r" + r;
        // (a coalescing relay's msg.batch carries the sender's own messages too: by this it
        // knows them, as Hearth's clients know theirs by sender_id)
        const sender = "m" + (r * topology.members + m);
        list.push({
          room: r,
          url: urlFor(m),
          sender,
          auth: async () => ({ room }),
          message: () => {
            const key = String(counter++);
            return { key, data: { room, k: key, sender_id: sender, body: job.body } };
          },
        });
      }
    }
  }
  return list;
}

async function connectAll(list, concurrency) {
  const clients = new Array(list.length);
  let next = 0;
  const worker = async () => {
    while (next < list.length) {
      const i = next++;
      clients[i] = await connect(await list[i].auth(), list[i].url);
      clients[i].member = list[i];
    }
  };
  const started = now();
  await Promise.all(Array.from({ length: Math.min(concurrency, list.length) }, worker));
  return { clients, ms: now() - started };
}

// ---- phases -------------------------------------------------------------------------------

// RSS is the server's, read by every process at the same barriers (bench/loadgen.py keeps the
// first process's readings); the connect time is this process's, from the common start.
async function idlePhase(spec) {
  await sleep(500);
  await barrier("idle");
  const rssBefore = perProcess(rssKb);
  await barrier("idle-connect");
  const list = [];
  for (let i = spec.first; i < spec.first + spec.count; i++) {
    const url = urlFor(i);
    if (job.kind === "hearth") {
      const account = job.idle_accounts[i % job.idle_accounts.length];
      list.push({ url, auth: () => hearthAuth(account, url) });
    } else {
      const room = "r" + (i % 100);
      list.push({ url, auth: async () => ({ room }) });
    }
  }
  const l0 = ownCpuSeconds();
  const { clients, ms } = await connectAll(list, spec.concurrency);
  const connectCpu = ownCpuSeconds() - l0;
  await barrier("idle-connected");
  await sleep(1500);
  const rssIdle = perProcess(rssKb);
  await barrier("idle-measured");
  await closeAll(clients);
  await sleep(500);
  return {
    count: spec.count,
    connect_ms: ms,
    loadgen_cpu_s: connectCpu,
    rss_before_kb: rssBefore,
    rss_idle_kb: rssIdle,
  };
}

async function saturationPhase(spec) {
  const { clients } = await connectAll(members(spec.topology), spec.concurrency);
  await barrier("saturation " + spec.name);
  let delivered = 0;
  let acked = 0;
  let outstanding = 0;
  let exhausted = 0;
  let firstError = null;
  let running = true;
  for (const client of clients) {
    client.onMsg = (data) => {
      delivered += isBatch(data) ? payloadsOf(client, data).length : 1;
    };
  }
  const pump = (client) => {
    const message = client.member.message();
    if (message === null) {
      exhausted++;
      return;
    }
    outstanding++;
    emit(client, "msg.send", message.data, (reply) => {
      outstanding--;
      acked++;
      if (firstError === null && !reply.startsWith('[{"ok":true')) firstError = reply;
      if (running) pump(client);
    });
  };
  for (const client of clients) for (let w = 0; w < spec.window; w++) pump(client);
  await sleep(spec.warmup_s * 1000);
  const d0 = delivered;
  const a0 = acked;
  const s0 = perProcess(cpuSeconds);
  const l0 = ownCpuSeconds();
  const t0 = now();
  while (now() - t0 < spec.duration_s * 1000 && exhausted === 0) await sleep(50);
  const seconds = (now() - t0) / 1000;
  const deliveries = delivered - d0;
  const sent = acked - a0;
  const s1 = perProcess(cpuSeconds);
  const ownCpu = ownCpuSeconds() - l0;
  running = false;
  const drainUntil = now() + 5000;
  while (outstanding > 0 && now() < drainUntil) await sleep(20);
  // every process drains before any closes: a close must not land in another's window
  await barrier("saturation-closing " + spec.name);
  await closeAll(clients);
  await sleep(300);
  const serverCpu = {};
  for (const name of Object.keys(SERVER_PIDS)) serverCpu[name] = s1[name] - s0[name];
  return {
    rooms: clients.length / spec.members,
    members: spec.members,
    seconds,
    deliveries,
    sent,
    server_cpu_s: serverCpu,
    loadgen_cpu_s: ownCpu,
    pool_exhausted: exhausted > 0,
    error: firstError,
  };
}

// On clients already connected (the limits phase follows on the latency phase's), left open.
async function latencyPhase(step, spec, clients) {
  await barrier(step);
  const sentAt = new Map();
  const samples = [];
  let recordFrom = Infinity;
  let firstError = null;
  let delivered = 0;
  let frames = 0;
  // Hearth deliveries whose sender is connected to another process than the recipient.
  const senders = clients.filter((c) => c.member.sender !== undefined);
  const homeOf = new Map(senders.map((c) => [c.member.sender, c.member.url]));
  let crossed = 0;
  for (const client of clients) {
    client.onMsg = (data) => {
      const arrived = now();
      frames++;
      for (const payload of payloadsOf(client, data)) {
        const sent = sentAt.get(payload[job.key_field]);
        const home = homeOf.get(payload.sender_id);
        if (home !== undefined && home !== client.member.url) crossed++;
        delivered++;
        if (sent !== undefined && sent >= recordFrom) samples.push(arrived - sent);
      }
    };
  }
  // Open loop: messages go out on a schedule, whatever the server's pace; senders rotate
  // across rooms so every room carries the same load.
  const perSecond = spec.deliveries_per_s / (spec.members - 1);
  const order = [];
  const rooms = clients.length / spec.members;
  for (let m = 0; m < spec.members; m++) {
    for (let r = 0; r < rooms; r++) order.push(clients[r * spec.members + m]);
  }
  const started = now();
  const totalMs = (spec.warmup_s + spec.duration_s) * 1000;
  let sent = 0;
  let exhausted = false;
  recordFrom = started + spec.warmup_s * 1000;
  let d0 = 0;
  let f0 = 0;
  let s0 = null;
  let l0 = 0;
  let t0 = 0;
  while (now() - started < totalMs && !exhausted) {
    if (s0 === null && now() >= recordFrom) {
      d0 = delivered;
      f0 = frames;
      s0 = perProcess(cpuSeconds);
      l0 = ownCpuSeconds();
      t0 = now();
    }
    const due = Math.floor(((now() - started) / 1000) * perSecond);
    while (sent < due) {
      const client = order[sent % order.length];
      const message = client.member.message();
      if (message === null) {
        exhausted = true;
        break;
      }
      sentAt.set(message.key, now());
      emit(client, "msg.send", message.data, (reply) => {
        if (firstError === null && !reply.startsWith('[{"ok":true')) firstError = reply;
      });
      sent++;
    }
    await sleep(1);
  }
  const deliveries = delivered - d0;
  const seconds = s0 === null ? 0 : (now() - t0) / 1000;
  const s1 = perProcess(cpuSeconds);
  const serverCpu = {};
  for (const name of Object.keys(SERVER_PIDS)) serverCpu[name] = s0 === null ? 0 : s1[name] - s0[name];
  const ownCpu = ownCpuSeconds() - l0;
  const deliveredFrames = frames - f0;
  await sleep(1000);
  return {
    deliveries_per_s_target: spec.deliveries_per_s,
    seconds,
    deliveries,
    // every send-to-delivery time in ms (µs precision), merged across processes for percentiles
    samples_ms: samples.map((ms) => Math.round(ms * 1000) / 1000),
    // the same open-loop window: what a delivery costs at this offered rate, and how many
    // deliveries a frame carried (1.00: coalescing found nothing to put together)
    server_cpu_s: serverCpu,
    loadgen_cpu_s: ownCpu,
    frames: deliveredFrames,
    deliveries_across_processes: crossed,
    pool_exhausted: exhausted,
    error: firstError,
  };
}

async function main() {
  const result = { saturation: {} };
  result.idle = await idlePhase(job.idle);
  for (const spec of job.saturation) {
    spec.topology = job.kind === "hearth" ? job.topologies[spec.name] : spec;
    result.saturation[spec.name] = await saturationPhase(spec);
  }
  const lat = job.latency;
  lat.topology = job.kind === "hearth" ? job.topologies[lat.name] : lat;
  const { clients } = await connectAll(members(lat.topology), lat.concurrency);
  result.latency = await latencyPhase("latency", lat, clients);
  if (job.limits) result.limits = await latencyPhase("limits", job.limits, clients); // same topology
  await barrier("closing");
  await closeAll(clients);
  // Written before exiting: a pipe takes 64 KiB at once, and process.exit() drops the rest of a
  // longer line (every latency sample of a full run is in it).
  const line = "result " + JSON.stringify(result) + "\n";
  await new Promise((resolve) => process.stdout.write(line, resolve));
}

main().then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(String(error && error.stack ? error.stack : error) + "\n");
    process.exit(1);
  },
);
