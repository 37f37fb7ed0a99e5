// The bundle a device link or a recovery file carries (docs/protocol.md §15.2): the account's
// seed, the profile, and every group record with its member-key seeds and its epoch secrets,
// as UTF-8 JSON. Keys are opened from the vault (keyvault.js) only while the bundle is built,
// and imported as non-extractable keys (sealed again under the receiving device's vault) when
// it is taken in.

import * as hc from "./crypto.js";
import * as store from "./keystore.js";
import * as vault from "./keyvault.js";

export const BUNDLE_VERSION = 1;

// Tagged JSON: bytes, Maps and Sets survive the trip; a CryptoKey never gets in.
function encode(value) {
  if (value instanceof Uint8Array) return { $b: hc.b64encode(value) };
  if (value instanceof CryptoKey) throw new Error("a key cannot go into a bundle as it is");
  if (value instanceof Map) return { $m: [...value].map(([k, v]) => [encode(k), encode(v)]) };
  if (value instanceof Set) return { $s: [...value].map(encode) };
  if (Array.isArray(value)) return value.map(encode);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v)]));
  return value;
}

function decode(value) {
  if (Array.isArray(value)) return value.map(decode);
  if (value && typeof value === "object") {
    if ("$b" in value) return hc.b64decode(value.$b);
    if ("$m" in value) return new Map(value.$m.map(([k, v]) => [decode(k), decode(v)]));
    if ("$s" in value) return new Set(value.$s.map(decode));
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decode(v)]));
  }
  return value;
}

async function movableRecord(record) {
  const { member, epochs, sealedSeeds, ...rest } = record;
  const movable = { ...rest, memberId: member.memberId, seeds: await vault.open(sealedSeeds), epochs: {} };
  for (const [n, epoch] of Object.entries(epochs)) {
    if (epoch.sealed) movable.epochs[n] = { secret: await vault.open(epoch.sealed), roster: epoch.roster };
  }
  return movable;
}

/** What this device can move: {movable: n, stuck: n} (stuck: groups joined before keys could move). */
export async function inventory() {
  const records = await store.groups();
  const movable = records.filter((r) => r.sealedSeeds).length;
  return { movable, stuck: records.length - movable, account: Boolean(await store.get("accountSeed")) };
}

/** The bundle's bytes, or null when this device's account cannot move. */
export async function exportBundle() {
  const account = await store.accountSeed();
  if (!account) return null;
  const groups = [];
  for (const record of await store.groups()) if (record.sealedSeeds) groups.push(await movableRecord(record));
  const bundle = { v: BUNDLE_VERSION, account, profile: (await store.get("profile")) || null, groups };
  return new TextEncoder().encode(JSON.stringify(encode(bundle)));
}

/** Parse and check a bundle; throws on anything that is not one. */
export function parseBundle(bytes) {
  const bundle = decode(JSON.parse(new TextDecoder().decode(bytes)));
  if (bundle?.v !== BUNDLE_VERSION || !(bundle.account instanceof Uint8Array) || bundle.account.length !== 32 || !Array.isArray(bundle.groups)) {
    throw new Error("not a Hearth bundle");
  }
  return bundle;
}

async function importRecord(movable) {
  const { memberId, seeds, epochs, ...rest } = movable;
  const pq = seeds.length > 64 ? seeds.slice(64, 128) : null;
  const member = await hc.importMemberKeys(memberId, seeds.slice(0, 32), seeds.slice(32, 64), pq);
  const record = { ...rest, member, sealedSeeds: await vault.seal(seeds), epochs: {} };
  for (const [n, epoch] of Object.entries(epochs)) {
    record.epochs[n] = { secret: await hc.importEpochSecret(epoch.secret), sealed: await vault.seal(epoch.secret), roster: epoch.roster };
  }
  return record;
}

/** Take a parsed bundle in: this device becomes the account's (its own groups must be none). */
export async function importBundle(bundle) {
  const records = [];
  for (const movable of bundle.groups) records.push(await importRecord(movable)); // all or nothing
  await store.adoptAccount(bundle.account);
  if (bundle.profile) await store.put("profile", bundle.profile);
  for (const record of records) await store.saveGroup(record);
  return records.length;
}
