// Block Kit to DOM. Messages, modals and the App Home all go through renderBlocks(blocks, ctx).
//
// ctx: {
//   surface,                       where the blocks are shown (sent back with every action)
//   people, channels,              for user and conversation selects (Slack's client has its directory)
//   onButton(block, el, option)    a button or overflow item was pressed -> Promise
//   onSelect(block, el, state)     a choice Slack reports at once (block_actions) -> Promise
//   input: { state(block, el), set(block, el, state), suggest(block, el, query), pick(block, el, values) }
//                                  modal inputs (absent outside modals)
//   errors: { block_id: message }  inline errors from response_action "errors"
// }
import { renderMrkdwn, renderPlain, renderText } from "./mrkdwn.js";

const STATE_FIELD = {
  plain_text_input: "value", email_text_input: "value", url_text_input: "value", number_input: "value",
  static_select: "selected_option", external_select: "selected_option", radio_buttons: "selected_option",
  multi_static_select: "selected_options", multi_external_select: "selected_options", checkboxes: "selected_options",
  users_select: "selected_user", multi_users_select: "selected_users",
  conversations_select: "selected_conversation", multi_conversations_select: "selected_conversations",
  channels_select: "selected_channel", multi_channels_select: "selected_channels",
  datepicker: "selected_date", timepicker: "selected_time",
};
const INITIAL_FIELD = {
  value: "initial_value", selected_option: "initial_option", selected_options: "initial_options",
  selected_user: "initial_user", selected_users: "initial_users", selected_conversation: "initial_conversation",
  selected_conversations: "initial_conversations", selected_channel: "initial_channel",
  selected_channels: "initial_channels", selected_date: "initial_date", selected_time: "initial_time",
};

export function stateField(type) {
  return STATE_FIELD[type];
}

export function initialState(el) {
  const field = STATE_FIELD[el.type];
  let value = el[INITIAL_FIELD[field]];
  if (value === undefined) value = field.endsWith("s") && field.startsWith("selected_") ? [] : null;
  return { type: el.type, [field]: value };
}

export function isEmptyState(st) {
  const v = st?.[STATE_FIELD[st?.type]];
  return v === null || v === undefined || v === "" || (Array.isArray(v) && v.length === 0);
}

// The raw value SlackDriver.select takes for an element's state (option values, ids, dates, text).
export function rawValue(st) {
  const v = st[STATE_FIELD[st.type]];
  if (v === null || v === undefined) return null;
  if (Array.isArray(v)) return v.map((x) => (typeof x === "object" ? x.value : x));
  return typeof v === "object" ? v.value : v;
}

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c);
  return el;
}

function plainString(textObj) {
  return renderPlain(textObj).textContent;
}

function allOptions(el) {
  return [...(el.options ?? []), ...(el.option_groups ?? []).flatMap((g) => g.options ?? [])];
}

// --- confirm dialogs (a button's "confirm" object) ------------------------------------------------
function confirmFirst(confirm) {
  if (!confirm) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok) => { overlay.remove(); resolve(ok); };
    const overlay = h("div", { class: "overlay confirm-overlay" },
      h("div", { class: "dialog confirm", role: "dialog" },
        h("div", { class: "dialog-head" }, h("h2", {}, renderText(confirm.title))),
        h("div", { class: "dialog-body" }, renderText(confirm.text)),
        h("div", { class: "dialog-foot" },
          h("button", { class: "btn", onclick: () => done(false) }, renderText(confirm.deny ?? { type: "plain_text", text: "Cancel" })),
          h("button", { class: `btn ${confirm.style === "danger" ? "danger" : "primary"}`, onclick: () => done(true) },
            renderText(confirm.confirm ?? { type: "plain_text", text: "Yes" })))));
    document.body.append(overlay);
  });
}

async function busy(button, work) {
  button.disabled = true;
  button.classList.add("busy");
  try { await work(); } finally { button.disabled = false; button.classList.remove("busy"); }
}

// --- elements ---------------------------------------------------------------------------------------
function button(block, el, ctx) {
  const b = h("button", {
    class: `bk-button ${el.style ?? ""}`, type: "button", title: el.accessibility_label,
    dataset: { actionId: el.action_id ?? "", blockId: block.block_id ?? "" },
  }, renderPlain(el.text));
  b.addEventListener("click", async () => {
    if (!(await confirmFirst(el.confirm))) return;
    if (el.url) window.open(el.url, "_blank", "noopener");
    await busy(b, () => ctx.onButton(block, el, null));
  });
  return b;
}

