// The console: pick who you are, read channels and your DM with the bot, run slash commands and
// shortcuts, click, fill in modals, open the App Home, and watch the stand-ins in the side panel.
// Everything the person does goes to /api/* and from there, through SlackDriver, to the bot.
import { h, initialState, isEmptyState, rawValue, renderAttachments, renderBlocks } from "./blocks.js";
import { emojify, renderMrkdwn, setNameResolvers } from "./mrkdwn.js";

const SCREEN_POLL_MS = 700;
const PANEL_POLL_MS = 1500;
const EXTERNAL = new Set(["external_select", "multi_external_select"]);
const TEXT_INPUTS = new Set(["plain_text_input", "email_text_input", "url_text_input", "number_input"]);
const REQUIRED = "Please complete this required field.";
// The quick reactions offered by a message's 🙂 button (Slack's client offers these and a full picker).
const QUICK_REACTIONS = ["eyes", "white_check_mark", "+1", "raised_hands", "tada", "ticket", "fire", "heart"];

const params = new URLSearchParams(location.search);
const S = {
  ws: null,
  me: null,
  where: { kind: "channel", name: params.get("c") || "general" }, // or { kind: "app", tab: "messages"|"home"|"about" }
  screen: null,
  rev: "",
  panel: null,
  panelRev: "",
  panelSigs: null,
  panelOpen: new Set(["okta", "google", "aws", "gitlab"]),
  seen: {},           // user id -> conversation id -> items seen
  dismissed: new Set(),
  msgCache: new Map(), // key -> { sig, el }
  renderedConv: null,
  modalKey: null,
  homeKey: null,
  dirty: {},          // view id -> block id -> action id -> state (typed, not yet submitted)
  localErrors: {},    // block id -> message (client-side checks before submit)
  openThread: null,
};

const $ = (sel) => document.querySelector(sel);

// --- talking to the console server ----------------------------------------------------------------
function toast(text, kind = "error") {
  const el = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status", title: "Click to dismiss",
    onclick: () => el.remove() }, text);
  $("#toasts").append(el);
  setTimeout(() => el.remove(), kind === "error" ? 8000 : 5000);
}

