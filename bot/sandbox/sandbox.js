// The sandbox chat page: you play a member of the public talking to the tip line.
// Everything shown is built with DOM nodes and textContent, never innerHTML, so whatever the
// bot or a "forwarded" post contains is displayed as text.
"use strict";

(function () {
  const params = new URLSearchParams(window.location.search);
  const requested = Number.parseInt(params.get("user") || "", 10);
  const userId = Number.isSafeInteger(requested) && requested > 0 ? requested : 4242;
  const $ = (id) => document.getElementById(id);
  let lastSnapshot = "";

  $("user-label").textContent = `member of the public #${userId}`;
  const savedLanguage = window.localStorage.getItem("tipline-sandbox-language");
  if (savedLanguage) $("language").value = savedLanguage;
  $("language").addEventListener("change", () => {
    window.localStorage.setItem("tipline-sandbox-language", $("language").value);
  });

  function safeUrl(url) {
    try {
      const parsed = new URL(url, window.location.href);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch (_error) {
      return null;
    }
  }

  function link(url, children) {
    const href = safeUrl(url);
    if (!href) return null;
    const anchor = document.createElement("a");
    anchor.href = href;
    anchor.target = "_blank";
    anchor.rel = "noopener noreferrer";
    anchor.append(...children);
    return anchor;
  }

  // One entity wrapped around some already-built nodes (Telegram's entity types).
  function wrap(entity, segment, children) {
    const tags = {
      bold: "strong", italic: "em", underline: "u", strikethrough: "s", code: "code",
      pre: "pre", blockquote: "blockquote", expandable_blockquote: "blockquote",
    };
    if (tags[entity.type]) {
      const element = document.createElement(tags[entity.type]);
      element.append(...children);
      return element;
    }
    if (entity.type === "text_link") return link(entity.url, children) || children;
    if (entity.type === "url") {
      return link(/^https?:/i.test(segment) ? segment : `http://${segment}`, children) || children;
    }
    if (entity.type === "bot_command") {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "command";
      button.append(...children);
      button.addEventListener("click", () => send({ text: segment.split("@")[0] }));
      return button;
    }
    const span = document.createElement("span");
    span.className = entity.type.replace(/[^a-z_]/g, "");
    span.append(...children);
    return span;
  }

  // Text plus entities (UTF-16 offsets, like JavaScript strings) into DOM nodes.
  function renderText(text, entities) {
    const cuts = new Set([0, text.length]);
    for (const e of entities) {
      cuts.add(e.offset);
      cuts.add(e.offset + e.length);
    }
    const points = [...cuts].filter((n) => n >= 0 && n <= text.length).sort((a, b) => a - b);
    const nodes = [];
    for (let i = 0; i + 1 < points.length; i += 1) {
      const start = points[i];
      const end = points[i + 1];
      const covering = entities
        .filter((e) => e.offset <= start && e.offset + e.length >= end)
        .sort((a, b) => b.length - a.length);
      let built = [document.createTextNode(text.slice(start, end))];
      for (const entity of covering.reverse()) {
        const whole = text.slice(entity.offset, entity.offset + entity.length);
        const wrapped = wrap(entity, whole, built);
        built = Array.isArray(wrapped) ? wrapped : [wrapped];
      }
      nodes.push(...built);
    }
    return nodes;
  }

  function bubble(message) {
    const item = document.createElement("article");
    item.className = message.outgoing ? "bubble bot" : "bubble me";
    if (message.forwarded_from) {
      const origin = document.createElement("div");
      origin.className = "forwarded";
      origin.textContent = `Forwarded from ${message.forwarded_from}`;
      item.append(origin);
    }
    if (message.photo) {
      const picture = document.createElement("img");
      picture.src = message.photo;
      picture.alt = "Attached picture";
      item.append(picture);
    }
    if (message.text) {
      const body = document.createElement("div");
      body.className = "text";
      body.append(...renderText(message.text, message.entities || []));
      item.append(body);
    }
    if (message.edited) {
      const edited = document.createElement("div");
      edited.className = "muted small";
      edited.textContent = "edited";
      item.append(edited);
    }
    for (const row of message.buttons || []) {
      const line = document.createElement("div");
      line.className = "buttons";
      for (const button of row) line.append(keyboardButton(message, button));
      item.append(line);
    }
    return item;
  }

  function keyboardButton(message, button) {
    if (button.url) {
      const anchor = link(button.url, [document.createTextNode(button.text)]);
      if (anchor) {
        anchor.className = "inline-button";
        return anchor;
      }
    }
    const element = document.createElement("button");
    element.type = "button";
    element.className = "inline-button";
    element.textContent = button.text;
    element.disabled = !button.data;
    element.addEventListener("click", () => press(message.message_id, button.data));
    return element;
  }

  function showError(text) {
    $("error").textContent = text;
    $("error").hidden = !text;
  }

  async function refresh() {
    try {
      const response = await fetch(`api/chat?user_id=${userId}`, { cache: "no-store" });
      if (!response.ok) throw new Error(`the emulator answered ${response.status}`);
      const data = await response.json();
      $("bot-name").textContent = data.bot.first_name;
      $("bot-username").textContent = `@${data.bot.username}`;
      const snapshot = JSON.stringify(data.messages);
      if (snapshot === lastSnapshot) return;
      lastSnapshot = snapshot;
      const chat = $("chat");
      const atBottom = chat.scrollHeight - chat.scrollTop - chat.clientHeight < 40;
      chat.replaceChildren(...data.messages.map(bubble));
      if (atBottom || !chat.dataset.ready) chat.scrollTop = chat.scrollHeight;
      chat.dataset.ready = "1";
    } catch (error) {
      showError(`Cannot reach the emulator: ${error.message}`);
    }
  }

  async function post(path, body) {
    const response = await fetch(path, { method: "POST", headers: { "X-Sandbox": "1" }, body });
    if (!response.ok) throw new Error(await response.text());
    showError("");
    window.setTimeout(refresh, 150);
  }

  async function send({ text, photo, forwardTitle, forwardUsername }) {
    const form = new FormData();
    form.append("user_id", String(userId));
    form.append("text", text || "");
    form.append("language_code", $("language").value);
    if (forwardTitle) form.append("forward_title", forwardTitle);
    if (forwardUsername) form.append("forward_username", forwardUsername);
    if (photo) form.append("photo", photo);
    await post("api/send", form).catch((error) => showError(error.message));
  }

  function press(messageId, data) {
    const body = JSON.stringify({ user_id: userId, message_id: messageId, data });
    post("api/press", body).catch((error) => showError(error.message));
  }

  $("photo").addEventListener("change", () => {
    const file = $("photo").files[0];
    $("attachment").hidden = !file;
    $("attachment").textContent = file ? `Picture attached: ${file.name} (the text is its caption)` : "";
  });

  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const photo = $("photo").files[0];
    const text = $("text").value;
    if (!text.trim() && !photo) return;
    await send({
      text,
      photo,
      forwardTitle: $("forward-box").open ? $("forward-title").value.trim() : "",
      forwardUsername: $("forward-box").open ? $("forward-username").value.trim() : "",
    });
    $("text").value = "";
    $("photo").value = "";
    $("attachment").hidden = true;
    $("text").focus();
  });

  $("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });

  refresh();
  window.setInterval(refresh, 800);
})();
