// One group's conversation as the page shows it: messages in seq order, the verified membership
// changes among them, and a marker at each gap not yet fetched (gaps.js). It is kept sorted as
// things arrive, and only a window of it is in the DOM: a new message appends one node (and, with
// a full window, takes one off the far end), an older page is put above without touching the
// rest, and however long the history, the DOM holds at most WINDOW rows plus a CHUNK while the
// window moves. So the cost of one more message does not grow with the conversation.
//
// The rows outside the window have no element; when scrolling nears an edge of the window, the
// next CHUNK rows are built on that side and as many taken off the other, the one in view kept in
// place. The page builds each row's element itself (`build(kind, value)`), so that a message's
// element comes from one function that other modules can decorate.

export const WINDOW = 150; // rows in the DOM when not moving
export const CHUNK = 50; // rows added (and then removed from the far side) when the window moves
const NEAR_BOTTOM = 60; // px: a list scrolled this close to its end follows new messages

// Rows are ordered by [seq, rank, tie]. A membership change stands before the first message of its
// epoch or later (its anchor), a gap's marker right before the first message past the gap, and a
// message not yet acknowledged (no seq) after every stored one, in the order it was written.
const CHANGE = 0;
const GAP = 1;
const MESSAGE = 2;

function before(a, b) {
  for (let n = 0; n < 3; n++) if (a[n] !== b[n]) return a[n] < b[n];
  return false;
}

export class Timeline {
  #rows = []; // sorted by order
  #byKey = new Map(); // key -> row {key, kind, value, order}
  #changes = []; // change rows, oldest first (also in #rows)
  #gaps = new Map(); // key -> gap row (also in #rows)
  #written = 0; // tie-breaker for messages not yet acknowledged
  #build;
  #box = null;
  #lo = 0; // the window: #rows[lo..hi) have elements, in the box, in order
  #hi = 0;
  #nodes = new Map(); // key -> element, for rows in the window
  #onScroll = () => this.#scrolled();
  /** Called when the list is scrolled to its top with nothing older held (fetch older pages). */
  onTop = () => {};
  /** Called after every change in the window (whether rows are held above it may have changed). */
  onShift = () => {};
  /** Called when the count of newer messages from others below the view changes (`unseen`). */
  onUnseen = () => {};
  #unseen = 0;

  /** `build(kind, value)` returns the element of one row: kind "message", "change" or "gap". */
  constructor(build) {
    this.#build = build;
  }

  get size() {
    return this.#rows.length;
  }

  /** Messages from others that arrived below the view while the person read further up. */
  get unseen() {
    return this.#unseen;
  }

  /** Rows held above the window (shown by scrolling up, without fetching). */
  get hiddenAbove() {
    return this.#box ? this.#lo : 0;
  }