async function api(action, body = {}) {
  let data;
  try {
    const res = await fetch(`/api/${action}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ user: S.me, ...body }),
    });
    data = await res.json().catch(() => ({ ok: false, error: `HTTP ${res.status}` }));
  } catch (err) {
    data = { ok: false, error: `the sandbox is not reachable (${err.message})` };
  }
  refreshSoon();
  if (!data.ok) {
    toast(data.error);
    throw new Error(data.error);
  }
  if (data.warning) toast(data.warning, "warning");
  return data;
}

// Work after an ack happens in the bot's worker; look again soon, and a little later.
let pollTimer = null;
let polling = null;
function refreshSoon() {
  for (const delay of [50, 400, 1200]) setTimeout(() => pollScreen(), delay);
  setTimeout(() => pollPanel(), 600);
}

async function pollScreen() {
  if (!S.me) return;
  if (polling) return polling;
  polling = (async () => {
    try {
      const res = await fetch(`/api/screen?user=${encodeURIComponent(S.me)}&rev=${S.rev}`);
      if (!res.ok) return;
      const data = await res.json();
      if (data.unchanged || data.user !== S.me) return;
      S.screen = data;
      S.rev = data.rev;
      render();
    } catch (err) {
      console.error("screen", err); // the next poll tries again
    } finally {
      polling = null;
    }
  })();
  return polling;
}

function screenLoop() {
  clearTimeout(pollTimer);
  pollScreen().finally(() => { pollTimer = setTimeout(screenLoop, SCREEN_POLL_MS); });
}

let panelPolling = false;
async function pollPanel() {
  if (panelPolling) return;
  panelPolling = true;
  try {
    const res = await fetch(`/api/panel?rev=${S.panelRev}`);
    if (res.ok) {
      const data = await res.json();
      if (!data.unchanged) {
        S.panel = data;
        S.panelRev = data.rev;
        renderPanel();
      }
    }
  } catch (err) {
    console.error("panel", err); // the next poll tries again
  } finally {
    panelPolling = false;
  }
}

// --- people and places -------------------------------------------------------------------------------
const person = (id) => S.ws.people.find((p) => p.id === id);
const displayName = (id) => (id === S.ws.bot.id ? S.ws.bot.name : person(id)?.name ?? id);

function avatar(id) {
  const name = displayName(id);
  let hash = 0;
  for (const ch of id) hash = (hash * 31 + ch.charCodeAt(0)) % 360;
  const isBot = id === S.ws.bot.id;
  const initials = isBot ? "🤖" : name.split(" ").map((w) => w[0]).join("").slice(0, 2);
  return h("div", { class: `avatar ${isBot ? "bot" : ""}`, style: isBot ? undefined : `background:hsl(${hash},45%,45%)` }, initials);
}

function tsTime(ts) {
  const d = new Date(Number(ts) * 1000);
  return d.toLocaleTimeString([], { hour: "numeric", minute: "2-digit" });
}

function currentConversation() {
  if (!S.screen) return null;
  if (S.where.kind === "app") return S.screen.conversations.find((c) => c.kind === "im") ?? null;
  return S.screen.conversations.find((c) => c.kind === "channel" && c.name === S.where.name) ?? null;
}

function itemsOf(conv) {
  const ephemerals = S.screen.ephemerals.filter((e) => e.channel === conv.id && !S.dismissed.has(e.ts));
  return [...conv.messages.map((m) => ({ kind: "m", ...m })), ...ephemerals.map((e) => ({ kind: "e", ...e }))]
    .sort((a, b) => Number(a.ts) - Number(b.ts));
}

function setUrl() {
  const p = new URLSearchParams();
  p.set("as", person(S.me)?.handle ?? S.me);
  p.set("c", S.where.kind === "app" ? (S.where.tab === "home" ? "home" : "dm") : S.where.name);
  history.replaceState(null, "", `?${p}`);
}

function go(where) {
  S.where = where;
  S.openThread = null;
  setUrl();
  if (where.kind === "app" && where.tab === "home") api("home").catch(() => {});
  render();
}

function becomeUser(id) {
  S.me = id;
  S.rev = "";
  S.screen = null;
  S.modalKey = null;
  S.homeKey = null;
  S.openThread = null;
  S.msgCache.clear();
  S.renderedConv = null;
  S.dismissed.clear();
  $("#who").value = id;
  $("#who-hint").textContent = person(id)?.hint ?? "";
  setUrl();
  if (S.where.kind === "app" && S.where.tab === "home") api("home").catch(() => {});
  renderShell();
  screenLoop();
}

// --- actions on blocks --------------------------------------------------------------------------------
const plainRaw = (textObj) => textObj?.text ?? "";

function blockCtx(surface, extra = {}) {
  return {
    surface,
    people: S.ws.people,
    channels: S.ws.channels,
    onButton: (block, el, option) => api("click", {
      surface, block_id: block.block_id, label: plainRaw(option ? option.text : el.text),
      value: option ? option.value : (el.value ?? null),
    }),
    onSelect: (block, el, st) => api("select", { surface, block_id: block.block_id, action_id: el.action_id, value: rawValue(st) }),
    ...extra,
  };
}

// --- the shell: sidebar, header, composer -------------------------------------------------------------------
function renderShell() {
  const unread = (conv) => {
    const seen = S.seen[S.me]?.[conv.id] ?? 0;
    return Math.max(0, itemsOf(conv).length - seen);
  };
  const channels = $("#channel-list");
  channels.replaceChildren(...S.ws.channels.map((c) => {
    const conv = S.screen?.conversations.find((x) => x.id === c.id);
    const active = S.where.kind === "channel" && S.where.name === c.name;
    const n = conv && !active ? unread(conv) : 0;
    return h("button", { class: `nav-item ${active ? "active" : ""} ${n ? "unread" : ""}`, dataset: { conv: c.name },
      onclick: () => go({ kind: "channel", name: c.name }) }, h("span", { class: "hash" }, "#"), c.name,
      n ? h("span", { class: "badge" }, String(n)) : null);
  }));
  const im = S.screen?.conversations.find((c) => c.kind === "im");
  const active = S.where.kind === "app";
  const n = im && !(active && S.where.tab === "messages") ? unread(im) : 0;
  $("#app-list").replaceChildren(h("button", {
    class: `nav-item ${active ? "active" : ""} ${n ? "unread" : ""}`, dataset: { conv: "dm" },
    onclick: () => go({ kind: "app", tab: "messages" }),
  }, h("span", { class: "app-dot" }, "🤖"), S.ws.bot.name, n ? h("span", { class: "badge" }, String(n)) : null));

  const header = $("#conv-header");
  if (S.where.kind === "app") {
    const tab = (name, label) => h("button", { class: `tab ${S.where.tab === name ? "active" : ""}`, dataset: { tab: name },
      onclick: () => go({ kind: "app", tab: name }) }, label);
    header.replaceChildren(h("div", { class: "conv-title" }, "🤖 ", S.ws.bot.name, h("span", { class: "app-badge" }, "APP")),
      h("div", { class: "tabs" }, tab("home", "Home"), tab("messages", "Messages"), tab("about", "About")));
  } else {
    header.replaceChildren(h("div", { class: "conv-title" }, `# ${S.where.name}`));
  }
  const showMessages = S.where.kind === "channel" || S.where.tab === "messages";
  $("#messages").classList.toggle("hidden", !showMessages);
  $("#composer-area").classList.toggle("hidden", !showMessages);
  $("#home").classList.toggle("hidden", showMessages);
  $("#composer").placeholder = S.where.kind === "app" ? `Message ${S.ws.bot.name}` : `Message #${S.where.name}`;
}

// --- messages ------------------------------------------------------------------------------------------------
function messageActions(conv, item, threadTs = item.ts) {
  const menu = h("div", { class: "menu hidden" },
    ...S.ws.message_shortcuts.map((s) => h("button", {
      class: "menu-item", type: "button", dataset: { shortcut: s.callback_id },
      onclick: () => { menu.classList.add("hidden"); api("shortcut", { callback_id: s.callback_id, channel: conv.id, ts: item.ts }).catch(() => {}); },
    }, "⚡ ", s.name, h("div", { class: "option-desc" }, s.description))),
    h("button", { class: "menu-item", type: "button", onclick: () => { menu.classList.add("hidden"); S.openThread = threadTs; S.msgCache.delete(`m:${threadTs}`); renderConversation(); } }, "💬 Reply in thread"),
    h("button", { class: "menu-item", type: "button", onclick: () => { menu.classList.add("hidden"); navigator.clipboard?.writeText(item.permalink); toast("Link copied", "info"); } }, "🔗 Copy link"));
  const more = h("button", { class: "msg-more", type: "button", title: "More actions" }, "⋯");
  more.addEventListener("click", (e) => { e.stopPropagation(); document.querySelectorAll(".menu").forEach((m) => m !== menu && m.classList.add("hidden")); menu.classList.toggle("hidden"); });
  const picker = h("div", { class: "menu emoji-picker hidden" },
    ...QUICK_REACTIONS.map((name) => h("button", {
      class: "emoji-choice", type: "button", title: `:${name}:`, dataset: { emoji: name },
      onclick: () => { picker.classList.add("hidden"); react(conv, item, name, false); },
    }, emojify(`:${name}:`))));
  const smiley = h("button", { class: "msg-more msg-react", type: "button", title: "Add reaction" }, "🙂");
  smiley.addEventListener("click", (e) => { e.stopPropagation(); document.querySelectorAll(".menu").forEach((m) => m !== picker && m.classList.add("hidden")); picker.classList.toggle("hidden"); });
  return h("div", { class: "msg-actions" }, smiley, more, picker, menu);
}

// --- reactions -------------------------------------------------------------------------------------------------
function react(conv, item, name, mine) {
  api(mine ? "unreact" : "react", { channel: conv.id, ts: item.ts, name }).catch(() => {});
}

// The reactions under a message, as Slack shows them: each emoji with its count; yours highlighted (click: take it
// back), others' a click adds yours.
function reactionsRow(conv, item) {
  if (!item.reactions?.length) return null;
  return h("div", { class: "reactions" }, item.reactions.map((r) => {
    const mine = r.users.includes(S.me);
    const [base] = r.name.split("::");
    return h("button", {
      class: `reaction ${mine ? "mine" : ""}`, type: "button", dataset: { reaction: r.name },
      title: `${r.users.map(displayName).join(", ")} reacted with :${r.name}:`,
      onclick: () => react(conv, item, r.name, mine),
    }, h("span", { class: "reaction-emoji" }, emojify(`:${base}:`)), h("span", { class: "reaction-count" }, String(r.count)));
  }));
}

function messageContent(item, surface) {
  const ctx = blockCtx(surface);
  const content = h("div", { class: "msg-content" });
  if (item.blocks?.length) content.append(renderBlocks(item.blocks, ctx));
  else content.append(h("div", { class: "mrkdwn" }, renderMrkdwn(item.text)));
  content.append(...renderAttachments(item.attachments, ctx));
  return content;
}

function renderMessage(conv, item) {
  if (item.kind === "e") {
    return h("div", { class: "msg ephemeral", dataset: { ts: item.ts } }, avatar(S.ws.bot.id),
      h("div", { class: "msg-body" },
        h("div", { class: "msg-head" }, h("span", { class: "author" }, S.ws.bot.name), h("span", { class: "app-badge" }, "APP"),
          h("span", { class: "time" }, tsTime(item.ts))),
        messageContent(item, { type: "ephemeral", ts: item.ts }),
        h("div", { class: "only-you" }, "👁 Only visible to you · ",
          h("button", { class: "link", type: "button", onclick: () => { S.dismissed.add(item.ts); renderConversation(); } }, "Dismiss"))));
  }
  const surface = { type: "message", channel: conv.id, ts: item.ts };
  const replies = (item.replies ?? []).map((r) => h("div", { class: "msg reply", dataset: { ts: r.ts } }, avatar(r.user),
    h("div", { class: "msg-body" },
      h("div", { class: "msg-head" }, h("span", { class: "author" }, displayName(r.user)),
        r.is_bot ? h("span", { class: "app-badge" }, "APP") : null, h("span", { class: "time" }, tsTime(r.ts)),
        r.edited ? h("span", { class: "edited" }, "(edited)") : null),
      messageContent(r, { type: "message", channel: conv.id, ts: r.ts }), reactionsRow(conv, r)), messageActions(conv, r, item.ts)));
  let replyBox = null;
  if (S.openThread === item.ts) {
    const input = h("input", { class: "bk-text thread-input", placeholder: "Reply…" });
    input.addEventListener("keydown", async (e) => {
      if (e.key !== "Enter" || !input.value.trim()) return;
      e.preventDefault();
      const text = input.value;
      input.value = "";
      await api("post", { channel: conv.id, text, thread_ts: item.ts }).catch(() => { input.value = text; });
    });
    replyBox = input;
    setTimeout(() => input.focus(), 0);
  }
  const thread = replies.length || replyBox
    ? h("div", { class: "thread" }, replies.length ? h("div", { class: "thread-count" }, `${replies.length} repl${replies.length === 1 ? "y" : "ies"}`) : null, replies, replyBox)
    : null;
  return h("div", { class: "msg", dataset: { ts: item.ts, user: item.user } }, avatar(item.user),
    h("div", { class: "msg-body" },
      h("div", { class: "msg-head" }, h("span", { class: "author" }, displayName(item.user)),
        item.is_bot ? h("span", { class: "app-badge" }, "APP") : null, h("span", { class: "time" }, tsTime(item.ts)),
        item.edited ? h("span", { class: "edited" }, "(edited)") : null),
      messageContent(item, surface), reactionsRow(conv, item), thread),
    messageActions(conv, item));
}

function renderConversation() {
  const box = $("#messages");
  const conv = currentConversation();
  if (!conv) { box.replaceChildren(); return; }
  if (S.renderedConv !== conv.id) {
    box.replaceChildren();
    S.msgCache.clear();
    S.renderedConv = conv.id;
  }
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  const items = itemsOf(conv);
  if (!items.length) {
    box.replaceChildren(h("div", { class: "empty" }, conv.kind === "im"
      ? "This is the start of your conversation with EngOps Bot. Try /engops help."
      : `This is the very beginning of #${conv.name}. Type / for the bot's commands.`));
    S.msgCache.clear();
    return;
  }
  box.querySelector(".empty")?.remove();
  const keep = new Set();
  items.forEach((item, i) => {
    const key = `${item.kind}:${item.ts}`;
    const sig = JSON.stringify(item) + (S.openThread === item.ts ? "+thread" : "");
    keep.add(key);
    let cached = S.msgCache.get(key);
    if (!cached || cached.sig !== sig) {
      const el = renderMessage(conv, item);
      if (cached) {
        cached.el.replaceWith(el);
        el.classList.add("updated");
        setTimeout(() => el.classList.remove("updated"), 1500);
      }
      cached = { sig, el };
      S.msgCache.set(key, cached);
    }
    if (box.children[i] !== cached.el) box.insertBefore(cached.el, box.children[i] ?? null);
  });
  for (const [key, cached] of S.msgCache) {
    if (!keep.has(key)) { cached.el.remove(); S.msgCache.delete(key); }
  }
  (S.seen[S.me] ??= {})[conv.id] = items.length;
  if (atBottom) box.scrollTop = box.scrollHeight;
}

// --- App Home and About ---------------------------------------------------------------------------------------
function renderHome() {
  const box = $("#home");
  if (S.where.kind !== "app" || S.where.tab === "messages") return;
  if (S.where.tab === "about") {
    if (S.homeKey === "about") return;
    S.homeKey = "about";
    box.replaceChildren(h("div", { class: "about" },
      h("h2", {}, "EngOps Bot"),
      h("p", {}, "Access, offboarding, key rotation and IT requests for EngOps."),
      h("h3", {}, "Slash commands"),
      h("ul", {}, S.ws.commands.map((c) => h("li", {}, h("code", {}, `${c.command} ${c.usage_hint}`), " — ", c.description))),
      h("h3", {}, "Shortcuts"),
      h("ul", {}, [...S.ws.global_shortcuts, ...S.ws.message_shortcuts].map((s) => h("li", {}, h("b", {}, s.name), " — ", s.description)))));
    return;
  }
  const home = S.screen?.home;
  const key = home ? `${home.id}:${home.hash}` : "none";
  if (S.homeKey === key) return;
  S.homeKey = key;
  box.replaceChildren(home ? h("div", { class: "home-view" }, renderBlocks(home.blocks, blockCtx({ type: "home" })))
    : h("div", { class: "empty" }, "Loading the App Home…"));
}

// --- modals --------------------------------------------------------------------------------------------------------
// The newest copy of a view the server sent (its state.values follow picks made since it was drawn).
function latest(view) {
  return S.screen?.modal?.id === view.id ? S.screen.modal : view;
}

function modalInput(view) {
  return {
    state(block, el) {
      const typed = S.dirty[view.id]?.[block.block_id]?.[el.action_id];
      return typed ?? latest(view).state?.values?.[block.block_id]?.[el.action_id] ?? initialState(el);
    },
    set(block, el, st) {
      ((S.dirty[view.id] ??= {})[block.block_id] ??= {})[el.action_id] = st;
      if (S.localErrors[block.block_id]) {
        // clear the client-side error in place: redrawing would move the caret of the field being typed in
        delete S.localErrors[block.block_id];
        const shown = document.querySelector(`#modal [data-block-id="${CSS.escape(block.block_id)}"]`);
        shown?.classList.remove("has-error");
        shown?.querySelector(".bk-error")?.remove();
        S.modalKey = modalKey(latest(view));
      }
    },
    suggest: async (block, el, query) => (await api("suggest", { view_id: view.id, block_id: block.block_id, action_id: el.action_id, query })).options,
    async pick(block, el, value, options) {
      await api("pick", { view_id: view.id, block_id: block.block_id, action_id: el.action_id, value });
      const multiple = el.type === "multi_external_select";
      this.set(block, el, multiple ? { type: el.type, selected_options: options } : { type: el.type, selected_option: options[0] ?? null });
    },
  };
}

function inputBlocks(view) {
  return (view.blocks ?? []).filter((b) => b.type === "input" && b.element);
}

async function submitModal(drawn) {
  const view = latest(drawn);
  const input = modalInput(view);
  const errors = {};
  const values = {};
  for (const block of inputBlocks(view)) {
    const el = block.element;
    const st = input.state(block, el);
    if (!block.optional && isEmptyState(st)) errors[block.block_id] = REQUIRED;
    else if (TEXT_INPUTS.has(el.type) && st.value && el.min_length && st.value.length < el.min_length) {
      errors[block.block_id] = `Please enter at least ${el.min_length} characters.`;
    }
    const typed = S.dirty[view.id]?.[block.block_id]?.[el.action_id];
    if (!typed || EXTERNAL.has(el.type)) continue;
    if (isEmptyState(typed) && !TEXT_INPUTS.has(el.type)) continue;
    values[block.block_id] = { [el.action_id]: isEmptyState(typed) ? "" : rawValue(typed) };
  }
  if (Object.keys(errors).length) {
    S.localErrors = errors;
    S.modalKey = null;
    renderModal();
    return;
  }
  const button = $("#modal .modal-submit");
  if (button) button.disabled = true;
  try {
    await api("submit", { view_id: view.id, values });
    delete S.dirty[view.id];
  } catch (err) {
    /* shown as a toast */
  } finally {
    if (button) button.disabled = false;
  }
}

function closeModal(view) {
  api("close", { view_id: view.id }).catch(() => {});
}

function modalKey(view) {
  return `${view.id}:${view.hash}:${JSON.stringify({ ...view.errors, ...S.localErrors })}`;
}

function renderModal() {
  const root = $("#modal-root");
  const view = S.screen?.modal;
  if (!view) {
    if (root.firstChild) root.replaceChildren();
    S.modalKey = null;
    S.localErrors = {};
    return;
  }
  const errors = { ...view.errors, ...S.localErrors };
  const key = modalKey(view);
  if (S.modalKey === key) return;
  if (S.modalKey && !S.modalKey.startsWith(`${view.id}:`)) S.localErrors = {};
  S.modalKey = key;
  const ctx = blockCtx({ type: "view", view_id: view.id }, { input: modalInput(view), errors });
  const title = view.title?.text ?? "";
  const dialog = h("div", { class: "dialog modal", id: "modal", role: "dialog", "aria-label": title, dataset: { viewId: view.id, callbackId: view.callback_id ?? "" } },
    h("div", { class: "dialog-head" },
      view.depth > 1 ? h("button", { class: "icon-btn modal-back", type: "button", title: "Back", onclick: () => closeModal(view) }, "←") : null,
      h("div", { class: "app-icon" }, "🤖"),
      h("h2", { class: "modal-title" }, title),
      h("button", { class: "icon-btn modal-x", type: "button", title: "Close", onclick: () => closeModal(view) }, "×")),
    h("div", { class: "dialog-body" }, renderBlocks(view.blocks, ctx)),
    h("div", { class: "dialog-foot" },
      h("button", { class: "btn modal-close", type: "button", onclick: () => closeModal(view) }, view.close?.text ?? "Cancel"),
      view.submit ? h("button", { class: "btn primary modal-submit", type: "button", onclick: () => submitModal(view) }, view.submit.text) : null));
  dialog.addEventListener("keydown", (e) => {
    if (e.defaultPrevented) return;
    if (e.key === "Enter" && e.target.tagName === "INPUT" && !e.target.classList.contains("typeahead-input") && view.submit) {
      e.preventDefault();
      submitModal(view);
    }
  });
  const hadFocus = document.activeElement?.dataset?.actionId;
  root.replaceChildren(h("div", { class: "overlay" }, dialog));
  const focus = (hadFocus && dialog.querySelector(`[data-action-id="${CSS.escape(hadFocus)}"]`)) || dialog.querySelector("input:not(.hidden),textarea,select");
  focus?.focus?.();
}

// --- the composer --------------------------------------------------------------------------------------------------
function slashMenu() {
  const composer = $("#composer");
  const menu = $("#slash-menu");
  const text = composer.value;
  const m = /^\/(\S*)$/.exec(text);
  if (!m) { menu.classList.add("hidden"); return; }
  const matches = S.ws.commands.filter((c) => c.command.startsWith(`/${m[1]}`));
  if (!matches.length) { menu.classList.add("hidden"); return; }
  menu.replaceChildren(h("div", { class: "menu-head" }, "Commands for EngOps Bot"), ...matches.map((c) => h("button", {
    class: "menu-item slash-item", type: "button", dataset: { command: c.command },
    onmousedown: (e) => { e.preventDefault(); composer.value = `${c.command} `; menu.classList.add("hidden"); composer.focus(); },
  }, h("b", {}, c.command), " ", h("span", { class: "usage" }, c.usage_hint), h("div", { class: "option-desc" }, c.description))));
  menu.classList.remove("hidden");
}

async function send() {
  const composer = $("#composer");
  const text = composer.value.trim();
  if (!text) return;
  const conv = currentConversation();
  if (!conv) return;
  composer.value = "";
  $("#slash-menu").classList.add("hidden");
  try {
    if (text.startsWith("/")) {
      const [command, ...rest] = text.split(/\s+/);
      const args = text.slice(command.length).trim();
      await api("command", { channel: conv.id, command, text: rest.length ? args : "" });
    } else {
      await api("post", { channel: conv.id, text });
    }
  } catch (err) {
    composer.value = text;
  }
}

function setupComposer() {
  const composer = $("#composer");
  composer.addEventListener("input", slashMenu);
  composer.addEventListener("keydown", (e) => {
    if (e.key === "Tab" && !$("#slash-menu").classList.contains("hidden")) {
      e.preventDefault();
      $("#slash-menu .slash-item")?.dispatchEvent(new MouseEvent("mousedown"));
    } else if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      send();
    } else if (e.key === "Escape") {
      $("#slash-menu").classList.add("hidden");
    }
  });
  composer.addEventListener("blur", () => setTimeout(() => $("#slash-menu").classList.add("hidden"), 150));
  const menu = $("#shortcut-menu");
  menu.replaceChildren(h("div", { class: "menu-head" }, "Shortcuts"), ...S.ws.global_shortcuts.map((s) => h("button", {
    class: "menu-item", type: "button", dataset: { shortcut: s.callback_id },
    onclick: () => { menu.classList.add("hidden"); api("shortcut", { callback_id: s.callback_id }).catch(() => {}); },
  }, "⚡ ", s.name, h("div", { class: "option-desc" }, s.description))));
  $("#shortcuts-btn").addEventListener("click", (e) => { e.stopPropagation(); menu.classList.toggle("hidden"); });
  document.addEventListener("click", () => document.querySelectorAll(".menu").forEach((m) => m.classList.add("hidden")));
}

