// Hearth v1 cryptography in the browser: the WebCrypto twin of the Python package crypto/.
// Byte layouts follow docs/protocol.md (notes/crypto-spec.md); no JS crypto library is used.
// HPKE (RFC 9180, base mode, DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-128-GCM) is composed
// from X25519 deriveBits, HMAC (for Extract/Expand) and AES-GCM.

import {
  LABEL,
  ROLE,
  MAX_NOTE_CHARS,
  concat,
  u8,
  u16,
  u32,
  u64,
  equalBytes,
  compareBytes,
  randomBytes,
  hex,
  unhex,
  b64encode,
  b64decode,
  importSigningKey,
  sign,
  signChallenge,
  noteProblem,
} from "./cryptobase.js";

export * from "./cryptobase.js";

const subtle = globalThis.crypto.subtle;
const utf8 = new TextEncoder();

export const VERSION = 1;
export const SUITE = 1;
// Suite 1 with each epoch wrap under X25519 and ML-KEM-768 together (docs/protocol.md §6.9);
// only commits carry it, message headers stay suite 1.
export const SUITE_HYBRID = 2;
export const PREFIX = Uint8Array.of(0x01, 0x00, 0x01);
const HYBRID_PREFIX = Uint8Array.of(0x01, 0x00, 0x02);
const PQ_PK_LEN = 1184;
const PQ_CT_LEN = 1088;
const PQ_KEY_LEN = PQ_PK_LEN + 64;
const HYBRID_WRAP_LEN = 32 + PQ_CT_LEN + 32 + 16;
const MLKEM = { name: "ML-KEM-768" };
export const MAX_CONTENT = 16380;
export const MAX_ROSTER = 1000;
export const PAD_BUCKETS = [128, 256, 512, 1024, 2048, 4096, 8192, 16384];
export const CONTENT_TYPE_TEXT = 1;
export const CONTENT_TYPE_NOTED_TEXT = 2; // note ‖ 0x00 ‖ text (docs/protocol.md §7.3)
export const HEADER_LEN = 103;
const ENTRY_LEN = 80;
const WRAP_LEN = 80;
const TRAILER_LEN = 96;

// Roster changes a commit carries (docs/protocol.md §6.4).
// Kinds 1 and 2 are the first layout's admissions, which bound no epoch: parsed (old commits hold
// them), never accepted. An admission made at epoch e is valid in commits e+1 and e+2 only.
export const AUTH = Object.freeze({ LEGACY_ADMIT: 1, LEGACY_INVITE_ADMIT: 2, REMOVE: 3, LEAVE: 4, ADMIT: 5, INVITE_ADMIT: 6 });
export const ADMISSION_WINDOW = 2;
const MAX_AUTHORISATIONS = 2 * MAX_ROSTER;

/** The one opaque failure of every verify/open operation. */
export class VerificationFailed extends Error {
  constructor() {
    super("verification failed");
    this.name = "VerificationFailed";
  }
}

// -- bytes (concat, u8 ... unhex: cryptobase.js) ---------------------------------------------

function readUint(bytes, at, size) {
  let n = 0;
  for (let i = 0; i < size; i++) n = n * 256 + bytes[at + i];
  if (!Number.isSafeInteger(n)) throw new RangeError("integer beyond 2^53");
  return n;
}

// -- hashes, HMAC, HKDF -----------------------------------------------------------------------

export async function sha256(data) {
  return new Uint8Array(await subtle.digest("SHA-256", data));
}

async function hmacKey(key) {
  // WebCrypto refuses a zero-length HMAC key; HMAC pads keys with zeros, so 32 zeros is the same.
  const raw = key.length === 0 ? new Uint8Array(32) : key;
  return subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
}

export async function hmac(key, data) {
  return new Uint8Array(await subtle.sign("HMAC", await hmacKey(key), data));
}

export async function hkdfExtract(salt, ikm) {
  return hmac(salt, ikm);
}

export async function hkdfExpand(prk, info, length) {
  if (length > 255 * 32) throw new RangeError("HKDF-Expand length too large");
  const key = await hmacKey(prk);
  const out = new Uint8Array(length);
  let block = new Uint8Array(0);
  for (let i = 1, at = 0; at < length; i++) {
    block = new Uint8Array(await subtle.sign("HMAC", key, concat(block, info, u8(i))));
    out.set(block.subarray(0, Math.min(32, length - at)), at);
    at += 32;
  }
  return out;
}

/** HKDF-SHA256 of ikm (bytes, or a non-extractable HKDF CryptoKey). */
export async function hkdf(ikm, salt, info, length) {
  const key =
    ikm instanceof CryptoKey ? ikm : await subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  const bits = await subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info }, key, length * 8);
  return new Uint8Array(bits);
}

/** Turn an epoch secret into a non-extractable key usable by the key schedule. */
export async function importEpochSecret(secret) {
  return subtle.importKey("raw", secret, "HKDF", false, ["deriveBits"]);
}

// -- keys --------------------------------------------------------------------------------------

const PKCS8_X25519 = unhex("302e020100300506032b656e04220420");

export async function importKemKey(sk, extractable = false) {
  const pkcs8 = concat(PKCS8_X25519, sk);
  const priv = await subtle.importKey("pkcs8", pkcs8, { name: "X25519" }, true, ["deriveBits"]);
  const publicKey = b64decode((await subtle.exportKey("jwk", priv)).x);
  const privateKey = extractable ? priv : await subtle.importKey("pkcs8", pkcs8, { name: "X25519" }, false, ["deriveBits"]);
  return { privateKey, publicKey };
}