  /** Show this conversation in `box` (an emptied list), scrolled to its newest row. */
  attach(box) {
    this.detach();
    this.#box = box;
    box.addEventListener("scroll", this.#onScroll, { passive: true });
    this.#showLatest();
  }

  detach() {
    if (!this.#box) return;
    this.#box.removeEventListener("scroll", this.#onScroll);
    this.#box.replaceChildren();
    this.#box = null;
    this.#nodes.clear();
    this.#lo = this.#hi = 0;
  }

  /** A message is new or changed (status, seq, deletion, report): one row added, moved or rebuilt. */
  putMessage(item) {
    this.putMessages([item]);
  }

  /** Several at once (a page of history): the view is kept in place once for all of them. */
  putMessages(items) {
    // Oldest first: a membership change then moves at most once, to the oldest of them.
    const ordered = [...items].sort((a, b) => (a.seq || Infinity) - (b.seq || Infinity));
    if (this.#box && !this.#atBottom()) {
      // Newer than everything held, from someone else: said below the view (older pages are not).
      const newest = this.#newestSeq();
      const below = ordered.filter((item) => item.seq > newest && !item.mine && !this.#byKey.has(`m:${item.msgId}`));
      if (below.length) this.#setUnseen(this.#unseen + below.length);
    }
    this.#mutate(() => {
      for (const item of ordered) {
        const key = `m:${item.msgId}`;
        const row = this.#byKey.get(key);
        const tie = row?.order[0] === Infinity && !item.seq ? row.order[2] : ++this.#written;
        this.#put(key, "message", item, item.seq ? [item.seq, MESSAGE, 0] : [Infinity, MESSAGE, tie]);
        if (item.seq && item.epoch) this.#anchorChanges(item.seq, item.epoch);
      }
    });
  }

  /** The group's verified membership changes, oldest first (append-only: new ones are added). */
  setChanges(changes) {
    if (changes.length <= this.#changes.length) return;
    this.#mutate(() => {
      for (let n = this.#changes.length; n < changes.length; n++) {
        const change = changes[n];
        const row = { key: `c:${n}`, kind: "change", value: change, order: [this.#anchorOf(change.epoch), CHANGE, n] };
        this.#changes.push(row);
        this.#insert(row);
      }
    });
  }

  /** The open gaps ({after, before}, gaps.js) and whether they are being fetched. */
  setGaps(gaps, filling) {
    if (!gaps.length && !this.#gaps.size) return;
    this.#mutate(() => {
      const open = new Set();
      for (const gap of gaps) {
        const key = `g:${gap.after}`;
        open.add(key);
        const row = this.#gaps.get(key);
        const unchanged = row && row.value.before === gap.before && row.value.filling === filling;
        if (!unchanged) this.#put(key, "gap", { ...gap, filling }, [gap.before, GAP, 0]);
        this.#gaps.set(key, this.#byKey.get(key));
      }
      for (const [key, row] of [...this.#gaps]) {
        if (open.has(key)) continue;
        this.#remove(row);
        this.#gaps.delete(key);
      }
    });
  }

  /**
   * Build again the rows in the window whose element would now differ (names or facilitators
   * changed); the others are not touched. Rows outside the window are built when they enter it.
   */
  refresh() {
    if (!this.#box) return;
    this.#mutate(() => {
      for (let n = this.#lo; n < this.#hi; n++) {
        const row = this.#rows[n];
        const old = this.#nodes.get(row.key);
        const fresh = this.#build(row.kind, row.value);
        if (!old.isEqualNode(fresh)) this.#replace(row, old, fresh);
      }
    });
  }

  /** Scroll to the newest row (after sending), moving the window there if it is elsewhere. */
  scrollToLatest() {
    if (!this.#box) return;
    this.#setUnseen(0);
    if (this.#hi < this.#rows.length) this.#showLatest();
    else this.#box.scrollTop = this.#box.scrollHeight;
  }

  /** Move the window up by a chunk (the "Load older messages" button, with rows held above). */
  showOlder() {
    if (this.#box && this.#lo > 0) this.#mutate(() => this.#extendUp());
  }

  #setUnseen(count) {
    if (count === this.#unseen) return;
    this.#unseen = count;
    this.onUnseen();
  }

  #newestSeq() {
    for (let n = this.#rows.length - 1; n >= 0; n--) {
      const row = this.#rows[n];
      if (row.kind === "message" && row.value.seq) return row.value.seq;
    }
    return 0;
  }

  // -- rows ----------------------------------------------------------------------------------

  #put(key, kind, value, order) {
    const row = this.#byKey.get(key);
    if (!row) {
      this.#insert({ key, kind, value, order });
      return;
    }
    const moved = before(order, row.order) || before(row.order, order);
    row.value = value;
    if (moved) {
      this.#remove(row);
      row.order = order;
      this.#insert(row);
    } else if (this.#nodes.has(key)) {
      this.#replace(row, this.#nodes.get(key), this.#build(kind, value));
    }
  }

  // Where a change of this epoch stands: before the first message held of its epoch or later.
  #anchorOf(epoch) {
    let anchor = Infinity;
    for (const row of this.#rows) {
      if (row.kind === "message" && row.value.seq && row.value.epoch >= epoch) anchor = Math.min(anchor, row.value.seq);
    }
    return anchor;
  }

  // A message of this seq and epoch arrived: changes it precedes move before it. Membership
  // changes are few, so this does not grow with the conversation.
  #anchorChanges(seq, epoch) {
    for (const row of this.#changes) {
      if (row.value.epoch <= epoch && row.order[0] > seq) {
        this.#remove(row);
        row.order = [seq, CHANGE, row.order[2]];
        this.#insert(row);
      }
    }
  }

  #indexOf(order) {
    let lo = 0;
    let hi = this.#rows.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (before(this.#rows[mid].order, order)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #insert(row) {
    const at = this.#indexOf(row.order);
    const last = this.#rows.length;
    this.#rows.splice(at, 0, row);
    this.#byKey.set(row.key, row);
    if (!this.#box) return;
    // A row at an edge of the window joins it only when nothing is held beyond that edge.
    const inside = (at > this.#lo || (at === this.#lo && at === 0)) && (at < this.#hi || (at === this.#hi && this.#hi === last));
    if (!inside) {
      if (at <= this.#lo) {
        this.#lo += 1;
        this.#hi += 1;
      }
      return;
    }
    const next = at < this.#hi ? this.#nodes.get(this.#rows[at + 1].key) : null;
    const node = this.#build(row.kind, row.value);
    this.#nodes.set(row.key, node);
    this.#box.insertBefore(node, next);
    this.#hi += 1;
  }

  #remove(row) {
    const at = this.#indexOf(row.order);
    this.#rows.splice(at, 1);
    this.#byKey.delete(row.key);
    if (!this.#box) return;
    if (at < this.#lo) {
      this.#lo -= 1;
      this.#hi -= 1;
    } else if (at < this.#hi) {
      this.#nodes.get(row.key).remove();
      this.#nodes.delete(row.key);
      this.#hi -= 1;
    }
  }

  #replace(row, old, fresh) {
    this.#nodes.set(row.key, fresh);
    old.replaceWith(fresh);
  }