// --- the stand-ins panel -------------------------------------------------------------------------------------------
// A panel item whose change since the last poll is flashed (found again by its key).
function row(key, attrs, ...children) {
  return h(attrs.tag ?? "div", { ...attrs, tag: undefined, class: `row ${attrs.class ?? ""}`, dataset: { ...(attrs.dataset ?? {}), key } }, ...children);
}

function section(key, title, summary, ...body) {
  const details = h("details", { class: "panel-section", dataset: { panel: key }, open: S.panelOpen.has(key) },
    h("summary", {}, h("span", { class: "panel-title" }, title), h("span", { class: "panel-summary" }, summary)), ...body);
  details.addEventListener("toggle", () => (details.open ? S.panelOpen.add(key) : S.panelOpen.delete(key)));
  return details;
}

const local = (email) => email?.split("@")[0] ?? "";

function okta(state) {
  const notActive = state.users.filter((u) => u.status !== "ACTIVE");
  const active = state.users.length - notActive.length;
  return section("okta", "Okta", `${state.groups.length} groups · ${notActive.length} not active`,
    h("div", { class: "panel-sub" }, "Group memberships"),
    ...state.groups.map((g) => row(`okta-group-${g.name}`, { class: "okta-group", dataset: { oktaGroup: g.name }, title: g.description },
      h("span", { class: "row-title" }, g.name), h("span", { class: "count" }, String(g.members.length)), " ",
      g.name === "everyone" ? h("span", { class: "muted" }, "all employees")
        : h("span", { class: "chips inline" }, g.members.map((m) => h("span", { class: "chip member", dataset: { login: m } }, local(m)))))),
    h("div", { class: "panel-sub" }, "User status"),
    h("div", { class: "chips status-grid" },
      h("span", { class: "chip status active" }, `${active} ACTIVE`),
      notActive.map((u) => row(`okta-user-${u.login}`, {
        class: `chip status ${u.status.toLowerCase()}`, dataset: { oktaUser: u.login, status: u.status },
        title: state.sessions_cleared[u.login] ? `sessions cleared ${state.sessions_cleared[u.login]}×` : undefined,
      }, `${local(u.login)} `, h("b", {}, u.status), state.sessions_cleared[u.login] ? " · sessions cleared" : ""))));
}