export async function generateSigningKey() {
  const pair = await subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  return { privateKey: pair.privateKey, publicKey: new Uint8Array(await subtle.exportKey("raw", pair.publicKey)) };
}

export async function generateKemKey() {
  const pair = await subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
  return { privateKey: pair.privateKey, publicKey: new Uint8Array(await subtle.exportKey("raw", pair.publicKey)) };
}

// -- ML-KEM-768 (FIPS 203), the post-quantum half of suite 2 --------------------------------------

let hybridSupport = null;

/** Whether this browser's WebCrypto has ML-KEM-768 (Chromium does; others may not yet). */
export function supportsHybrid() {
  hybridSupport ??= subtle
    .generateKey(MLKEM, false, ["encapsulateBits", "decapsulateBits"])
    .then(() => true, () => false);
  return hybridSupport;
}

export async function generatePqKey() {
  const pair = await subtle.generateKey(MLKEM, false, ["encapsulateBits", "decapsulateBits"]);
  return { privateKey: pair.privateKey, publicKey: new Uint8Array(await subtle.exportKey("raw-public", pair.publicKey)) };
}

/** The ML-KEM-768 key pair of a 64-byte seed d ‖ z (FIPS 203 §7.1). */
export async function importPqKey(seed) {
  const extractable = await subtle.importKey("raw-seed", seed, MLKEM, true, ["decapsulateBits"]);
  const publicKey = b64decode((await subtle.exportKey("jwk", extractable)).pub);
  const privateKey = await subtle.importKey("raw-seed", seed, MLKEM, false, ["decapsulateBits"]);
  return { privateKey, publicKey };
}

/** Fresh per-group member keys: random member_id, Ed25519 signing key, X25519 KEM key, and an
 * ML-KEM-768 key where the browser has it (null: this device can only take part in suite 1). */
export async function generateMemberKeys() {
  const pq = (await supportsHybrid()) ? await generatePqKey() : null;
  return { memberId: randomBytes(16), signing: await generateSigningKey(), kem: await generateKemKey(), pq };
}

export async function importMemberKeys(memberId, sigSk, kemSk, pqSeed = null) {
  const pq = pqSeed ? await importPqKey(pqSeed) : null;
  return { memberId, signing: await importSigningKey(sigSk), kem: await importKemKey(kemSk), pq };
}

export function pqKeyMessage(groupId, memberId, pqPk) {
  return concat(LABEL.PQ_KEY, groupId, memberId, pqPk);
}

/** The member's ML-KEM public key signed for the group: {publicKey, signature} (§6.9). */
export async function signPqKey(groupId, member) {
  return { publicKey: member.pq.publicKey, signature: await sign(member.signing, pqKeyMessage(groupId, member.memberId, member.pq.publicKey)) };
}

export function encodePqKey(pqKey) {
  return concat(pqKey.publicKey, pqKey.signature);
}

export function parsePqKey(raw) {
  if (raw.length !== PQ_KEY_LEN) throw new Error("pq key: wrong length");
  return { publicKey: raw.slice(0, PQ_PK_LEN), signature: raw.slice(PQ_PK_LEN) };
}

// libsodium, which the Python side verifies with, refuses public keys and R values of small order
// and public keys that are not canonical encodings; WebCrypto (BoringSSL in Chromium) accepts them,
// and a signature under the identity point verifies for any message. Refused here too, so that the
// page and the Python client never disagree on a signature.
const SMALL_ORDER = [
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
].map(unhex);

function smallOrder(point) {
  return SMALL_ORDER.some((bad) => bad.every((b, i) => (i === 31 ? point[31] & 0x7f : point[i]) === b));
}

function nonCanonical(point) {
  return (point[31] & 0x7f) === 0x7f && point.subarray(1, 31).every((b) => b === 0xff) && point[0] >= 0xed;
}

export async function verifySignature(publicKey, signature, message) {
  if (publicKey.length !== 32 || signature.length !== 64) throw new VerificationFailed();
  if (smallOrder(publicKey) || nonCanonical(publicKey) || smallOrder(signature.subarray(0, 32))) throw new VerificationFailed();
  let ok = false;
  try {
    const key = await subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
    ok = await subtle.verify({ name: "Ed25519" }, key, signature, message);
  } catch {
    ok = false;
  }
  if (!ok) throw new VerificationFailed();
}

export async function fingerprint(publicKey) {
  const digest = hex((await sha256(concat(LABEL.FPR, publicKey))).subarray(0, 10));
  return digest.match(/.{4}/g).join(" ");
}

// -- HPKE (RFC 9180) base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM ---------

const HPKE_V1 = utf8.encode("HPKE-v1");
const KEM_SUITE = concat(utf8.encode("KEM"), u16(0x0020));
const HPKE_SUITE = concat(utf8.encode("HPKE"), u16(0x0020), u16(0x0001), u16(0x0001));
const EMPTY = new Uint8Array(0);

function labeledExtract(suite, salt, label, ikm) {
  return hkdfExtract(salt, concat(HPKE_V1, suite, utf8.encode(label), ikm));
}

function labeledExpand(suite, prk, label, info, length) {
  return hkdfExpand(prk, concat(u16(length), HPKE_V1, suite, utf8.encode(label), info), length);
}

