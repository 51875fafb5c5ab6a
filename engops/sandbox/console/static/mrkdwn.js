// Slack's text formatting, rendered to DOM nodes (never innerHTML, so no text can inject markup).
//
// mrkdwn: *bold*, _italic_, ~strike~, `code`, ```pre```, > quotes, <url|text> links, <@U…> mentions,
// <#C…|name> channels, <!here>, <!date^epoch^format|fallback>, :emoji: and the &amp; &lt; &gt; escapes.

const EMOJI = {
  white_check_mark: "✅", heavy_check_mark: "✔️", hourglass_flowing_sand: "⏳", hourglass: "⌛", no_entry: "⛔",
  gear: "⚙️", zzz: "💤", x: "❌", warning: "⚠️", leftwards_arrow_with_hook: "↩️", heavy_multiplication_x: "✖️",
  fast_forward: "⏩", white_small_square: "▫️", small_blue_diamond: "🔹", tada: "🎉", rotating_light: "🚨",
  rocket: "🚀", key: "🔑", lock: "🔒", unlock: "🔓", closed_lock_with_key: "🔐", bust_in_silhouette: "👤",
  busts_in_silhouette: "👥", ticket: "🎫", memo: "📝", bell: "🔔", calendar: "📅", clock3: "🕒", alarm_clock: "⏰",
  eyes: "👀", wave: "👋", raising_hand: "🙋", raised_hand: "✋", pushpin: "📌", link: "🔗", mag: "🔍",
  arrows_counterclockwise: "🔄", repeat: "🔁", hammer_and_wrench: "🛠️", wrench: "🔧", inbox_tray: "📥",
  outbox_tray: "📤", point_right: "👉", red_circle: "🔴", large_green_circle: "🟢", large_yellow_circle: "🟡",
  large_blue_circle: "🔵", information_source: "ℹ️", sos: "🆘", fire: "🔥", construction: "🚧",
  stopwatch: "⏱️", door: "🚪", wastebasket: "🗑️", package: "📦", clipboard: "📋", page_facing_up: "📄",
  envelope: "✉️", email: "📧", speech_balloon: "💬", thumbsup: "👍", "+1": "👍", thumbsdown: "👎", ok_hand: "👌",
  bulb: "💡", question: "❓", exclamation: "❗", heavy_plus_sign: "➕", heavy_minus_sign: "➖", no_entry_sign: "🚫",
  arrow_right: "➡️", arrow_up: "⬆️", arrow_down: "⬇️", sparkles: "✨", star: "⭐", shield: "🛡️", cloud: "☁️",
  computer: "💻", robot_face: "🤖", pager: "📟", telephone_receiver: "📞", hand: "✋", stop_sign: "🛑",
  white_circle: "⚪", black_circle: "⚫", new: "🆕", lock_with_ink_pen: "🔏", label: "🏷️", card_index: "📇",
  chart_with_upwards_trend: "📈", moneybag: "💰", wave_dash: "〰️", checkered_flag: "🏁", hourglass_done: "⌛",
  heavy_exclamation_mark: "❗", grey_question: "❔", arrows_clockwise: "🔃", broom: "🧹", calling: "📲",
  raised_hands: "🙌", heart: "❤️", pray: "🙏", clap: "👏", "-1": "👎", thinking_face: "🤔", joy: "😂", smile: "😄",
  slightly_smiling_face: "🙂", 100: "💯", muscle: "💪", zap: "⚡", bug: "🐛", handshake: "🤝", point_up: "☝️",
  ballot_box_with_check: "☑️", sweat_smile: "😅", ship: "🚢",
};

const ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">" };

export function unescapeSlack(text) {
  return String(text ?? "").replace(/&(amp|lt|gt);/g, (m) => ENTITIES[m]);
}

export function emojify(text) {
  return text.replace(/:([a-z0-9_+\-]+):/g, (m, name) => EMOJI[name] ?? m);
}

// --- context for names ------------------------------------------------------------------------
let names = { user: (id) => id, channel: (id) => id };

export function setNameResolvers(resolvers) {
  names = { ...names, ...resolvers };
}

