// The recovery file, byte for byte crypto/recovery.py (docs/protocol.md §15.6):
// header (magic "HRCV", version, argon2id parameters, salt, nonce) ‖ AES-128-GCM(key, nonce,
// aad = header, bundle) with key = argon2id(NFKC passphrase, salt). argon2id is hash-wasm's
// WebAssembly build (npm, pinned), served from our origin like the Socket.IO client.

import { concat, randomBytes, u32, VerificationFailed } from "./crypto.js";

const subtle = globalThis.crypto.subtle;
export const MAGIC = new TextEncoder().encode("HRCV");
export const HEADER_LEN = 43;
export const DEFAULT_PARAMS = Object.freeze({ memoryKib: 64 * 1024, timeCost: 3, parallelism: 1 });
const LIMITS = { minMemoryKib: 19 * 1024, maxMemoryKib: 256 * 1024, maxTimeCost: 10, maxParallelism: 4 };

/** Not a recovery file (or one of a version this page does not read). */
export class NotARecoveryFile extends Error {}

const ARGON2_SCRIPT = ["/vendor", "hash-wasm-argon2.umd.min.js"].join("/");
let argon2 = null;

async function argon2id() {
  if (!argon2) {
    // Loaded on first use only (a spelled-out specifier would be preloaded with every page).
    await import(ARGON2_SCRIPT); // a UMD script: it sets globalThis.hashwasm
    argon2 = globalThis.hashwasm.argon2id;
  }
  return argon2;
}

export function passphraseBytes(passphrase) {
  return new TextEncoder().encode(String(passphrase).normalize("NFKC"));
}

function checkParams({ memoryKib, timeCost, parallelism }) {
  if (memoryKib < LIMITS.minMemoryKib || memoryKib > LIMITS.maxMemoryKib) throw new NotARecoveryFile("memory out of range");
  if (timeCost < 1 || timeCost > LIMITS.maxTimeCost) throw new NotARecoveryFile("time cost out of range");
  if (parallelism < 1 || parallelism > LIMITS.maxParallelism) throw new NotARecoveryFile("parallelism out of range");
}

async function fileKey(passphrase, salt, params) {
  const derive = await argon2id();
  const raw = await derive({
    password: passphraseBytes(passphrase),
    salt,
    iterations: params.timeCost,
    memorySize: params.memoryKib,
    parallelism: params.parallelism,
    hashLength: 16,
    outputType: "binary",
  });
  return subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}

export function encodeHeader(params, salt, nonce) {
  return concat(MAGIC, Uint8Array.of(1, 1), u32(params.memoryKib), u32(params.timeCost), Uint8Array.of(params.parallelism), salt, nonce);
}

/** The readable part of a file: {params, salt, nonce}, or NotARecoveryFile. */
export function parseHeader(data) {
  if (data.length < HEADER_LEN + 16 || MAGIC.some((b, i) => data[i] !== b)) throw new NotARecoveryFile("not a Hearth recovery file");
  if (data[4] !== 1 || data[5] !== 1) throw new NotARecoveryFile("unknown version");
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const params = { memoryKib: view.getUint32(6), timeCost: view.getUint32(10), parallelism: data[14] };
  checkParams(params);
  return { params, salt: data.slice(15, 31), nonce: data.slice(31, HEADER_LEN) };
}

export async function seal(passphrase, plaintext, params = DEFAULT_PARAMS, { salt = randomBytes(16), nonce = randomBytes(12) } = {}) {
  checkParams(params);
  const header = encodeHeader(params, salt, nonce);
  const key = await fileKey(passphrase, salt, params);
  const ct = await subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: header }, key, plaintext);
  return concat(header, new Uint8Array(ct));
}

/** The bundle, or VerificationFailed (wrong passphrase, a changed byte) / NotARecoveryFile. */
export async function open(passphrase, data) {
  const { params, salt, nonce } = parseHeader(data);
  const key = await fileKey(passphrase, salt, params);
  try {
    const pt = await subtle.decrypt({ name: "AES-GCM", iv: nonce, additionalData: data.slice(0, HEADER_LEN) }, key, data.slice(HEADER_LEN));
    return new Uint8Array(pt);
  } catch {
    throw new VerificationFailed();
  }
}