/** RFC 9180 §7.1.3 DeriveKeyPair for X25519: sk is the labeled expand of ikm (clamped on use). */
export async function deriveKemKeyPair(ikm) {
  const prk = await labeledExtract(KEM_SUITE, EMPTY, "dkp_prk", ikm);
  const sk = await labeledExpand(KEM_SUITE, prk, "sk", EMPTY, 32);
  return { sk, ...(await importKemKey(sk)) };
}

async function dh(privateKey, publicKeyBytes) {
  try {
    const pub = await subtle.importKey("raw", publicKeyBytes, { name: "X25519" }, false, []);
    // Chromium throws on an all-zero shared secret (low-order point), as RFC 9180 §7.1.4 wants.
    const shared = new Uint8Array(await subtle.deriveBits({ name: "X25519", public: pub }, privateKey, 256));
    if (shared.every((b) => b === 0)) throw new Error("zero");
    return shared;
  } catch {
    throw new VerificationFailed();
  }
}

async function extractAndExpand(dhBytes, kemContext) {
  const prk = await labeledExtract(KEM_SUITE, EMPTY, "eae_prk", dhBytes);
  return labeledExpand(KEM_SUITE, prk, "shared_secret", kemContext, 32);
}

async function keySchedule(sharedSecret, info) {
  const pskIdHash = await labeledExtract(HPKE_SUITE, EMPTY, "psk_id_hash", EMPTY);
  const infoHash = await labeledExtract(HPKE_SUITE, EMPTY, "info_hash", info);
  const context = concat(u8(0), pskIdHash, infoHash);
  const secret = await labeledExtract(HPKE_SUITE, sharedSecret, "secret", EMPTY);
  const key = await labeledExpand(HPKE_SUITE, secret, "key", context, 16);
  const baseNonce = await labeledExpand(HPKE_SUITE, secret, "base_nonce", context, 12);
  const exporterSecret = await labeledExpand(HPKE_SUITE, secret, "exp", context, 32);
  return new HpkeContext(key, baseNonce, exporterSecret, sharedSecret);
}

/** An HPKE encryption context (RFC 9180 §5.2); seal/open advance the sequence number. */
export class HpkeContext {
  constructor(key, baseNonce, exporterSecret, sharedSecret) {
    this.key = key;
    this.baseNonce = baseNonce;
    this.exporterSecret = exporterSecret;
    this.sharedSecret = sharedSecret;
    this.seq = 0;
    this.enc = null;
  }

  nonce() {
    const nonce = this.baseNonce.slice();
    const seq = u64(this.seq);
    for (let i = 0; i < 8; i++) nonce[4 + i] ^= seq[i];
    return nonce;
  }

