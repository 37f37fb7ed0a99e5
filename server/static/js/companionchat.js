// One companion group's conversation in the console (hand-over notes, a private request): read and
// written in this browser with the group's member keys, shown only while the companion's verified
// roster passes companion.trusted, each item with who wrote it (the signed sender's name in the
// group) and when.

import * as hc from "./crypto.js";
import * as store from "./keystore.js";
import * as keys from "./groupkeys.js";
import * as companion from "./companion.js";
import { el, formatTime } from "./ui.js";
import { t } from "./i18n.js";
import { firstArrivals } from "./arrivals.js";

export class CompanionChat {
  /**
   * `nodes`: {list, live, state, form, text}; `context`: {session(), syncKeys(groupId) (one change
   * to a record at a time), nameOf(parentId, memberId b64), empty (text when nothing is there)}.
   */
  constructor(nodes, context) {
    this.nodes = nodes;
    this.ctx = context;
    this.companionId = null;
    this.parentId = null;
    this.items = new Map();
    this.turns = 0; // shows asked for
    this.showing = Promise.resolve(); // the show under way
    this.usable = false; // the companion is shown and can be written to
    nodes.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.post();
    });
  }

  async records() {
    await this.ctx.syncKeys(this.parentId);
    await this.ctx.syncKeys(this.companionId);
    return [await store.group(this.parentId), await store.group(this.companionId)];
  }

  /**
   * Show a companion of `parentId` (null: none yet). Shows run one at a time and only the latest
   * asked for loads: one that a later one overtook changes nothing. Showing the same companion
   * again (its keys changed, or came) keeps what is shown until the fresh copy is ready, so a
   * refresh that fails takes nothing away.
   */
  show(parentId, companionId) {
    const turn = ++this.turns;
    if (companionId !== this.companionId || parentId !== this.parentId) {
      this.items = new Map();
      this.nodes.list.replaceChildren();
    }
    this.parentId = parentId;
    this.companionId = companionId;
    const before = this.showing;
    this.showing = (async () => {
      await before.catch(() => {});
      if (turn === this.turns) await this.load(turn);
    })();
    return this.showing;
  }

  async load(turn) {
    if (!this.companionId) return this.state(this.ctx.empty, false);
    const [parent, record] = await this.records();
    if (turn !== this.turns) return;
    if (!record?.latest || !companion.trusted(parent, record)) {
      this.items = new Map();
      this.nodes.list.replaceChildren();
      return this.state(t(record?.latest ? "console.companion.untrusted" : "console.companion.noKeys"), false);
    }
    this.state("", true);
    const reply = await this.ctx.session().call("history.get", { group_id: this.companionId, limit: 100 });
    if (turn !== this.turns) return;
    await this.ingest(record, reply.messages);
    if (turn === this.turns) this.render();
  }

  state(text, usable) {
    this.usable = usable;
    this.nodes.state.textContent = text;
    this.nodes.state.hidden = !text;
    this.nodes.form.hidden = !usable;
  }

  /** Verify and open views; returns the item of every view that opened, new or already held. */
  async ingest(record, views) {
    const items = this.items; // a show of another companion meanwhile starts a map of its own
    const opened = [];
    for (const view of views) {
      let item = await keys.open(record, view);
      if (!item && !record.epochs[view.epoch]) {
        await this.ctx.syncKeys(record.id);
        const fresh = await store.group(record.id);
        item = fresh ? await keys.open(fresh, view) : null;
      }
      if (!item) continue; // never show what does not verify
      const held = items.get(item.msgId);
      if (held?.seq) {
        opened.push(held);
        continue;
      }
      const mine = Boolean(item.senderId) && hc.equalBytes(hc.b64decode(item.senderId), record.member.memberId);
      const entry = { ...item, mine };
      items.set(item.msgId, entry);
      opened.push(entry);
    }
    return opened;
  }

  /** A live message of the shown companion. */
  async receive(data) {
    if (data.group_id !== this.companionId) return;
    const [parent, record] = [await store.group(this.parentId), await store.group(this.companionId)];
    if (data.group_id !== this.companionId || !record?.latest || !companion.trusted(parent, record)) return;
    const added = firstArrivals(await this.ingest(record, [data]));
    this.render();
    const last = added.filter((m) => !m.mine).at(-1);
    if (last) this.nodes.live.textContent = t("console.companion.newItem", { name: this.author(last) });
  }

  author(item) {
    if (item.mine) return t("console.companion.you");
    return (item.senderId && this.ctx.nameOf(this.parentId, item.senderId)) || t("console.companion.someone");
  }

  render() {
    const items = [...this.items.values()].sort((a, b) => (a.seq || Infinity) - (b.seq || Infinity));
    this.nodes.list.replaceChildren(
      ...items.map((m) =>
        el(
          "li",
          { class: `message${m.mine ? " mine" : ""}`, "data-msg": m.msgId, "data-status": m.status || "sent" },
          el("div", { class: "meta" }, el("span", { class: "who", text: this.author(m) }), " ", el("time", { text: m.serverTs ? formatTime(m.serverTs) : "" })),
          el("p", { class: m.deleted ? "text deleted" : "text", text: m.deleted ? "" : m.text }),
          m.status === "sending" ? el("p", { class: "state", text: t("console.companion.sending") }) : null,
          m.status === "failed" ? el("p", { class: "state failed", text: t("console.companion.failed", { error: m.error }) }) : null,
        ),
      ),
    );
    if (!items.length && this.ctx.emptyList) this.nodes.list.append(el("li", { class: "note", text: this.ctx.emptyList }));
  }

  async post() {
    const area = this.nodes.text;
    const text = area.value.trim();
    const id = this.companionId;
    if (!id || !text) return;
    let [parent, record] = await this.records();
    if (!record?.latest || !companion.trusted(parent, record)) return this.state(t("console.companion.untrusted"), false);
    area.value = "";
    const msgId = hc.b64encode(hc.randomBytes(16));
    const item = { msgId, text, mine: true, status: "sending", senderId: hc.b64encode(record.member.memberId), serverTs: Date.now() };
    this.items.set(msgId, item);
    this.render();
    for (let attempt = 0; ; attempt++) {
      try {
        const envelope = await keys.seal(record, text, hc.b64decode(msgId));
        const ack = await this.ctx.session().call("msg.send", { group_id: id, envelope: hc.b64encode(envelope) });
        Object.assign(item, { seq: ack.seq, serverTs: ack.server_ts, status: "sent" });
        break;
      } catch (error) {
        if (["wrong_epoch", "rotation_required"].includes(error.code) && attempt < 4) {
          await new Promise((resolve) => setTimeout(resolve, 300 * (attempt + 1)));
          [parent, record] = await this.records();
          continue;
        }
        Object.assign(item, { status: "failed", error: error.message });
        area.value = area.value || text; // nothing lost: the words are back in the box
        break;
      }
    }
    if (this.companionId === id) this.render();
  }
}