function google(state) {
  const suspended = state.users.filter((u) => u.suspended);
  return section("google", "Google Workspace", `${suspended.length} suspended of ${state.users.length}`,
    suspended.length ? h("div", { class: "chips" }, suspended.map((u) => row(`google-${u.email}`, { class: "chip suspended", dataset: { googleSuspended: u.email } },
      `⛔ ${u.email} suspended`, state.signouts[u.email] ? h("span", { class: "muted" }, " · signed out") : null)))
      : h("div", { class: "muted" }, "Nobody is suspended."));
}

function aws(state) {
  const keys = state.users.flatMap((u) => u.keys.map((k) => ({ user: u, key: k })));
  const inactive = keys.filter(({ key }) => key.status !== "Active").length;
  return section("aws", "AWS IAM", `${keys.length} keys · ${inactive} inactive · ${state.secrets.length} secrets`,
    h("table", { class: "iam" },
      h("tr", {}, h("th", {}, "IAM user"), h("th", {}, "key"), h("th", {}, "status"), h("th", {}, "age"), h("th", {}, "last used")),
      keys.map(({ user, key }) => row(`iam-key-${key.id}`, { tag: "tr", class: `iam-key ${key.status.toLowerCase()}`, dataset: { iamUser: user.name, keyId: key.id, status: key.status } },
        h("td", { title: user.email ?? "no email tag" }, user.name), h("td", {}, h("code", {}, `…${key.id.slice(-4)}`)),
        h("td", {}, h("span", { class: `pill ${key.status.toLowerCase()}` }, key.status)),
        h("td", { class: key.age_days > 90 ? "old" : "" }, `${key.age_days ?? "?"} d`),
        h("td", { class: "muted" }, key.last_used_days === null ? "never" : `${key.last_used_days} d ago`))),
      state.users.filter((u) => !u.keys.length).map((u) => row(`iam-user-${u.name}`, { tag: "tr", class: "iam-key", dataset: { iamUser: u.name } },
        h("td", {}, u.name), h("td", { class: "muted", colspan: "4" }, "no keys")))),
    h("div", { class: "panel-sub" }, "Secrets Manager (names only)"),
    state.secrets.length ? state.secrets.map((s) => row(`secret-${s.name}`, { class: "secret", dataset: { secret: s.name }, title: s.arn }, "🔐 ", s.name))
      : h("div", { class: "muted" }, "No secrets yet."));
}