  async #aesKey() {
    return subtle.importKey("raw", this.key, "AES-GCM", false, ["encrypt", "decrypt"]);
  }

  async seal(aad, pt) {
    const ct = await subtle.encrypt({ name: "AES-GCM", iv: this.nonce(), additionalData: aad }, await this.#aesKey(), pt);
    this.seq += 1;
    return new Uint8Array(ct);
  }

  async open(aad, ct) {
    let pt;
    try {
      pt = await subtle.decrypt({ name: "AES-GCM", iv: this.nonce(), additionalData: aad }, await this.#aesKey(), ct);
    } catch {
      throw new VerificationFailed();
    }
    this.seq += 1;
    return new Uint8Array(pt);
  }
}

/** SetupBaseS; `ikmE` makes the ephemeral key deterministic (for test vectors only). */
export async function setupBaseS(pkR, info, { ikmE } = {}) {
  const eph = ikmE ? await deriveKemKeyPair(ikmE) : await generateKemKey();
  const shared = await extractAndExpand(await dh(eph.privateKey, pkR), concat(eph.publicKey, pkR));
  const context = await keySchedule(shared, info);
  context.enc = eph.publicKey;
  return context;
}

/** SetupBaseR: `kem` is {privateKey, publicKey} of the recipient. */
export async function setupBaseR(enc, kem, info) {
  const shared = await extractAndExpand(await dh(kem.privateKey, enc), concat(enc, kem.publicKey));
  return keySchedule(shared, info);
}

/** Single-shot seal of a secret, empty AAD: enc(32) ‖ ct ‖ tag (pyca's layout). */
export async function hpkeSeal(pkR, info, pt, options = {}) {
  const context = await setupBaseS(pkR, info, options);
  return concat(context.enc, await context.seal(EMPTY, pt));
}

export async function hpkeOpen(kem, info, sealed) {
  if (sealed.length < 32 + 16) throw new VerificationFailed();
  const context = await setupBaseR(sealed.subarray(0, 32), kem, info);
  return context.open(EMPTY, sealed.subarray(32));
}

// -- hybrid wrap of suite 2 (docs/protocol.md §6.9) ----------------------------------------------

/** key(16) ‖ nonce(12) = HKDF-SHA256(salt = "", ikm = ss_m ‖ ss_x ‖ ct_m ‖ enc_x ‖ pq_pk ‖ kem_pk,
 * info = LABEL_HYBRID_WRAP ‖ info): both shared secrets, both ciphertexts, both public keys. */
export async function hybridCombine({ ssM, ssX, ctM, encX, pqPk, kemPk, info }) {
  // An empty HKDF salt is HashLen zero bytes (RFC 5869 §2.2).
  const okm = await hkdf(concat(ssM, ssX, ctM, encX, pqPk, kemPk), new Uint8Array(32), concat(LABEL.HYBRID_WRAP, info), 28);
  return { key: okm.slice(0, 16), nonce: okm.slice(16) };
}

async function aesGcm(op, key, nonce, data) {
  const k = await subtle.importKey("raw", key, "AES-GCM", false, [op]);
  return new Uint8Array(await subtle[op]({ name: "AES-GCM", iv: nonce }, k, data));
}

/** enc_x(32) ‖ ct_m(1088) ‖ AES-128-GCM(secret)(48); `ephemeralSk` fixes the X25519 half (vectors). */
export async function hybridSeal(kemPk, pqPk, info, secret, { ephemeralSk } = {}) {
  const eph = ephemeralSk ? await importKemKey(ephemeralSk) : await generateKemKey();
  const ssX = await dh(eph.privateKey, kemPk);
  let ssM, ctM;
  try {
    const pub = await subtle.importKey("raw-public", pqPk, MLKEM, false, ["encapsulateBits"]);
    const encapsulated = await subtle.encapsulateBits(MLKEM, pub);
    ssM = new Uint8Array(encapsulated.sharedKey);
    ctM = new Uint8Array(encapsulated.ciphertext);
  } catch {
    throw new Error("pq_pk is not a valid ML-KEM-768 public key");
  }
  const { key, nonce } = await hybridCombine({ ssM, ssX, ctM, encX: eph.publicKey, pqPk, kemPk, info });
  return concat(eph.publicKey, ctM, await aesGcm("encrypt", key, nonce, secret));
}

/** Open with both private keys: `kem` and `pq` as {privateKey, publicKey}; else VerificationFailed. */
export async function hybridOpen(kem, pq, info, wrap) {
  if (wrap.length !== HYBRID_WRAP_LEN) throw new VerificationFailed();
  const encX = wrap.subarray(0, 32);
  const ctM = wrap.subarray(32, 32 + PQ_CT_LEN);
  const ssX = await dh(kem.privateKey, encX);
  try {
    // A tampered ciphertext decapsulates to an unrelated secret (FIPS 203 implicit rejection).
    const ssM = new Uint8Array(await subtle.decapsulateBits(MLKEM, pq.privateKey, ctM));
    const { key, nonce } = await hybridCombine({ ssM, ssX, ctM, encX, pqPk: pq.publicKey, kemPk: kem.publicKey, info });
    return await aesGcm("decrypt", key, nonce, wrap.subarray(32 + PQ_CT_LEN));
  } catch {
    throw new VerificationFailed();
  }
}

// -- key schedule ---------------------------------------------------------------------------------

export function scheduleSalt(groupId, epoch) {
  return concat(groupId, u64(epoch));
}

export function scheduleKey(epochSecret, groupId, epoch, label, length) {
  return hkdf(epochSecret, scheduleSalt(groupId, epoch), concat(LABEL.KEY, label), length);
}

export function confirmKey(epochSecret, groupId, epoch) {
  return scheduleKey(epochSecret, groupId, epoch, utf8.encode("confirm"), 32);
}

export function senderKey(epochSecret, groupId, epoch, memberId) {
  return scheduleKey(epochSecret, groupId, epoch, concat(utf8.encode("sender"), memberId), 16);
}

// -- roster ----------------------------------------------------------------------------------------

export function rosterEntry(member) {
  return { memberId: member.memberId, sigPk: member.signing.publicKey, kemPk: member.kem.publicKey };
}

export function sortRoster(entries) {
  const sorted = [...entries].sort((a, b) => compareBytes(a.memberId, b.memberId));
  for (let i = 1; i < sorted.length; i++) {
    if (compareBytes(sorted[i - 1].memberId, sorted[i].memberId) === 0) throw new Error("duplicate member_id in roster");
  }
  if (sorted.length < 1 || sorted.length > MAX_ROSTER) throw new Error("roster size must be 1 to 1000");
  return sorted;
}

/** The roster as a commit carries it; with `pqKeys` (suite 2, in roster order) each entry is
 * followed by its member's signed ML-KEM key. */
export function encodeRoster(entries, pqKeys = null) {
  return concat(...entries.flatMap((e, i) => (pqKeys ? [e.memberId, e.sigPk, e.kemPk, encodePqKey(pqKeys[i])] : [e.memberId, e.sigPk, e.kemPk])));
}

export function wrapInfo(groupId, epoch, memberId, rosterHash) {
  return concat(LABEL.WRAP, groupId, u64(epoch), memberId, rosterHash);
}

// -- epoch commits ---------------------------------------------------------------------------------

// -- authorisations of roster changes (§6.4) -------------------------------------------------------

function encodeEntry(e) {
  return concat(e.memberId, e.sigPk, e.kemPk);
}

/** An invite certificate (§6.4): issued_epoch(u64) ‖ not_after(u64, ms) ‖ max_admits(u32) ‖ cert_sig. */
export function encodeInviteCertificate(c) {
  return concat(u64(c.issuedEpoch), u64(c.notAfter), u32(c.maxAdmits), c.signature);
}
export const INVITE_CERT_LEN = 84;
export function parseInviteCertificate(raw) {
  if (raw.length !== INVITE_CERT_LEN) throw new Error("invite certificate: expected 84 bytes");
  const issuedEpoch = readUint(raw, 0, 8);
  const notAfter = readUint(raw, 8, 8);
  if (!Number.isSafeInteger(issuedEpoch) || !Number.isSafeInteger(notAfter)) throw new Error("invite certificate: a value is too large");
  return { issuedEpoch, notAfter, maxAdmits: readUint(raw, 16, 4), signature: raw.slice(20) };
}

export function encodeAuthorisation(a) {
  if (a.kind === AUTH.ADMIT) return concat(u8(AUTH.ADMIT), u8(a.role), u64(a.epoch), encodeEntry(a.entry), a.admitterId, a.signature);
  if (a.kind === AUTH.INVITE_ADMIT) return concat(u8(AUTH.INVITE_ADMIT), u64(a.epoch), encodeEntry(a.entry), a.invitePk, a.issuerId, encodeInviteCertificate(a.certificate), a.signature);
  if (a.kind === AUTH.LEGACY_ADMIT || a.kind === AUTH.LEGACY_INVITE_ADMIT) return concat(u8(a.kind), a.rest);
  if (a.kind === AUTH.REMOVE) return concat(u8(AUTH.REMOVE), a.memberId, a.removerId, a.signature);
  if (a.kind === AUTH.LEAVE) return concat(u8(AUTH.LEAVE), a.memberId, a.signature);
  throw new Error("authorisation: unknown kind");
}

/** Read one authorisation at `at`; returns {authorisation, at} (throws Error when malformed). */
export function readAuthorisation(raw, at) {
  const take = (n) => {
    if (at + n > raw.length) throw new Error("authorisation is truncated");
    return raw.slice(at, (at += n));
  };
  const entry = () => ({ memberId: take(16), sigPk: take(32), kemPk: take(32) });
  const epoch = () => {
    const n = readUint(take(8), 0, 8);
    if (!Number.isSafeInteger(n)) throw new Error("admission: epoch is too large");
    return n;
  };
  const kind = take(1)[0];
  let a;
  if (kind === AUTH.ADMIT) {
    const role = take(1)[0];
    if (role !== ROLE.MEMBER && role !== ROLE.FACILITATOR) throw new Error(`admission: unknown role ${role}`);
    a = { kind, role, epoch: epoch(), entry: entry(), admitterId: take(16), signature: take(64) };
  } else if (kind === AUTH.INVITE_ADMIT) {
    a = { kind, role: ROLE.MEMBER, epoch: epoch(), entry: entry(), invitePk: take(32), issuerId: take(16), certificate: parseInviteCertificate(take(INVITE_CERT_LEN)), signature: take(64) };
  } else if (kind === AUTH.LEGACY_ADMIT || kind === AUTH.LEGACY_INVITE_ADMIT) {
    // the first layout: [role ‖] entry ‖ (admitter_id | invite_pk ‖ issuer_id ‖ cert_sig) ‖ sig
    const start = at;
    if (kind === AUTH.LEGACY_ADMIT) {
      const role = take(1)[0];
      if (role !== ROLE.MEMBER && role !== ROLE.FACILITATOR) throw new Error(`admission: unknown role ${role}`);
    }
    const e = entry();
    take(kind === AUTH.LEGACY_ADMIT ? 16 + 64 : 32 + 16 + 64 + 64);
    a = { kind, legacy: true, entry: e, rest: raw.slice(start, at) };
  } else if (kind === AUTH.REMOVE) {
    a = { kind, memberId: take(16), removerId: take(16), signature: take(64) };
  } else if (kind === AUTH.LEAVE) {
    a = { kind, memberId: take(16), signature: take(64) };
  } else {
    throw new Error(`authorisation: unknown kind ${kind}`);
  }
  if (a.entry) a.memberId = a.entry.memberId;
  return { authorisation: a, at };
}

export function parseAuthorisation(raw) {
  const { authorisation, at } = readAuthorisation(raw, 0);
  if (at !== raw.length) throw new Error("authorisation has trailing bytes");
  return authorisation;
}

export function admissionMessage(kind, groupId, epoch, role, entry) {
  return concat(LABEL.ADMIT, u8(kind), groupId, u64(epoch), u8(role), encodeEntry(entry));
}
export function inviteMessage(groupId, invitePk, issuedEpoch, notAfter, maxAdmits) {
  return concat(LABEL.INVITE, groupId, invitePk, u64(issuedEpoch), u64(notAfter), u32(maxAdmits));
}
export function removalMessage(groupId, memberId) {
  return concat(LABEL.REMOVE, groupId, memberId);
}
export function leaveMessage(groupId, memberId) {
  return concat(LABEL.LEAVE, groupId, memberId);
}

/** A facilitator's admission, made at `epoch`: the epoch it holds (valid in the next two commits). */
export async function signAdmission(groupId, admitter, entry, role, epoch) {
  if (!Number.isSafeInteger(epoch) || epoch < 1) throw new RangeError("an admission needs the epoch its signer holds");
  const signature = await sign(admitter.signing, admissionMessage(AUTH.ADMIT, groupId, epoch, role, entry));
  return { kind: AUTH.ADMIT, role, epoch, entry, memberId: entry.memberId, admitterId: admitter.memberId, signature };
}
/** The certificate of an invite key: made at `issuedEpoch` (the epoch the facilitator holds),
 * valid until `notAfter` (ms), admitting at most `maxAdmits` members by itself (0: none). */
export async function certifyInvite(groupId, issuer, invitePk, { issuedEpoch, notAfter, maxAdmits }) {
  const signature = await sign(issuer.signing, inviteMessage(groupId, invitePk, issuedEpoch, notAfter, maxAdmits));
  return { issuedEpoch, notAfter, maxAdmits, signature };
}
/** `inviteKey` = {privateKey, publicKey}, as importSigningKey / generateSigningKey give it;
 * `certificate` as parseInviteCertificate gives it; `epoch` the group's current epoch. */
export async function signInviteAdmission(groupId, inviteKey, issuerId, certificate, entry, epoch) {
  if (!Number.isSafeInteger(epoch) || epoch < 1) throw new RangeError("an admission needs the group's epoch");
  const signature = await sign(inviteKey, admissionMessage(AUTH.INVITE_ADMIT, groupId, epoch, ROLE.MEMBER, entry));
  return { kind: AUTH.INVITE_ADMIT, role: ROLE.MEMBER, epoch, entry, memberId: entry.memberId, invitePk: inviteKey.publicKey, issuerId, certificate, signature };
}
export async function signRemoval(groupId, remover, memberId) {
  return { kind: AUTH.REMOVE, memberId, removerId: remover.memberId, signature: await sign(remover.signing, removalMessage(groupId, memberId)) };
}
export async function signLeave(groupId, member) {
  return { kind: AUTH.LEAVE, memberId: member.memberId, signature: await sign(member.signing, leaveMessage(groupId, member.memberId)) };
}

/** Build and sign the commit of `epoch`; returns {commit (parsed), secret (bytes)}. With `pqKeys`
 * (a Map from hex(member_id) to its signed ML-KEM key, for every member) it is of suite 2. */
// Chromium settles WebCrypto's X25519 and HMAC on small inputs within the task that asked, so
// wrapping the secret for 200 members held the page for 100-220 ms (bench/page.py): it is given
// back to the page between every WRAPS_PER_TASK wraps. The commit is the same either way.
const WRAPS_PER_TASK = 16;
const nextTask = () => globalThis.scheduler?.yield?.() ?? new Promise((resolve) => setTimeout(resolve, 0));

export async function buildCommit({ groupId, epoch, prevCommitHash, committer, roster, facilitators = [], authorisations = [], epochSecret, pqKeys = null }) {
  const entries = sortRoster(roster);
  const own = entries.find((e) => equalBytes(e.memberId, committer.memberId));
  if (!own || !equalBytes(own.sigPk, committer.signing.publicKey) || !equalBytes(own.kemPk, committer.kem.publicKey)) {
    throw new Error("the committer's keys are not in the roster");
  }
  const ordered = pqKeys ? entries.map((e) => pqKeys.get(hex(e.memberId))) : null;
  if (ordered) {
    for (const [i, e] of entries.entries()) {
      if (!ordered[i]) throw new Error("a hybrid commit needs a signed ML-KEM key for every member");
      await verifySignature(e.sigPk, ordered[i].signature, pqKeyMessage(groupId, e.memberId, ordered[i].publicKey));
    }
  }
  const secret = epochSecret ?? randomBytes(32);
  const encoded = encodeRoster(entries, ordered);
  const rosterHash = await sha256(encoded);
  const wraps = [];
  for (const [i, e] of entries.entries()) {
    if (i > 0 && i % WRAPS_PER_TASK === 0) await nextTask();
    const info = wrapInfo(groupId, epoch, e.memberId, rosterHash);
    wraps.push(ordered ? await hybridSeal(e.kemPk, ordered[i].publicKey, info, secret) : await hpkeSeal(e.kemPk, info, secret));
  }
  const chiefs = [...facilitators].sort(compareBytes);
  const body = concat(
    ordered ? HYBRID_PREFIX : PREFIX, groupId, u64(epoch), prevCommitHash, committer.memberId, u16(entries.length), encoded, ...wraps,
    u16(chiefs.length), ...chiefs, u16(authorisations.length), ...authorisations.map(encodeAuthorisation),
  );
  const confirm = await hmac(await confirmKey(secret, groupId, epoch), await sha256(body));
  const signature = await sign(committer.signing, concat(LABEL.COMMIT_SIG, body, confirm));
  return { commit: await parseCommit(concat(body, confirm, signature)), secret };
}

/** Parse strictly (throws Error on any malformed field); verifies nothing. */
export async function parseCommit(raw) {
  const hybrid = raw.length >= 3 && equalBytes(raw.subarray(0, 3), HYBRID_PREFIX);
  if (raw.length < 3 + 16 + 8 + 32 + 16 + 2 || !(hybrid || equalBytes(raw.subarray(0, 3), PREFIX))) throw new Error("commit: bad prefix or length");
  const wrapLen = hybrid ? HYBRID_WRAP_LEN : WRAP_LEN;
  const pqLen = hybrid ? PQ_KEY_LEN : 0;
  let at = 3;
  const take = (n) => raw.slice(at, (at += n));
  const groupId = take(16);
  const epoch = readUint(raw, at, 8);
  at += 8;
  if (epoch === 0) throw new Error("commit: epoch must be at least 1");
  const prevCommitHash = take(32);
  const committerId = take(16);
  const n = readUint(raw, at, 2);
  at += 2;
  if (n < 1 || n > MAX_ROSTER) throw new Error("commit: bad roster size");
  if (raw.length - at < n * (ENTRY_LEN + pqLen + wrapLen) + 4 + TRAILER_LEN) throw new Error("commit: truncated");
  const roster = [];
  const pqKeys = [];
  for (let i = 0; i < n; i++) {
    roster.push({ memberId: take(16), sigPk: take(32), kemPk: take(32) });
    if (hybrid) pqKeys.push(parsePqKey(take(PQ_KEY_LEN)));
  }
  for (let i = 1; i < n; i++) {
    if (compareBytes(roster[i - 1].memberId, roster[i].memberId) >= 0) throw new Error("commit: roster not sorted/unique");
  }
  if (!roster.some((e) => equalBytes(e.memberId, committerId))) throw new Error("commit: committer not in roster");
  const wraps = [];
  for (let i = 0; i < n; i++) wraps.push(take(wrapLen));
  const f = readUint(raw, at, 2);
  at += 2;
  if (raw.length - at < f * 16) throw new Error("commit: truncated");
  const facilitators = [];
  for (let i = 0; i < f; i++) facilitators.push(take(16));
  for (let i = 1; i < f; i++) {
    if (compareBytes(facilitators[i - 1], facilitators[i]) >= 0) throw new Error("commit: facilitators not sorted/unique");
  }
  if (!facilitators.every((id) => roster.some((e) => equalBytes(e.memberId, id)))) throw new Error("commit: a facilitator is not in the roster");
  if (raw.length - at < 2) throw new Error("commit: truncated");
  const count = readUint(raw, at, 2);
  at += 2;
  if (count > MAX_AUTHORISATIONS) throw new Error("commit: too many authorisations");
  const authorisations = [];
  for (let i = 0; i < count; i++) {
    const read = readAuthorisation(raw.subarray(0, raw.length - TRAILER_LEN), at);
    authorisations.push(read.authorisation);
    at = read.at;
  }
  if (raw.length - at !== TRAILER_LEN) throw new Error("commit: wrong length");
  const confirm = take(32);
  const signature = take(64);
  return {
    raw: raw.slice(),
    body: raw.slice(0, raw.length - TRAILER_LEN),
    suite: hybrid ? SUITE_HYBRID : SUITE,
    groupId,
    epoch,
    prevCommitHash,
    committerId,
    roster,
    pqKeys,
    wraps,
    facilitators,
    authorisations,
    confirm,
    signature,
    hash: await sha256(raw),
  };
}

export async function verifyCommit(commit) {
  await verifyCommitter(commit);
  await verifyPqKeys(commit);
}

async function verifyCommitter(commit) {
  const committer = commit.roster.find((e) => equalBytes(e.memberId, commit.committerId));
  if (!committer) throw new VerificationFailed();
  await verifySignature(committer.sigPk, commit.signature, concat(LABEL.COMMIT_SIG, commit.body, commit.confirm));
}

/** Each ML-KEM key of a suite-2 commit must be signed by its roster entry's member (§6.9). */
export async function verifyPqKeys(commit) {
  for (const [i, k] of commit.pqKeys.entries()) {
    const e = commit.roster[i];
    await verifySignature(e.sigPk, k.signature, pqKeyMessage(commit.groupId, e.memberId, k.publicKey));
  }
}

/** The epoch secret for `member`, after signature, wrap and confirm check; else VerificationFailed. */
export async function openCommit(commit, member) {
  // Other members' ML-KEM keys are checked by verifyCommit and groupstate.js, not needed here.
  await verifyCommitter(commit);
  const index = commit.roster.findIndex(
    (e) =>
      equalBytes(e.memberId, member.memberId) &&
      equalBytes(e.sigPk, member.signing.publicKey) &&
      equalBytes(e.kemPk, member.kem.publicKey),
  );
  if (index < 0) throw new VerificationFailed();
  const hybrid = commit.suite === SUITE_HYBRID;
  const rosterHash = await sha256(encodeRoster(commit.roster, hybrid ? commit.pqKeys : null));
  const info = wrapInfo(commit.groupId, commit.epoch, member.memberId, rosterHash);
  let secret;
  if (hybrid) {
    // sealed to an ML-KEM key that is not ours, or we have none: not for us
    if (!member.pq || !equalBytes(commit.pqKeys[index].publicKey, member.pq.publicKey)) throw new VerificationFailed();
    secret = await hybridOpen(member.kem, member.pq, info, commit.wraps[index]);
  } else {
    secret = await hpkeOpen(member.kem, info, commit.wraps[index]);
  }
  const expected = await hmac(await confirmKey(secret, commit.groupId, commit.epoch), await sha256(commit.body));
  if (!equalBytes(expected, commit.confirm)) throw new VerificationFailed();
  return secret;
}

// -- padding and content --------------------------------------------------------------------------

export function bucketFor(length) {
  if (!(length >= 0 && length <= MAX_CONTENT)) throw new RangeError(`content must be at most ${MAX_CONTENT} bytes`);
  return PAD_BUCKETS.find((b) => b >= 4 + length);
}

export function pad(content) {
  const out = new Uint8Array(bucketFor(content.length));
  out.set(u32(content.length));
  out.set(content, 4);
  return out;
}

export function unpad(padded) {
  if (!PAD_BUCKETS.includes(padded.length)) throw new VerificationFailed();
  const length = readUint(padded, 0, 4);
  if (length > MAX_CONTENT || bucketFor(length) !== padded.length) throw new VerificationFailed();
  let tail = 0;
  for (let i = 4 + length; i < padded.length; i++) tail |= padded[i];
  if (tail !== 0) throw new VerificationFailed();
  return padded.slice(4, 4 + length);
}

export function checkContent(contentType, content) {
  if (contentType !== CONTENT_TYPE_TEXT && contentType !== CONTENT_TYPE_NOTED_TEXT) throw new Error("unknown content type");
  if (content.length > MAX_CONTENT) throw new RangeError("content too long");
  if (contentType === CONTENT_TYPE_NOTED_TEXT) splitNoted(content);
  else new TextDecoder("utf-8", { fatal: true }).decode(content);
}

/** The type-2 content of `text` behind `note`. */
export function notedText(note, text) {
  const problem = noteProblem(note);
  if (problem) throw new RangeError(problem);
  return concat(utf8.encode(note), Uint8Array.of(0), utf8.encode(text));
}

/** {note, text} of a type-2 content; throws when it is not one. */
export function splitNoted(content) {
  const end = content.indexOf(0);
  if (end < 0) throw new Error("noted content must hold its note's end");
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const note = decoder.decode(content.subarray(0, end));
  const text = decoder.decode(content.subarray(end + 1));
  const problem = noteProblem(note);
  if (problem) throw new Error(problem);
  return { note, text };
}

// -- message envelopes -----------------------------------------------------------------------------

export function commitment(franking, groupId, epoch, senderId, msgId, contentType, content) {
  return hmac(franking, concat(LABEL.FRANK, groupId, u64(epoch), senderId, msgId, u8(contentType), content));
}

export function encodeHeader(h) {
  return concat(PREFIX, h.groupId, u64(h.epoch), h.senderId, h.msgId, h.nonce, h.commitment);
}

export function parseHeader(raw) {
  if (raw.length < HEADER_LEN || !equalBytes(raw.subarray(0, 3), PREFIX)) throw new Error("header: bad prefix or length");
  const epoch = readUint(raw, 19, 8);
  if (epoch === 0) throw new Error("header: epoch must be at least 1");
  return {
    groupId: raw.slice(3, 19),
    epoch,
    senderId: raw.slice(27, 43),
    msgId: raw.slice(43, 59),
    nonce: raw.slice(59, 71),
    commitment: raw.slice(71, 103),
  };
}

/** Seal content; `nonce`/`franking` are for vectors only. Returns {raw, header, franking}. */
export async function sealMessage({ epochSecret, groupId, epoch, sender, msgId, content, contentType = CONTENT_TYPE_TEXT, nonce, franking }) {
  checkContent(contentType, content);
  nonce = nonce ?? randomBytes(12);
  franking = franking ?? randomBytes(32);
  const header = {
    groupId,
    epoch,
    senderId: sender.memberId,
    msgId,
    nonce,
    commitment: await commitment(franking, groupId, epoch, sender.memberId, msgId, contentType, content),
  };
  const aad = encodeHeader(header);
  const key = await subtle.importKey("raw", await senderKey(epochSecret, groupId, epoch, sender.memberId), "AES-GCM", false, ["encrypt"]);
  const pt = concat(franking, u8(contentType), pad(content));
  const ct = new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad }, key, pt));
  const signature = await sign(sender.signing, concat(LABEL.MSG_SIG, aad, ct));
  return { raw: concat(aad, ct, signature), header, franking };
}

