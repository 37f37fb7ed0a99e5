// The connection to the server: HTTP helpers, the account-key challenge, and Socket.IO calls
// that resolve to the reply or reject with a Refused error carrying the server's code.

import { io } from "/vendor/socket.io.esm.min.js";
import { b64decode, b64encode, signChallenge } from "./crypto.js";
import { account } from "./keystore.js";

export class Refused extends Error {
  constructor(code, message, detail = {}) {
    super(message || code);
    this.code = code;
    this.detail = detail;
  }
}

export async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = {};
  try {
    data = await response.json();
  } catch {
    data = {};
  }
  if (!response.ok || data.ok === false) {
    const error = data.error || {};
    throw new Refused(error.code || String(response.status), error.message || response.statusText, error);
  }
  return data;
}

async function fetchChallenge() {
  const { challenge } = await api("GET", "/api/challenge");
  return { challenge, fetchedAt: Date.now() };
}

// The first connection's challenge is requested as soon as this module runs, while the page
// still reads its keys and settings, instead of after them (issue 19). It is used once, and
// only while well inside its 60 s lifetime.
let earlyChallenge = fetchChallenge().catch(() => null);
const EARLY_CHALLENGE_MAX_AGE_MS = 30_000;

async function freshChallenge() {
  const early = earlyChallenge && (await earlyChallenge);
  earlyChallenge = null;
  if (early && Date.now() - early.fetchedAt < EARLY_CHALLENGE_MAX_AGE_MS) return early.challenge;
  return (await fetchChallenge()).challenge;
}

async function connectProof() {
  const [key, challenge] = await Promise.all([account(), freshChallenge()]);
  const sig = await signChallenge(key, b64decode(challenge));
  return { v: 1, account_pk: b64encode(key.publicKey), challenge, sig: b64encode(sig) };
}

/**
 * A Socket.IO session. `handlers` maps server events to functions; `onStatus(state, detail)`
 * hears "connected", "disconnected" and "refused". Reconnects by itself (fresh proof each time)
 * and treats the browser going offline as a drop.
 */
export class Session {
  constructor(handlers = {}, onStatus = () => {}) {
    this.handlers = handlers;
    this.onStatus = onStatus;
    this.socket = null;
  }

  start() {
    this.socket = io(location.origin, {
      transports: ["websocket"],
      auth: (cb) => connectProof().then(cb, () => cb({})),
      reconnectionDelay: 300,
      reconnectionDelayMax: 3000,
    });
    this.socket.on("connect", () => this.onStatus("connected"));
    this.socket.on("disconnect", (reason) => {
      this.onStatus("disconnected", reason);
      // socket.io never retries a disconnect the server made (a ban, a session ended, a cut-off
      // for not reading): try once after a pause, so a refusal says why instead of the page
      // "reconnecting" forever, and a client that was only cut off comes back.
      if (reason === "io server disconnect") setTimeout(() => this.socket.connect(), 2000);
    });
    this.socket.on("connect_error", (err) => {
      if (this.socket.active) this.onStatus("disconnected", err.message);
      else this.onStatus("refused", err.data || { code: err.message });
    });
    this.socket.onAny((event, data) => this.handlers[event]?.(data));
    window.addEventListener("offline", () => this.socket.disconnect());
    window.addEventListener("online", () => {
      if (!this.socket.connected) this.socket.connect();
    });
  }

  get connected() {
    return Boolean(this.socket?.connected);
  }

  /** Wait until connected (or until `ms` passes). */
  ready(ms = 15000) {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Refused("unavailable", "not connected")), ms);
      this.socket.once("connect", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Emit with an acknowledgement; never buffered while disconnected (the caller retries). */
  async call(event, payload = {}, ms = 15000) {
    if (!this.connected) throw new Refused("unavailable", "not connected");
    let reply;
    try {
      reply = await this.socket.timeout(ms).emitWithAck(event, payload);
    } catch {
      throw new Refused("timeout", "the server did not answer in time");
    }
    if (!reply || reply.ok !== true) {
      const error = (reply && reply.error) || {};
      throw new Refused(error.code || "internal", error.message || "refused", error);
    }
    return reply;
  }

  reconnect() {
    this.socket.disconnect();
    this.socket.connect();
  }

  stop() {
    this.socket?.disconnect();
  }
}