function overflow(block, el, ctx) {
  const menu = h("div", { class: "menu hidden" });
  const trigger = h("button", { class: "bk-overflow", type: "button", title: "More actions" }, "⋯");
  for (const option of el.options ?? []) {
    menu.append(h("button", {
      class: "menu-item", type: "button",
      onclick: async () => {
        menu.classList.add("hidden");
        if (!(await confirmFirst(el.confirm))) return;
        if (option.url) window.open(option.url, "_blank", "noopener");
        await busy(trigger, () => ctx.onButton(block, el, option));
      },
    }, renderPlain(option.text)));
  }
  // any other click closes it (one document listener in app.js closes every open .menu)
  trigger.addEventListener("click", (e) => { e.stopPropagation(); menu.classList.toggle("hidden"); });
  return h("span", { class: "overflow-wrap" }, trigger, menu);
}

// A choice inside an input block without dispatch_action is only remembered (sent on submit); any
// other choice is reported to the app at once, as Slack does.
function choose(block, el, ctx, st) {
  const remembered = block.type === "input" && !block.dispatch_action && ctx.input;
  if (remembered) ctx.input.set(block, el, st);
  else return ctx.onSelect(block, el, st);
  return Promise.resolve();
}

function currentState(block, el, ctx) {
  return ctx.input ? ctx.input.state(block, el) : initialState(el);
}

function staticSelect(block, el, ctx) {
  const st = currentState(block, el, ctx);
  const chosen = st.selected_option?.value ?? "";
  const select = h("select", { class: "bk-select", dataset: { actionId: el.action_id ?? "" } });
  select.append(h("option", { value: "", disabled: true, selected: !chosen }, plainString(el.placeholder ?? { text: "Select an item" })));
  const addOption = (parent, o) => parent.append(h("option", { value: o.value, selected: o.value === chosen }, plainString(o.text)));
  for (const o of el.options ?? []) addOption(select, o);
  for (const g of el.option_groups ?? []) {
    const group = h("optgroup", { label: plainString(g.label) });
    for (const o of g.options ?? []) addOption(group, o);
    select.append(group);
  }
  select.addEventListener("change", () => {
    const option = allOptions(el).find((o) => o.value === select.value) ?? null;
    choose(block, el, ctx, { type: el.type, selected_option: option });
  });
  return select;
}

function multiStatic(block, el, ctx) {
  const chosen = new Set((currentState(block, el, ctx).selected_options ?? []).map((o) => o.value));
  const box = h("div", { class: "bk-multi" });
  for (const o of allOptions(el)) {
    const input = h("input", { type: "checkbox", value: o.value, checked: chosen.has(o.value) });
    input.addEventListener("change", () => {
      const picked = allOptions(el).filter((x) => box.querySelector(`input[value="${CSS.escape(x.value)}"]`).checked);
      choose(block, el, ctx, { type: el.type, selected_options: picked });
    });
    box.append(h("label", { class: "bk-check" }, input, " ", renderPlain(o.text)));
  }
  return box;
}

function choiceList(block, el, ctx, multiple) {
  const st = currentState(block, el, ctx);
  const chosen = new Set(multiple ? (st.selected_options ?? []).map((o) => o.value) : [st.selected_option?.value]);
  const name = `${block.block_id}-${el.action_id}-${Math.random().toString(36).slice(2, 7)}`;
  const box = h("div", { class: "bk-choices" });
  for (const o of el.options ?? []) {
    const input = h("input", { type: multiple ? "checkbox" : "radio", name, value: o.value, checked: chosen.has(o.value) });
    input.addEventListener("change", () => {
      const picked = (el.options ?? []).filter((x) => box.querySelector(`input[value="${CSS.escape(x.value)}"]`).checked);
      choose(block, el, ctx, multiple ? { type: el.type, selected_options: picked }
        : { type: el.type, selected_option: picked[0] ?? null });
    });
    box.append(h("label", { class: "bk-check" }, input, " ", h("span", {}, renderText(o.text),
      o.description ? h("div", { class: "option-desc" }, renderText(o.description)) : null)));
  }
  return box;
}