const CIPHERTEXT_LENS = PAD_BUCKETS.map((b) => 32 + 1 + b + 16);

export function parseEnvelope(raw) {
  const header = parseHeader(raw);
  const ctLen = raw.length - HEADER_LEN - 64;
  if (!CIPHERTEXT_LENS.includes(ctLen)) throw new Error("envelope: ciphertext length matches no padding bucket");
  return {
    raw: raw.slice(),
    header,
    aad: raw.slice(0, HEADER_LEN),
    ciphertext: raw.slice(HEADER_LEN, HEADER_LEN + ctLen),
    signature: raw.slice(HEADER_LEN + ctLen),
  };
}

export function verifyEnvelope(envelope, senderSigPk) {
  return verifySignature(senderSigPk, envelope.signature, concat(LABEL.MSG_SIG, envelope.aad, envelope.ciphertext));
}

/** Verify, decrypt, unpad and check C; any failure is VerificationFailed. */
export async function openMessage(envelope, { epochSecret, senderSigPk }) {
  await verifyEnvelope(envelope, senderSigPk);
  const h = envelope.header;
  let pt;
  try {
    const key = await subtle.importKey("raw", await senderKey(epochSecret, h.groupId, h.epoch, h.senderId), "AES-GCM", false, ["decrypt"]);
    pt = new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv: h.nonce, additionalData: envelope.aad }, key, envelope.ciphertext));
  } catch {
    throw new VerificationFailed();
  }
  const franking = pt.slice(0, 32);
  const contentType = pt[32];
  const content = unpad(pt.subarray(33));
  try {
    checkContent(contentType, content);
  } catch {
    throw new VerificationFailed();
  }
  const expected = await commitment(franking, h.groupId, h.epoch, h.senderId, h.msgId, contentType, content);
  if (!equalBytes(expected, h.commitment)) throw new VerificationFailed();
  const { note, text } = contentType === CONTENT_TYPE_NOTED_TEXT ? splitNoted(content) : { note: null, text: new TextDecoder().decode(content) };
  return { header: h, contentType, content, franking, note, text };
}

// -- franking: report opening -----------------------------------------------------------------------

/** header ‖ Kf ‖ content_type ‖ u32(len) ‖ content ‖ u64(server_ts) ‖ u32(kid) ‖ rtag */
export function encodeReportOpening({ header, franking, contentType, content, serverTs, kid, rtag }) {
  checkContent(contentType, content);
  if (franking.length !== 32 || rtag.length !== 32) throw new Error("report opening: bad Kf or rtag length");
  return concat(encodeHeader(header), franking, u8(contentType), u32(content.length), content, u64(serverTs), u32(kid), rtag);
}