// An issue's title line; clicking it shows the description (what the bot filed) in place.
function issueBody(project, issue) {
  const key = `issue-${project.path}-${issue.iid}`;
  const open = S.panelOpen.has(key);
  const description = h("pre", { class: `issue-description ${open ? "" : "hidden"}` }, issue.description || "(no description)");
  const toggle = h("button", { type: "button", class: "link issue-toggle", title: "Show the description",
    onclick: () => {
      const shown = description.classList.toggle("hidden") === false;
      if (shown) S.panelOpen.add(key); else S.panelOpen.delete(key);
    } }, `#${issue.iid}`);
  return h("div", {},
    h("div", { class: "row-title" }, issue.confidential ? "🔒 " : "", toggle, " ", issue.title, h("span", { class: `pill ${issue.state}` }, issue.state)),
    description);
}

function gitlab(state) {
  const total = state.projects.reduce((n, p) => n + p.issues.length, 0);
  return section("gitlab", "GitLab", `${total} issues`,
    ...state.projects.map((p) => h("div", { class: "project", dataset: { project: p.path } },
      h("div", { class: "panel-sub" }, p.path),
      p.issues.length ? p.issues.map((i) => row(`issue-${p.path}-${i.iid}`, { class: `issue ${i.state}`, dataset: { iid: String(i.iid) } },
        issueBody(p, i),
        h("div", { class: "chips" }, i.labels.map((l) => h("span", { class: "chip label" }, l)),
          i.assignees.length ? h("span", { class: "muted" }, ` → ${i.assignees.join(", ")}`) : null),
        i.notes.length ? h("div", { class: "notes" }, i.notes.map((n) => h("div", { class: `note ${n.system ? "system" : ""}` }, h("b", {}, n.author), ": ", n.body))) : null))
        : h("div", { class: "muted" }, "No issues."))));
}