// A type-ahead: `search(query)` gives options [{value, label, description}]; `onPick(option)`.
function typeahead({ placeholder, chosenLabels, search, onPick, onClear, minLength = 0, multiple = false, actionId }) {
  const input = h("input", { type: "text", class: "bk-text typeahead-input", placeholder, autocomplete: "off" });
  const list = h("div", { class: "typeahead-list hidden", role: "listbox" });
  const chips = h("div", { class: "chips" });
  const wrap = h("div", { class: "typeahead", dataset: { actionId: actionId ?? "" } }, chips, input, list);
  const showChips = (labels) => {
    chips.replaceChildren(...labels.map((label, i) => h("span", { class: "chip" }, label,
      h("button", { type: "button", class: "chip-x", title: "Remove", onclick: () => onClear(i) }, "×"))));
    if (!multiple) input.classList.toggle("hidden", labels.length > 0);
  };
  showChips(chosenLabels);
  let timer = null, seq = 0;
  const run = async () => {
    const q = input.value;
    if (q.length < minLength) { list.classList.add("hidden"); return; }
    const mine = ++seq;
    list.replaceChildren(h("div", { class: "typeahead-empty" }, "Searching…"));
    list.classList.remove("hidden");
    let options = [];
    try { options = await search(q); } catch (err) { options = []; }
    if (mine !== seq) return;
    list.replaceChildren(...(options.length ? options.map((o) => h("div", {
      class: "typeahead-option", role: "option", dataset: { value: o.value },
      onmousedown: (e) => { e.preventDefault(); list.classList.add("hidden"); input.value = ""; onPick(o); },
    }, h("div", {}, o.label), o.description ? h("div", { class: "option-desc" }, o.description) : null))
      : [h("div", { class: "typeahead-empty" }, "No results")]));
  };
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(run, 150); });
  input.addEventListener("focus", () => { if (minLength === 0 || input.value.length >= minLength) run(); });
  input.addEventListener("blur", () => setTimeout(() => list.classList.add("hidden"), 150));
  wrap.showChips = showChips;
  return wrap;
}

function externalSelect(block, el, ctx) {
  const multiple = el.type === "multi_external_select";
  if (!ctx.input) {
    return h("span", { class: "unsupported" }, "(external select: open it from a modal)");
  }
  const st = ctx.input.state(block, el);
  let chosen = multiple ? [...(st.selected_options ?? [])] : (st.selected_option ? [st.selected_option] : []);
  const ta = typeahead({
    actionId: el.action_id,
    placeholder: plainString(el.placeholder ?? { text: "Type to search" }),
    chosenLabels: chosen.map((o) => plainString(o.text)),
    minLength: Number(el.min_query_length ?? 3),
    multiple,
    search: async (q) => (await ctx.input.suggest(block, el, q)).map((o) => ({
      value: o.value, label: plainString(o.text), description: o.description ? plainString(o.description) : null, option: o,
    })),
    onPick: async (o) => {
      const next = multiple ? [...chosen.filter((c) => c.value !== o.value), o.option] : [o.option];
      await ctx.input.pick(block, el, multiple ? next.map((x) => x.value) : o.value, next);
      chosen = next;
      ta.showChips(chosen.map((x) => plainString(x.text)));
    },
    onClear: async (i) => {
      const next = chosen.filter((_, j) => j !== i);
      await ctx.input.pick(block, el, multiple ? next.map((x) => x.value) : null, next);
      chosen = next;
      ta.showChips(chosen.map((x) => plainString(x.text)));
    },
  });
  return ta;
}

function usersSelect(block, el, ctx) {
  const multiple = el.type === "multi_users_select";
  const st = currentState(block, el, ctx);
  let chosen = multiple ? [...(st.selected_users ?? [])] : (st.selected_user ? [st.selected_user] : []);
  const nameOf = (id) => ctx.people.find((p) => p.id === id)?.name ?? id;
  const commit = (ids) => choose(block, el, ctx, multiple ? { type: el.type, selected_users: ids }
    : { type: el.type, selected_user: ids[0] ?? null });
  const ta = typeahead({
    actionId: el.action_id,
    placeholder: plainString(el.placeholder ?? { text: "Search for a person" }),
    chosenLabels: chosen.map(nameOf),
    multiple,
    search: async (q) => ctx.people
      .filter((p) => `${p.name} ${p.handle} ${p.email}`.toLowerCase().includes(q.toLowerCase()))
      .slice(0, 20).map((p) => ({ value: p.id, label: p.name, description: `@${p.handle}` })),
    onPick: async (o) => {
      chosen = multiple ? [...chosen.filter((c) => c !== o.value), o.value] : [o.value];
      ta.showChips(chosen.map(nameOf));
      await commit(chosen);
    },
    onClear: async (i) => {
      chosen = chosen.filter((_, j) => j !== i);
      ta.showChips(chosen.map(nameOf));
      await commit(chosen);
    },
  });
  return ta;
}