  // -- the window ----------------------------------------------------------------------------

  #showLatest() {
    const box = this.#box;
    this.#hi = this.#rows.length;
    this.#lo = Math.max(0, this.#hi - WINDOW);
    this.#nodes.clear();
    const nodes = [];
    for (let n = this.#lo; n < this.#hi; n++) nodes.push(this.#element(this.#rows[n]));
    box.replaceChildren(...nodes);
    box.scrollTop = box.scrollHeight;
    this.#setUnseen(0);
    this.onShift();
  }

  #element(row) {
    const node = this.#build(row.kind, row.value);
    this.#nodes.set(row.key, node);
    return node;
  }

  #atBottom() {
    const box = this.#box;
    return box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_BOTTOM;
  }

  /**
   * Change rows with `change()`, keeping what the person sees where it was: a list that followed
   * the newest message still does, otherwise the first row in view stays at the same height
   * (rows added or removed above it do not move it). Then trim the window to size, from the end
   * away from the view.
   */
  #mutate(change) {
    if (!this.#box) {
      change();
      return;
    }
    const box = this.#box;
    const following = this.#atBottom();
    const anchor = following ? null : this.#firstInView();
    change();
    const anchorAt = anchor ? this.#indexOf(anchor.row.order) : this.#hi;
    while (this.#hi - this.#lo > WINDOW) {
      const fromTop = anchorAt - this.#lo > this.#hi - anchorAt;
      if (!this.#drop(fromTop ? this.#lo : this.#hi - 1)) break;
      if (fromTop) this.#lo += 1;
      else this.#hi -= 1;
    }
    if (following) {
      box.scrollTop = box.scrollHeight;
    } else if (anchor) {
      const node = this.#nodes.get(anchor.row.key);
      if (node) box.scrollTop = node.offsetTop - anchor.offset;
    }
    this.onShift();
  }

  // Take a row's element out of the DOM (not the row): never one that holds the keyboard focus.
  #drop(index) {
    const row = this.#rows[index];
    const node = this.#nodes.get(row.key);
    if (node.contains(document.activeElement)) return false;
    node.remove();
    this.#nodes.delete(row.key);
    return true;
  }

  // The first row whose element reaches into the view, found by bisection over the window.
  #firstInView() {
    if (this.#hi === this.#lo) return null;
    const top = this.#box.scrollTop;
    let lo = this.#lo;
    let hi = this.#hi - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const node = this.#nodes.get(this.#rows[mid].key);
      if (node.offsetTop + node.offsetHeight <= top) lo = mid + 1;
      else hi = mid;
    }
    // A stored message, if one is in the window from there: a change or a gap marker may move.
    let at = lo;
    while (at < this.#hi - 1 && !(this.#rows[at].kind === "message" && this.#rows[at].value.seq)) at += 1;
    const row = this.#rows[at];
    return { row, offset: this.#nodes.get(row.key).offsetTop - top };
  }

  #extendUp() {
    const from = Math.max(0, this.#lo - CHUNK);
    const nodes = [];
    for (let n = from; n < this.#lo; n++) nodes.push(this.#element(this.#rows[n]));
    this.#box.prepend(...nodes);
    this.#lo = from;
  }

  #extendDown() {
    const to = Math.min(this.#rows.length, this.#hi + CHUNK);
    const nodes = [];
    for (let n = this.#hi; n < to; n++) nodes.push(this.#element(this.#rows[n]));
    this.#box.append(...nodes);
    this.#hi = to;
  }

  #scrolled() {
    const box = this.#box;
    if (!box) return;
    const margin = box.clientHeight;
    if (box.scrollTop < margin && this.#lo > 0) {
      this.#mutate(() => this.#extendUp());
    } else if (box.scrollHeight - box.scrollTop - box.clientHeight < margin && this.#hi < this.#rows.length) {
      this.#mutate(() => this.#extendDown());
    } else if (box.scrollTop < 30 && this.#lo === 0) {
      this.onTop();
    }
    if (this.#unseen && this.#hi === this.#rows.length && this.#atBottom()) this.#setUnseen(0);
  }
}
