// The raw bytes of this device's keys, kept so that they can be moved (docs/protocol.md §15.1).
// Every key the page uses is a non-extractable CryptoKey; WebCrypto cannot export those, so the
// seeds they were imported from are kept beside them, sealed with AES-GCM under this device's
// vault key — itself non-extractable, created here, never leaving the device. They are opened
// only to build a device link's bundle or a recovery file.

import { concat, randomBytes } from "./cryptobase.js";
import { get, put } from "./keystore.js";

const subtle = globalThis.crypto.subtle;
const AAD = new TextEncoder().encode("hearth-v1 vault");

async function vaultKey() {
  let key = await get("vault");
  if (!key) {
    key = await subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
    await put("vault", key);
  }
  return key;
}

/** iv ‖ AES-256-GCM(vault, iv, bytes) */
export async function seal(bytes) {
  const iv = randomBytes(12);
  const ct = await subtle.encrypt({ name: "AES-GCM", iv, additionalData: AAD }, await vaultKey(), bytes);
  return concat(iv, new Uint8Array(ct));
}

export async function open(sealed) {
  const pt = await subtle.decrypt({ name: "AES-GCM", iv: sealed.slice(0, 12), additionalData: AAD }, await vaultKey(), sealed.slice(12));
  return new Uint8Array(pt);
}