function conversationsSelect(block, el, ctx) {
  const field = STATE_FIELD[el.type];
  const st = currentState(block, el, ctx);
  const select = h("select", { class: "bk-select", dataset: { actionId: el.action_id ?? "" } },
    h("option", { value: "", disabled: true, selected: !st[field] }, plainString(el.placeholder ?? { text: "Select a channel" })),
    ...ctx.channels.map((c) => h("option", { value: c.id, selected: st[field] === c.id }, `#${c.name}`)));
  select.addEventListener("change", () => choose(block, el, ctx, { type: el.type, [field]: select.value }));
  return select;
}

function pickerInput(block, el, ctx, inputType) {
  const field = STATE_FIELD[el.type];
  const st = currentState(block, el, ctx);
  const input = h("input", { type: inputType, class: "bk-text bk-picker", value: st[field] ?? "", dataset: { actionId: el.action_id ?? "" } });
  input.addEventListener("change", () => choose(block, el, ctx, { type: el.type, [field]: input.value || null }));
  return input;
}

function textInput(block, el, ctx) {
  const st = currentState(block, el, ctx);
  const attrs = {
    class: "bk-text", placeholder: el.placeholder ? plainString(el.placeholder) : undefined,
    maxlength: el.max_length, dataset: { actionId: el.action_id ?? "", blockId: block.block_id ?? "" },
  };
  const kind = { email_text_input: "email", url_text_input: "url", number_input: "number" }[el.type] ?? "text";
  const input = el.multiline ? h("textarea", { ...attrs, rows: 4 }) : h("input", { ...attrs, type: kind });
  input.value = st.value ?? "";
  input.addEventListener("input", () => ctx.input?.set(block, el, { type: el.type, value: input.value === "" ? null : input.value }));
  if (block.dispatch_action && !el.multiline) {
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") { e.preventDefault(); ctx.onSelect(block, el, { type: el.type, value: input.value }); }
    });
  }
  return input;
}

function image(el) {
  const img = h("img", { class: "bk-image-accessory", src: el.image_url, alt: el.alt_text ?? "", title: el.alt_text ?? "" });
  img.addEventListener("error", () => img.replaceWith(h("span", { class: "image-missing", title: el.image_url }, `🖼 ${el.alt_text ?? ""}`)));
  return img;
}

export function renderElement(block, el, ctx) {
  switch (el.type) {
    case "button": case "workflow_button": return button(block, el, ctx);
    case "overflow": return overflow(block, el, ctx);
    case "static_select": return staticSelect(block, el, ctx);
    case "multi_static_select": return multiStatic(block, el, ctx);
    case "external_select": case "multi_external_select": return externalSelect(block, el, ctx);
    case "users_select": case "multi_users_select": return usersSelect(block, el, ctx);
    case "conversations_select": case "channels_select": return conversationsSelect(block, el, ctx);
    case "radio_buttons": return choiceList(block, el, ctx, false);
    case "checkboxes": return choiceList(block, el, ctx, true);
    case "datepicker": return pickerInput(block, el, ctx, "date");
    case "timepicker": return pickerInput(block, el, ctx, "time");
    case "plain_text_input": case "email_text_input": case "url_text_input": case "number_input":
      return textInput(block, el, ctx);
    case "image": return image(el);
    case "plain_text": case "mrkdwn": return h("span", {}, renderText(el));
    default: return h("span", { class: "unsupported" }, `[${el.type}]`);
  }
}

// --- rich text (people's own messages) ---------------------------------------------------------------------
function richInline(el, ctx) {
  let node;
  switch (el.type) {
    case "text": node = document.createTextNode(el.text ?? ""); break;
    case "link": node = h("a", { href: el.url, target: "_blank", rel: "noopener noreferrer" }, el.text ?? el.url); break;
    case "user": node = renderMrkdwn(`<@${el.user_id}>`); break;
    case "channel": node = renderMrkdwn(`<#${el.channel_id}>`); break;
    case "emoji": node = renderMrkdwn(`:${el.name}:`); break;
    case "broadcast": node = renderMrkdwn(`<!${el.range}>`); break;
    default: node = document.createTextNode("");
  }
  const style = el.style ?? {};
  for (const [flag, tag] of [["code", "code"], ["bold", "b"], ["italic", "i"], ["strike", "s"]]) {
    if (style[flag]) node = h(tag, {}, node);
  }
  return node;
}

