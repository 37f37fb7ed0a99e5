// The device's keys in IndexedDB: the account key, and per group the member keys, epoch secrets
// (as non-extractable HKDF keys) and the commits that carry each epoch's roster.
// CryptoKey objects are stored as they are (structured clone keeps them non-extractable).

import { importSigningKey, randomBytes } from "./cryptobase.js";
import * as vault from "./keyvault.js";

const DB_NAME = "hearth";
const STORE = "kv";

let opening = null;

function db() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  return opening;
}

async function run(mode, action) {
  const database = await db();
  return new Promise((resolve, reject) => {
    const tx = database.transaction(STORE, mode);
    const request = action(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(request?.result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

export function get(key) {
  return run("readonly", (store) => store.get(key));
}

export function put(key, value) {
  return run("readwrite", (store) => store.put(value, key));
}

export function remove(key) {
  return run("readwrite", (store) => store.delete(key));
}

/** Every value whose key starts with `prefix`, read in one transaction. */
function valuesWithPrefix(prefix) {
  return run("readonly", (store) => store.getAll(IDBKeyRange.bound(prefix, prefix + "\uffff")));
}

let creating = null;

/** The account key (Ed25519, non-extractable), created on first use from a seed that is kept
 * sealed in the vault (keyvault.js) so that the account can move to another device. */
export async function account() {
  const found = await get("account");
  if (found) return found;
  creating ??= (async () => {
    const seed = randomBytes(32);
    const key = await importSigningKey(seed);
    await put("accountSeed", await vault.seal(seed));
    await put("account", key);
    return key;
  })();
  return creating;
}

/** The account's seed, opened from the vault (null: an account from before keys could move). */
export async function accountSeed() {
  const sealed = await get("accountSeed");
  return sealed ? vault.open(sealed) : null;
}

/** Take on a moved account: its key and its seed, sealed again under this device's vault. */
export async function adoptAccount(seed) {
  const key = await importSigningKey(seed);
  await put("accountSeed", await vault.seal(seed));
  await put("account", key);
}

export const hasAccount = async () => Boolean(await get("account"));

// -- groups: "group:<group_id b64>" -> { groupId, member, pseudonym, epochs: {n: {secret, commit}}, latest, info }

export const groupKey = (groupIdB64) => `group:${groupIdB64}`;

export const groups = () => valuesWithPrefix("group:");

export const group = (groupIdB64) => get(groupKey(groupIdB64));
export const saveGroup = (record) => put(groupKey(record.id), record);
export const forgetGroup = (groupIdB64) => remove(groupKey(groupIdB64));

// -- unsent messages: "outbox:<msg_id b64>" -> { groupId, msgId, envelope, epoch }, kept sealed
// (the page decrypts them with the group's keys after a reload): no plaintext at rest.

export const unsent = () => valuesWithPrefix("outbox:");
export const saveUnsent = ({ groupId, msgId, envelope, epoch }) => put(`outbox:${msgId}`, { groupId, msgId, envelope, epoch });
export const forgetUnsent = (msgId) => remove(`outbox:${msgId}`);

/**
 * Delete these groups' records (member keys, every epoch secret, the commits) and their unsent
 * messages, in one transaction: what a facilitator removes from a shared computer at logout.
 */
export function forgetGroups(groupIds) {
  const ids = new Set(groupIds);
  return run("readwrite", (store) => {
    for (const id of ids) store.delete(groupKey(id));
    const cursor = store.openCursor(IDBKeyRange.bound("outbox:", "outbox:\uffff"));
    cursor.onsuccess = () => {
      const entry = cursor.result;
      if (!entry) return;
      if (ids.has(entry.value?.groupId)) entry.delete();
      entry.continue();
    };
    return cursor;
  });
}

/** Delete everything this device holds (the whole database). */
export async function wipe() {
  if (opening) {
    (await opening).close();
    opening = null;
  }
  await new Promise((resolve, reject) => {
    const request = indexedDB.deleteDatabase(DB_NAME);
    request.onsuccess = () => resolve();
    request.onblocked = () => resolve();
    request.onerror = () => reject(request.error);
  });
}
