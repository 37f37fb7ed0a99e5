// Messages a page knows exist but has not got. Every message of a group has the next seq, so a
// seq more than one past the highest the page has seen shows that broadcasts were missed (a link
// that dropped, a server process that fell behind on its Redis channel, a long time offline).
// The page fetches each gap page by page, however long it is; until it has, the gap stays open,
// the conversation shows a marker at its place, and the next reconnect or message tries again.

export const PAGE = 50; // a page of history shown at a time
// A gap is fetched in the largest pages history.get allows, so that even a long one takes few
// requests (history.get is rate limited, docs/protocol.md).
export const GAP_PAGE = 200;

export class Gaps {
  #highest = new Map(); // group id -> highest seq seen
  #held = new Map(); // group id -> Set of seqs seen (opened or not)
  #open = new Map(); // group id -> [{after, before}], oldest first: after < missing seq < before
  #filling = new Map(); // group id -> the fill under way

  /** A message with this seq has arrived (live, in history, or as our own acknowledgement). */
  note(groupId, seq) {
    const highest = this.#highest.get(groupId);
    if (highest !== undefined && seq > highest + 1) this.#gapsOf(groupId).push({ after: highest, before: seq });
    if (highest === undefined || seq > highest) this.#highest.set(groupId, seq);
    if (!this.#held.has(groupId)) this.#held.set(groupId, new Set());
    this.#held.get(groupId).add(seq);
  }

  highest(groupId) {
    return this.#highest.get(groupId);
  }

  /** The open gaps of a group, oldest first (copies). */
  list(groupId) {
    return (this.#open.get(groupId) || []).map((gap) => ({ ...gap }));
  }

  filling(groupId) {
    return this.#filling.has(groupId);
  }

  /**
   * Fetch every open gap of the group, newest first, with ``fetchPage(beforeSeq, limit)``, which
   * resolves to a ``history.get`` reply after the caller has taken in its messages (so that
   * ``note`` has seen them). Rejects if a fetch does; what was fetched stays fetched, the rest
   * stays open. One fill at a time per group: a second call waits for the first, then fills what
   * opened meanwhile.
   */
  async fill(groupId, fetchPage) {
    while (this.#filling.has(groupId)) await this.#filling.get(groupId).catch(() => {});
    const run = this.#fillAll(groupId, fetchPage);
    this.#filling.set(groupId, run);
    try {
      await run;
    } finally {
      this.#filling.delete(groupId);
    }
  }

  async #fillAll(groupId, fetchPage) {
    const gaps = this.#gapsOf(groupId);
    const held = this.#held.get(groupId) || new Set();
    while (gaps.length) {
      const gap = gaps[gaps.length - 1];
      for (;;) {
        while (gap.before > gap.after + 1 && held.has(gap.before - 1)) gap.before -= 1;
        if (gap.before <= gap.after + 1) break;
        const reply = await fetchPage(gap.before, Math.min(GAP_PAGE, gap.before - gap.after - 1));
        const oldest = reply.messages.at(-1)?.seq;
        // Nothing older (retention removed it, or it predates this member): the gap is closed.
        if (!reply.more || oldest === undefined || oldest >= gap.before) break;
        gap.before = Math.min(gap.before, oldest);
      }
      gaps.splice(gaps.indexOf(gap), 1);
    }
  }

  #gapsOf(groupId) {
    if (!this.#open.has(groupId)) this.#open.set(groupId, []);
    return this.#open.get(groupId);
  }
}
