// What the member page's first screen needs of crypto.js: bytes, base64url, the account's
// Ed25519 key and its signed challenge, and the content-note rule. Kept apart (issue 19) so that
// the page's bundle does not carry the group cryptography (HPKE, ML-KEM, commits, envelopes),
// which comes with the group code when first needed (later.js). crypto.js re-exports all of it.

const subtle = globalThis.crypto.subtle;
const utf8 = new TextEncoder();

export const LABEL = Object.freeze({
  WRAP: utf8.encode("hearth-v1 wrap"),
  KEY: utf8.encode("hearth-v1 "),
  COMMIT_SIG: utf8.encode("hearth-v1 commit-sig"),
  MSG_SIG: utf8.encode("hearth-v1 msg-sig"),
  FRANK: utf8.encode("hearth-v1 frank"),
  RTAG: utf8.encode("hearth-v1 rtag"),
  CONNECT: utf8.encode("hearth-v1 connect"),
  CHALLENGE: utf8.encode("hearth-v1 challenge"),
  FPR: utf8.encode("hearth-v1 fingerprint"),
  ADMIT: utf8.encode("hearth-v1 admit"),
  INVITE: utf8.encode("hearth-v1 invite"),
  REMOVE: utf8.encode("hearth-v1 remove"),
  LEAVE: utf8.encode("hearth-v1 leave"),
  PQ_KEY: utf8.encode("hearth-v1 pq-key"),
  HYBRID_WRAP: utf8.encode("hearth-v1 hybrid-wrap"),
});

export const ROLE = Object.freeze({ MEMBER: 0, FACILITATOR: 1 });
export const MAX_NOTE_CHARS = 40;

// -- bytes ---------------------------------------------------------------------------------

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function u8(n) {
  return Uint8Array.of(n & 0xff);
}

export function u16(n) {
  return Uint8Array.of((n >>> 8) & 0xff, n & 0xff);
}

export function u32(n) {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, n);
  return out;
}

export function u64(n) {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError("u64 needs a safe non-negative integer");
  const out = new Uint8Array(8);
  const view = new DataView(out.buffer);
  view.setUint32(0, Math.floor(n / 2 ** 32));
  view.setUint32(4, n % 2 ** 32);
  return out;
}

export function equalBytes(a, b) {
  // Constant-time-ish: always looks at every byte of equal-length inputs.
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

export function compareBytes(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

export function randomBytes(n) {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function unhex(text) {
  if (text.length % 2 || /[^0-9a-fA-F]/.test(text)) throw new Error("bad hex");
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

// -- base64url without padding, strict ------------------------------------------------------

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64_INDEX = new Map([...B64].map((c, i) => [c, i]));

export function b64encode(bytes) {
  let out = "";
  let i = 0;
  for (; i + 3 <= bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += B64[n >> 18] + B64[(n >> 12) & 63];
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63];
  }
  return out;
}

export function b64decode(text) {
  if (typeof text !== "string") throw new TypeError("base64url text must be a string");
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error("base64url text contains a character outside [A-Za-z0-9_-]");
  if (text.length % 4 === 1) throw new Error("base64url text has an impossible length");
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let at = 0;
  for (const c of text) {
    value = (value << 6) | B64_INDEX.get(c);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (value >> bits) & 0xff;
    }
  }
  if (value & ((1 << bits) - 1)) throw new Error("base64url text has non-canonical trailing bits");
  return out;
}

// -- the account key ------------------------------------------------------------------------

const PKCS8_ED25519 = unhex("302e020100300506032b657004220420");

export async function importSigningKey(sk, extractable = false) {
  const priv = await subtle.importKey("pkcs8", concat(PKCS8_ED25519, sk), { name: "Ed25519" }, true, ["sign"]);
  const jwk = await subtle.exportKey("jwk", priv);
  const publicKey = b64decode(jwk.x);
  const privateKey = extractable
    ? priv
    : await subtle.importKey("pkcs8", concat(PKCS8_ED25519, sk), { name: "Ed25519" }, false, ["sign"]);
  return { privateKey, publicKey };
}

export async function sign(signingKey, message) {
  return new Uint8Array(await subtle.sign({ name: "Ed25519" }, signingKey.privateKey, message));
}

// -- account challenge ------------------------------------------------------------------------------

export function signChallenge(account, challenge) {
  return sign(account, concat(LABEL.CONNECT, challenge));
}

// A content note holds no control, format (bidi, zero-width) or line/paragraph separator, as in
// crypto/content.py: so it cannot hide or reorder what a reader is shown, and its end is the
// first zero byte.
const FORBIDDEN_IN_NOTE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/** Why `note` is not a content note a receiver accepts, or null. */
export function noteProblem(note) {
  if (typeof note !== "string" || note.trim() === "") return "a content note must not be empty";
  if ([...note].length > MAX_NOTE_CHARS) return `a content note must be at most ${MAX_NOTE_CHARS} characters`;
  if (FORBIDDEN_IN_NOTE.test(note)) return "a content note must not contain control or format characters";
  return null;
}