function renderPanel() {
  if (!S.panel) return;
  const body = $("#panel-body");
  const scroll = body.scrollTop;
  body.replaceChildren(okta(S.panel.okta), google(S.panel.google), aws(S.panel.aws), gitlab(S.panel.gitlab));
  body.scrollTop = scroll;
  const sigs = new Map([...body.querySelectorAll("[data-key]")].map((el) => [el.dataset.key, el.textContent]));
  if (S.panelSigs) {
    for (const el of body.querySelectorAll("[data-key]")) {
      const before = S.panelSigs.get(el.dataset.key);
      if (before !== el.textContent) el.classList.add("flash");
    }
  }
  S.panelSigs = sigs;
}

// --- links that point inside the sandbox ---------------------------------------------------------------------------
// A Slack permalink opens that message here; a link to a GitLab issue opens it in the panel.
function followLink(event) {
  const a = event.target.closest?.("a[href]");
  if (!a || !S.ws) return;
  const url = new URL(a.href, location.href);
  const permalink = /^\/archives\/([CDG][A-Z0-9]+)\/p(\d+)(\d{6})$/.exec(url.pathname);
  if (url.hostname === `${S.ws.team.domain}.slack.com` && permalink) {
    event.preventDefault();
    const [, channel, secs, micros] = permalink;
    const ts = url.searchParams.get("thread_ts") ?? `${secs}.${micros}`;
    const named = S.ws.channels.find((c) => c.id === channel);
    if (named) go({ kind: "channel", name: named.name });
    else if (channel === S.screen?.conversations.find((c) => c.kind === "im")?.id) go({ kind: "app", tab: "messages" });
    else { toast("That message is in someone else's DM with the bot.", "info"); return; }
    setTimeout(() => flashInto(document.querySelector(`#messages .msg[data-ts="${CSS.escape(ts)}"]`)), 50);
    return;
  }
  const issue = /^\/(.+)\/-\/issues\/(\d+)$/.exec(url.pathname);
  const project = issue && S.panel?.gitlab.projects.find((p) => p.path === decodeURIComponent(issue[1]));
  if (project) {
    event.preventDefault();
    document.body.classList.remove("panel-hidden");
    S.panelOpen.add("gitlab");
    S.panelOpen.add(`issue-${project.path}-${issue[2]}`);
    S.panelSigs = null;
    renderPanel();
    flashInto(document.querySelector(`#panel [data-key="issue-${CSS.escape(project.path)}-${issue[2]}"]`));
  }
}

