// The device link's key exchange, byte for byte crypto/devicelink.py (docs/protocol.md §15):
// a CPace-style PAKE on X25519. The code's secret is mapped to a point g with Elligator 2
// (RFC 9380 §6.7.1); each device sends Y = X25519(y, g) and both derive K = X25519(y, Y').
// WebCrypto's X25519 deriveBits multiplies a non-extractable scalar by any point, so g and the
// shares need no scalar arithmetic of ours: only the map, in BigInt, is written here.

import { concat, hkdf, hmac, randomBytes, sha256, u32, unhex, equalBytes, VerificationFailed } from "./crypto.js";

const subtle = globalThis.crypto.subtle;
const enc = new TextEncoder();

export const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"; // Crockford base32
export const SLOT_CHARS = 4;
export const CODE_CHARS = 12;
const LABEL = {
  ID: enc.encode("hearth-v1 link id"),
  GENERATOR: enc.encode("hearth-v1 link generator"),
  TRANSCRIPT: enc.encode("hearth-v1 link transcript"),
  KEYS: enc.encode("hearth-v1 link keys"),
  CONFIRM_A: enc.encode("hearth-v1 link confirm A"),
  CONFIRM_B: enc.encode("hearth-v1 link confirm B"),
  PAYLOAD: enc.encode("hearth-v1 link payload"),
};
const PKCS8_X25519 = unhex("302e020100300506032b656e04220420");
const P = 2n ** 255n - 19n;
const A = 486662n;

/** A fresh code, grouped for reading aloud: SSSS-XXXX-XXXX. */
export function newCode() {
  // 256 is a multiple of 32: a byte mod 32 is uniform
  const raw = Array.from(randomBytes(CODE_CHARS), (b) => ALPHABET[b % 32]).join("");
  return `${raw.slice(0, 4)}-${raw.slice(4, 8)}-${raw.slice(8)}`;
}

/** The 12 code characters of what a person typed, or null. */
export function normaliseCode(text) {
  const cleaned = String(text).toUpperCase().replace(/[\s-]/g, "").replace(/O/g, "0").replace(/[IL]/g, "1");
  if (cleaned.length !== CODE_CHARS || [...cleaned].some((c) => !ALPHABET.includes(c))) return null;
  return cleaned;
}

function requireCode(code) {
  const normal = normaliseCode(code);
  if (!normal) throw new RangeError("not a link code");
  return normal;
}

/** The rendezvous id the server sees: a hash of the slot (the first four characters) only. */
export async function linkId(code) {
  const slot = requireCode(code).slice(0, SLOT_CHARS);
  return (await sha256(concat(LABEL.ID, enc.encode(slot)))).slice(0, 16);
}

function mod(v) {
  const r = v % P;
  return r < 0n ? r + P : r;
}

function power(base, exp) {
  let result = 1n;
  let b = mod(base);
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}

const isSquare = (v) => v === 0n || power(v, (P - 1n) / 2n) === 1n;

/** The u-coordinate of map_to_curve_elligator2 on curve25519 (RFC 9380 §6.7.1, Z = 2). */
export function elligator2(r) {
  let tv1 = mod(2n * r * r);
  if (tv1 === P - 1n) tv1 = 0n;
  const x1 = mod(-A * power(1n + tv1, P - 2n));
  const gx1 = mod(x1 * x1 * x1 + A * x1 * x1 + x1);
  return isSquare(gx1) ? x1 : mod(-x1 - A);
}

const fromLittleEndian = (bytes) => bytes.reduceRight((acc, b) => (acc << 8n) | BigInt(b), 0n);

function toLittleEndian(v) {
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return out;
}

/** The code's point g. */
export async function generator(code) {
  const normal = requireCode(code);
  const digest = await sha256(concat(LABEL.GENERATOR, await linkId(normal), enc.encode(normal.slice(SLOT_CHARS))));
  const r = fromLittleEndian(digest) & ((1n << 255n) - 1n);
  return toLittleEndian(elligator2(mod(r)));
}

async function x25519(scalarKey, point) {
  try {
    const pub = await subtle.importKey("raw", point, { name: "X25519" }, false, []);
    return new Uint8Array(await subtle.deriveBits({ name: "X25519", public: pub }, scalarKey, 256));
  } catch {
    throw new VerificationFailed(); // an all-zero result (a low-order point): abort
  }
}

/** A non-extractable X25519 scalar, from given bytes (vectors) or fresh ones. */
export function importScalar(scalar = randomBytes(32)) {
  return subtle.importKey("pkcs8", concat(PKCS8_X25519, scalar), { name: "X25519" }, false, ["deriveBits"]);
}

/** Y = X25519(y, g): what a device sends. */
export async function share(code, scalarKey) {
  return x25519(scalarKey, await generator(code));
}

/** Both sides' keys; `own` is this side's share. */
export async function derive(code, scalarKey, shareA, shareB, own) {
  const other = equalBytes(own, shareA) ? shareB : shareA;
  const shared = await x25519(scalarKey, other);
  const transcript = await sha256(concat(LABEL.TRANSCRIPT, await linkId(code), shareA, shareB));
  const okm = await hkdf(shared, transcript, LABEL.KEYS, 80);
  return {
    transcript,
    confirmA: await hmac(okm.slice(0, 32), concat(LABEL.CONFIRM_A, transcript)),
    confirmB: await hmac(okm.slice(32, 64), concat(LABEL.CONFIRM_B, transcript)),
    sealKey: await subtle.importKey("raw", okm.slice(64), "AES-GCM", false, ["encrypt", "decrypt"]),
  };
}

function chunkAad(keys, index, total) {
  return concat(LABEL.PAYLOAD, keys.transcript, u32(index), u32(total));
}

/** nonce ‖ AES-128-GCM(seal_key, nonce, aad = label ‖ transcript ‖ u32 index ‖ u32 total, chunk) */
export async function sealChunk(keys, index, total, chunk, nonce = randomBytes(12)) {
  const ct = await subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: chunkAad(keys, index, total) }, keys.sealKey, chunk);
  return concat(nonce, new Uint8Array(ct));
}

export async function openChunk(keys, index, total, sealed) {
  try {
    const pt = await subtle.decrypt(
      { name: "AES-GCM", iv: sealed.slice(0, 12), additionalData: chunkAad(keys, index, total) },
      keys.sealKey,
      sealed.slice(12),
    );
    return new Uint8Array(pt);
  } catch {
    throw new VerificationFailed();
  }
}