function richText(block, ctx) {
  const box = h("div", { class: "bk-rich" });
  for (const part of block.elements ?? []) {
    const inline = (part.elements ?? []).map((e) => richInline(e, ctx));
    if (part.type === "rich_text_section") box.append(h("div", {}, inline));
    else if (part.type === "rich_text_quote") box.append(h("blockquote", {}, inline));
    else if (part.type === "rich_text_preformatted") box.append(h("pre", {}, inline));
    else if (part.type === "rich_text_list") {
      const list = h(part.style === "ordered" ? "ol" : "ul", {});
      for (const item of part.elements ?? []) list.append(h("li", {}, (item.elements ?? []).map((e) => richInline(e, ctx))));
      box.append(list);
    }
  }
  return box;
}

// --- blocks -------------------------------------------------------------------------------------------------
function inputBlock(block, ctx) {
  const error = ctx.errors?.[block.block_id];
  const el = block.element ?? {};
  return h("div", { class: `bk-input ${error ? "has-error" : ""}`, dataset: { blockId: block.block_id ?? "", type: el.type } },
    h("label", { class: "bk-label" }, renderPlain(block.label),
      block.optional ? h("span", { class: "optional" }, " (optional)") : null),
    renderElement(block, el, ctx),
    block.hint ? h("div", { class: "bk-hint" }, renderPlain(block.hint)) : null,
    error ? h("div", { class: "bk-error", role: "alert" }, error) : null);
}

export function renderBlock(block, ctx) {
  const wrap = (cls, ...children) => h("div", { class: `bk ${cls}`, dataset: { blockId: block.block_id ?? "" } }, ...children);
  switch (block.type) {
    case "header":
      return wrap("bk-header", renderPlain(block.text));
    case "section": {
      const body = h("div", { class: "bk-section-body" });
      if (block.text) body.append(h("div", { class: "bk-text-block" }, renderText(block.text)));
      if (block.fields?.length) {
        body.append(h("div", { class: "bk-fields" }, block.fields.map((f) => h("div", { class: "bk-field" }, renderText(f)))));
      }
      const accessory = block.accessory ? h("div", { class: "bk-accessory" }, renderElement(block, block.accessory, ctx)) : null;
      return wrap("bk-section", body, accessory);
    }
    case "context":
      return wrap("bk-context", (block.elements ?? []).map((e) => (e.type === "image"
        ? h("img", { class: "bk-context-img", src: e.image_url, alt: e.alt_text ?? "" })
        : h("span", {}, renderText(e)))));
    case "divider":
      return wrap("bk-divider", h("hr"));
    case "actions":
      return wrap("bk-actions", (block.elements ?? []).map((e) => renderElement(block, e, ctx)));
    case "image":
      return wrap("bk-image", block.title ? h("div", { class: "bk-image-title" }, renderPlain(block.title)) : null,
        image(block));
    case "rich_text":
      return wrap("bk-rich-wrap", richText(block, ctx));
    case "input":
      return inputBlock(block, ctx);
    default:
      return wrap("unsupported", `[${block.type} block]`);
  }
}

export function renderBlocks(blocks, ctx) {
  const frag = document.createDocumentFragment();
  for (const block of blocks ?? []) frag.append(renderBlock(block, ctx));
  return frag;
}

// Legacy attachments: a colour bar with text, fields and blocks.
export function renderAttachments(attachments, ctx) {
  return (attachments ?? []).map((a) => h("div", { class: "attachment", style: a.color ? `border-left-color:${a.color.startsWith("#") ? a.color : "#" + a.color}` : undefined },
    a.pretext ? h("div", {}, renderMrkdwn(a.pretext)) : null,
    a.title ? h("div", { class: "att-title" }, a.title_link ? h("a", { href: a.title_link, target: "_blank" }, a.title) : a.title) : null,
    a.text ? h("div", {}, renderMrkdwn(a.text)) : null,
    a.fields?.length ? h("div", { class: "bk-fields" }, a.fields.map((f) => h("div", { class: "bk-field" }, h("b", {}, f.title ?? ""), h("div", {}, renderMrkdwn(f.value ?? ""))))) : null,
    a.blocks ? renderBlocks(a.blocks, ctx) : null,
    a.footer ? h("div", { class: "bk-context" }, a.footer) : null));
}

export { h };