function flashInto(el) {
  if (!el) return;
  el.scrollIntoView({ block: "center" });
  el.classList.remove("flash");
  void el.offsetWidth; // restart the animation
  el.classList.add("flash");
}

// --- everything --------------------------------------------------------------------------------------------------
function render() {
  if (!S.ws) return;
  renderShell();
  const showMessages = S.where.kind === "channel" || S.where.tab === "messages";
  if (showMessages) renderConversation();
  else { S.renderedConv = null; S.msgCache.clear(); renderHome(); }
  if (showMessages) S.homeKey = null;
  renderModal();
}

async function boot() {
  let ws = null;
  while (!ws) {
    try {
      const res = await fetch("/api/workspace");
      if (res.ok) ws = await res.json();
    } catch (err) { /* not up yet */ }
    if (!ws) await new Promise((r) => setTimeout(r, 500));
  }
  S.ws = ws;
  setNameResolvers({
    user: (id) => (id === ws.bot.id ? ws.bot.name : ws.people.find((p) => p.id === id)?.handle ?? id),
    channel: (id) => ws.channels.find((c) => c.id === id)?.name ?? id,
  });
  const who = $("#who");
  who.replaceChildren(...ws.people.map((p) => h("option", { value: p.id, title: p.hint }, `${p.name} (@${p.handle})`)));
  who.addEventListener("change", () => becomeUser(who.value));
  const c = params.get("c");
  if (c === "dm" || c === "home") S.where = { kind: "app", tab: c === "home" ? "home" : "messages" };
  $("#panel-toggle").addEventListener("click", () => document.body.classList.toggle("panel-hidden"));
  if (params.get("panel") === "0") document.body.classList.add("panel-hidden");
  setupComposer();
  document.addEventListener("click", followLink, true);
  document.body.classList.remove("starting");
  const wanted = params.get("as") || "alice";
  const me = ws.people.find((p) => p.handle === wanted || p.id === wanted || p.email === wanted) ?? ws.people[0];
  becomeUser(me.id);
  pollPanel();
  setInterval(pollPanel, PANEL_POLL_MS);
}

boot();