// --- dates ------------------------------------------------------------------------------------------
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
  "November", "December"];
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

function ordinal(n) {
  const s = ["th", "st", "nd", "rd"], v = n % 100;
  return n + (s[(v - 20) % 10] || s[v] || s[0]);
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

function relativeDay(d) {
  const now = new Date();
  const offset = (days) => new Date(now.getFullYear(), now.getMonth(), now.getDate() + days);
  if (sameDay(d, now)) return "today";
  if (sameDay(d, offset(-1))) return "yesterday";
  if (sameDay(d, offset(1))) return "tomorrow";
  return null;
}

function clock(d, secs) {
  let h = d.getHours() % 12;
  if (h === 0) h = 12;
  const mm = String(d.getMinutes()).padStart(2, "0");
  const ss = secs ? ":" + String(d.getSeconds()).padStart(2, "0") : "";
  return `${h}:${mm}${ss} ${d.getHours() < 12 ? "AM" : "PM"}`;
}

function ago(d) {
  const secs = Math.round((Date.now() - d.getTime()) / 1000);
  const future = secs < 0, a = Math.abs(secs);
  const [n, unit] = a < 60 ? [a, "second"] : a < 3600 ? [Math.round(a / 60), "minute"]
    : a < 86400 ? [Math.round(a / 3600), "hour"] : [Math.round(a / 86400), "day"];
  const text = `${n} ${unit}${n === 1 ? "" : "s"}`;
  return future ? `in ${text}` : `${text} ago`;
}

export function formatSlackDate(epoch, format) {
  const d = new Date(Number(epoch) * 1000);
  if (Number.isNaN(d.getTime())) return null;
  const date = `${MONTHS[d.getMonth()]} ${ordinal(d.getDate())}, ${d.getFullYear()}`;
  const short = `${MONTHS[d.getMonth()].slice(0, 3)} ${d.getDate()}, ${d.getFullYear()}`;
  const long = `${DAYS[d.getDay()]}, ${date}`;
  const tokens = {
    date_num: `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`,
    date, date_short: short, date_long: long,
    date_pretty: relativeDay(d) ?? date, date_short_pretty: relativeDay(d) ?? short,
    date_long_pretty: relativeDay(d) ?? long,
    time: clock(d, false), time_secs: clock(d, true), ago: ago(d),
  };
  let unknown = false;
  const out = format.replace(/\{([a-z_]+)\}/g, (m, t) => {
    if (t in tokens) return tokens[t];
    unknown = true;
    return m;
  });
  return unknown ? null : out;
}

// --- control sequences <...> -------------------------------------------------------------------------
const SAFE_URL = /^(https?:|mailto:)/i;

function controlNode(inner) {
  const bar = inner.indexOf("|");
  const target = bar >= 0 ? inner.slice(0, bar) : inner;
  const label = bar >= 0 ? unescapeSlack(inner.slice(bar + 1)) : null;
  const span = (cls, text, title) => {
    const el = document.createElement("span");
    el.className = cls;
    el.textContent = text;
    if (title) el.title = title;
    return el;
  };
  if (target.startsWith("@")) {
    const id = target.slice(1);
    return span("mention", "@" + (label ?? names.user(id)), id);
  }
  if (target.startsWith("#")) {
    const id = target.slice(1);
    return span("mention channel-mention", "#" + (label ?? names.channel(id)), id);
  }
  if (target.startsWith("!")) {
    const [kind, ...rest] = target.slice(1).split("^");
    if (kind === "here" || kind === "channel" || kind === "everyone") return span("mention broadcast", "@" + kind);
    if (kind === "subteam") return span("mention", label ?? "@group");
    if (kind === "date") {
      const [epoch, format, link] = rest;
      const formatted = format ? formatSlackDate(epoch, unescapeSlack(format)) : null;
      const text = formatted ?? label ?? target;
      if (link && SAFE_URL.test(link)) return anchor(link, text);
      return span("slack-date", text, label ?? undefined);
    }
    return document.createTextNode(label ?? `<${unescapeSlack(target)}>`);
  }
  const url = unescapeSlack(target);
  if (SAFE_URL.test(url)) return anchor(url, label ?? url);
  return document.createTextNode(label ?? url);
}

function anchor(url, text) {
  const a = document.createElement("a");
  a.href = url;
  a.textContent = text;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  return a;
}

// --- inline formatting -----------------------------------------------------------------------------
// Code spans and <...> sequences are swapped for placeholders first so emphasis can wrap them
// (`*<url|REQ-1>*`) but never reach inside them.
const TOKEN = /```([\s\S]*?)```|`([^`\n]+)`|<([^<>\s][^<>]*)>/g;
const PLACEHOLDER = /\u0001(\d+)\u0002/g;
const EMPHASIS = [
  ["b", /(?<![\p{L}\p{N}*])\*(?!\s)([^*\n]*?[^\s*])\*(?![\p{L}\p{N}*])/u],
  ["i", /(?<![\p{L}\p{N}_])_(?!\s)([^_\n]*?[^\s_])_(?![\p{L}\p{N}_])/u],
  ["s", /(?<![\p{L}\p{N}~])~(?!\s)([^~\n]*?[^\s~])~(?![\p{L}\p{N}~])/u],
];

function tokenNode(token) {
  if (token.pre !== undefined) {
    const pre = document.createElement("pre");
    pre.textContent = unescapeSlack(token.pre.replace(/^\n/, ""));
    return pre;
  }
  if (token.code !== undefined) {
    const code = document.createElement("code");
    code.textContent = unescapeSlack(token.code);
    return code;
  }
  return controlNode(token.control);
}

function appendText(parent, text, tokens) {
  let last = 0;
  for (const m of text.matchAll(PLACEHOLDER)) {
    if (m.index > last) parent.append(emojify(unescapeSlack(text.slice(last, m.index))));
    parent.append(tokenNode(tokens[Number(m[1])]));
    last = m.index + m[0].length;
  }
  if (last < text.length) parent.append(emojify(unescapeSlack(text.slice(last))));
}

function appendInline(parent, text, tokens) {
  let best = null;
  for (const [tag, re] of EMPHASIS) {
    const m = re.exec(text);
    if (m && (best === null || m.index < best.m.index)) best = { tag, m };
  }
  if (best === null) {
    appendText(parent, text, tokens);
    return;
  }
  const { tag, m } = best;
  appendText(parent, text.slice(0, m.index), tokens);
  const el = document.createElement(tag);
  appendInline(el, m[1], tokens);
  parent.append(el);
  appendInline(parent, text.slice(m.index + m[0].length), tokens);
}

export function renderMrkdwn(text, verbatim = false) {
  const frag = document.createDocumentFragment();
  const tokens = [];
  const source = String(text ?? "").replace(TOKEN, (m, pre, code, control) => {
    if (verbatim && control === undefined) return m;
    tokens.push({ pre, code, control });
    return `\u0001${tokens.length - 1}\u0002`;
  });
  if (verbatim) {
    appendText(frag, source, tokens);
    return frag;
  }
  // consecutive lines starting with "> " (escaped as &gt;) form one quote (a block, so no newline around it)
  let quote = null;
  source.split("\n").forEach((line, i) => {
    const quoted = /^&gt;\s?/.exec(line);
    if (quoted) {
      if (quote) quote.append("\n");
      else quote = frag.appendChild(document.createElement("blockquote"));
      appendInline(quote, line.slice(quoted[0].length), tokens);
      return;
    }
    if (i > 0 && !quote) frag.append("\n");
    quote = null;
    appendInline(frag, line, tokens);
  });
  return frag;
}

export function renderPlain(textObj) {
  const text = unescapeSlack(textObj?.text ?? textObj ?? "");
  return document.createTextNode(textObj?.emoji === false ? text : emojify(text));
}

// A Block Kit text object: mrkdwn or plain_text.
export function renderText(textObj) {
  if (!textObj) return document.createDocumentFragment();
  if (textObj.type === "mrkdwn") return renderMrkdwn(textObj.text, textObj.verbatim === true);
  return renderPlain(textObj);
}
