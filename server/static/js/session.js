// The connection to the server: HTTP helpers, the account-key challenge, and Socket.IO calls
// that resolve to the reply or reject with a Refused error carrying the server's code.

// A relative path, so that esbuild puts the client in the page's bundle (server/bundles.py).
import { io } from "../vendor/socket.io.esm.min.js";
import { b64decode, b64encode, signChallenge } from "./cryptobase.js";
import { account } from "./keystore.js";
import { errorText } from "./i18n.js";

/** A refusal: `message` is what people read (the catalogue's text for the code, i18n.js);
 * `serverMessage` is the sentence the server (or this page's own check) gave. */
export class Refused extends Error {
  constructor(code, message, detail = {}) {
    super(errorText(code, message, detail));
    this.code = code;
    this.detail = detail;
    this.serverMessage = message || code;
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
// only while well inside its 60 s lifetime. The member page's HTML preloads it (`<link
// rel="preload" as="fetch" crossorigin="anonymous">`: same URL, mode and credentials as this
// fetch, which takes that answer), so it is on its way while the modules still load.
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

// Waits before reconnecting: full jitter, a random wait in [0, min(cap, base * 2^attempt)), as
// HearthClient does (server/backoff.py): pages cut off at once, by a server restart, come back
// spread over a window that doubles with each failed attempt instead of all together.
export const RETRY_BASE_MS = 1000;
export const RETRY_CAP_MS = 30_000;
const STABLE_MS = 10_000;

export function retryDelay(attempt, random = Math.random) {
  return Math.floor(random() * Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.min(attempt, 32)));
}

/**
 * A Socket.IO session. `handlers` maps server events to functions; `onStatus(state, detail)`
 * hears "connected", "disconnected" and "refused". Reconnects by itself (fresh proof each time,
 * jittered back-off) and treats the browser going offline as a drop.
 */
export class Session {
  constructor(handlers = {}, onStatus = () => {}) {
    this.handlers = handlers;
    this.onStatus = onStatus;
    this.socket = null;
  }

  start() {
    this.attempt = 0;
    this.retryTimer = null;
    this.connectedAt = 0;
    this.stopped = false;
    // Reconnection is ours (retryDelay), not socket.io-client's: its back-off stops jittering
    // once it reaches its maximum, so pages cut off together retry in lockstep.
    this.socket = io(location.origin, {
      transports: ["websocket"],
      auth: (cb) => connectProof().then(cb, () => cb({})),
      reconnection: false,
    });
    this.socket.on("connect", () => {
      this.connectedAt = Date.now();
      this.onStatus("connected");
    });
    this.socket.on("disconnect", (reason) => {
      this.onStatus("disconnected", reason);
      // A connection that stayed up a while starts the back-off afresh; one the server keeps
      // ending (a cut-off for not reading) waits longer each time.
      if (this.connectedAt && Date.now() - this.connectedAt > STABLE_MS) this.attempt = 0;
      this.connectedAt = 0;
      // Also after a disconnect the server made (socket.io never retries those): a refusal then
      // says why (a ban, a session ended) instead of the page "reconnecting" forever, and a
      // client that was only cut off comes back.
      if (reason !== "io client disconnect") this.retry();
    });
    this.socket.on("connect_error", (err) => {
      if (this.socket.active) {
        this.onStatus("disconnected", err.message);
        this.retry();
      } else {
        this.onStatus("refused", err.data || { code: err.message });
      }
    });
    this.socket.onAny((event, data) => this.handlers[event]?.(data));
    window.addEventListener("offline", () => {
      clearTimeout(this.retryTimer); // no retries while offline: "online" reconnects at once
      this.retryTimer = null;
      this.socket.disconnect();
    });
    window.addEventListener("online", () => this.connectNow());
  }

  retry() {
    if (this.stopped || this.retryTimer !== null) return;
    this.retryTimer = setTimeout(() => this.connectNow(), retryDelay(this.attempt++));
  }

  connectNow() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (!this.stopped && !this.socket.connected) this.socket.connect();
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
    this.connectNow();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.socket?.disconnect();
  }
}
