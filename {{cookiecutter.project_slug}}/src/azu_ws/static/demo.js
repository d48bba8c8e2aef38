// The demo page: one panel per channel this app has, each on its own AzuSocket.
import { AzuSocket, trackMembers } from "./azu-ws.js";

const $ = (selector, root = document) => root.querySelector(selector);
// The prefix a proxy strips (ROOT_PATH): every URL of this page starts with it.
const root = $('meta[name="root-path"]')?.content ?? "";
const notice = $("#notice");
const sockets = new Map();
let user = null;
let manualToken = null;
let devTokens = true;

// A development token from the server, or the one pasted (ENVIRONMENT is not development).
async function getToken() {
  if (!devTokens) return manualToken;
  const response = await fetch(`${root}/dev/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user, scopes: await scopesWanted() }),
  });
  if (response.status === 404) {
    devTokens = false;
    $("#token-field").hidden = false;
    throw Object.assign(new Error("this server gives no development tokens: paste a token"), {
      final: true,
    });
  }
  if (!response.ok) throw new Error(`POST /dev/token answered ${response.status}`);
  return (await response.json()).token;
}

let spec = null;
async function asyncapi() {
  spec ??= await (await fetch(`${root}/asyncapi.json`)).json();
  return spec;
}

async function channelAddresses() {
  const { channels } = await asyncapi();
  return new Map(Object.entries(channels).map(([id, c]) => [id, c.address]));
}

async function scopesWanted() {
  const present = await channelAddresses();
  const scopes = [];
  if (present.has("notifications")) scopes.push("notifications:send");
  if (present.has("live_updates")) scopes.push("updates:publish");
  return scopes;
}

function log(panel, text, className = "") {
  const list = $("[data-log]", panel);
  const item = document.createElement("li");
  item.textContent = text;
  if (className) item.className = className;
  list.append(item);
  list.scrollTop = list.scrollHeight;
}

// A greeting back from a drop: the client resumed, and what was missed follows
// as ordinary messages; unless it is no longer kept (`recovered` false), which
// an app would reload. The demo has nothing to reload from: it says so.
function sayIfMissed(panel, greeting) {
  if (greeting.recovered === false) {
    log(panel, "some messages sent while you were away are gone: not shown", "system");
  }
}

function socketFor(panel, path) {
  sockets.get(panel.id)?.close();
  const socket = new AzuSocket(root + path, { getToken });
  const badge = $("[data-status]", panel);
  socket.onStatus((status) => {
    badge.textContent = status.state;
    badge.dataset.state = status.state;
    if (status.state === "refused" || (status.state === "closed" && status.detail)) {
      const why = status.reason || status.detail || "";
      notice.textContent = `${panel.id}: ${status.detail}${status.reason ? ` (${why})` : ""}`;
    }
    if (status.state === "reconnecting") {
      log(panel, `connection lost (${status.code}); retrying in ${status.delay} ms`, "system");
    }
    if (status.state === "open") notice.textContent = "";
  });
  socket.on("error", (m) => log(panel, `error: ${m.code}: ${m.message}`, "system"));
  sockets.set(panel.id, socket);
  return socket;
}

// POST to the HTTP publishing API, as a back end would; clear `input` once accepted.
async function publish(panel, url, body, input) {
  const response = await fetch(root + url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${await getToken()}` },
    body: JSON.stringify(body),
  });
  if (response.ok) input.value = "";
  else log(panel, `POST ${url} answered ${response.status}`, "system");
}

const panels = {
  chat(panel, path) {
    const socket = socketFor(panel, path);
    socket.on("message", (m) => log(panel, `${m.user}: ${m.content}`));
    socket.on("connected", (m) => {
      log(panel, `connected as ${user}`, "system");
      sayIfMissed(panel, m);
    });
    $("[data-send]", panel).onsubmit = (event) => {
      event.preventDefault();
      const input = $("[data-input]", panel);
      if (socket.send({ type: "message", content: input.value })) input.value = "";
    };
    socket.connect();
  },

  rooms(panel, template) {
    const join = (room) => {
      const socket = socketFor(panel, template.replace("{room_id}", encodeURIComponent(room)));
      trackMembers(socket, (members) => {
        $("[data-members]", panel).textContent = members.join(", ");
      });
      socket.on("joined", (m) => sayIfMissed(panel, m));
      socket.on("user_joined", (m) => log(panel, `${m.user} joined ${m.room}`, "system"));
      socket.on("user_left", (m) => log(panel, `${m.user} left ${m.room}`, "system"));
      socket.on("message", (m) => log(panel, `${m.user}: ${m.content}`));
      socket.connect();
    };
    $("[data-join]", panel).onsubmit = (event) => {
      event.preventDefault();
      join($("[data-room]", panel).value);
    };
    $("[data-leave]", panel).onclick = () => {
      sockets.get(panel.id)?.close();
      $("[data-members]", panel).textContent = "";
    };
    $("[data-send]", panel).onsubmit = (event) => {
      event.preventDefault();
      const input = $("[data-input]", panel);
      if (sockets.get(panel.id)?.send({ type: "message", content: input.value })) input.value = "";
    };
    join($("[data-room]", panel).value);
  },

  notifications(panel, path) {
    const socket = socketFor(panel, path);
    const seen = new Set(); // delivery is at least once: show each id once
    socket.on("notification", (m) => {
      if (m.id !== null) {
        socket.send({ type: "ack", id: m.id });
        if (seen.has(m.id)) return;
        seen.add(m.id);
      }
      log(panel, `${m.kind}: ${m.payload.title ?? JSON.stringify(m.payload)}`);
    });
    $("[data-notify]", panel).onsubmit = (event) => {
      event.preventDefault();
      const title = $("[data-title]", panel);
      const url = `/api/notifications/${encodeURIComponent(user)}`;
      publish(panel, url, { payload: { title: title.value } }, title);
    };
    socket.connect();
  },

  live_updates(panel, path) {
    const socket = socketFor(panel, path);
    socket.on("subscribed", (m) => {
      log(panel, `subscribed to ${m.resource} ${m.id}`, "system");
      sayIfMissed(panel, m);
    });
    socket.on("update", (m) => log(panel, `${m.resource} ${m.id}: ${JSON.stringify(m.data)}`));
    $("[data-subscribe]", panel).onsubmit = (event) => {
      event.preventDefault();
      socket.subscribe("post", $("[data-id]", panel).value).catch((error) => {
        log(panel, `subscribe failed: ${error.message}`, "system");
      });
    };
    $("[data-publish]", panel).onsubmit = (event) => {
      event.preventDefault();
      const id = encodeURIComponent($("[data-id]", panel).value);
      const text = $("[data-text]", panel);
      publish(panel, `/api/updates/post/${id}`, { data: { title: text.value } }, text);
    };
    socket.connect();
  },
};

// A channel with no panel of its own (one `new-channel` made): pick a type it accepts, edit
// the JSON, send it; every frame that comes back is shown as it came.
function genericPanel(id, path) {
  let panel = document.getElementById(`channel-${id}`);
  if (!panel) {
    panel = $("#generic-panel").content.firstElementChild.cloneNode(true);
    panel.id = `channel-${id}`;
    panel.dataset.channel = id;
    $("[data-title]", panel).textContent = id;
    $("#panels").append(panel);
  }
  const examples = new Map(inboundExamples(id));
  const select = $("[data-type]", panel);
  const body = $("[data-body]", panel);
  select.replaceChildren(...[...examples.keys()].map((type) => new Option(type, type)));
  select.value = [...examples.keys()].find((type) => !["ping", "auth"].includes(type)) ?? "";
  const fill = () => (body.value = JSON.stringify(examples.get(select.value) ?? {}));
  select.onchange = fill;
  fill();
  // Path parameters (`{room_id}`) get a stand-in: this panel cannot know what they mean.
  const socket = socketFor(panel, path.replace(/\{[^}]*\}/g, "demo"));
  socket.on("*", (m) => {
    if (m.type === "heartbeat" || (m.type === "pong" && m.ref == null)) return;
    log(panel, `← ${JSON.stringify(m)}`);
  });
  $("[data-send]", panel).onsubmit = (event) => {
    event.preventDefault();
    let message;
    try {
      message = JSON.parse(body.value);
    } catch (error) {
      log(panel, `not JSON: ${error.message}`, "system");
      return;
    }
    if (socket.send(message)) log(panel, `→ ${JSON.stringify(message)}`, "sent");
  };
  socket.connect();
  return panel;
}

// [type, a message of that type with each required field blank] for what channel `id` accepts.
function inboundExamples(id) {
  const refs = spec.operations[`${id}_receive`]?.messages ?? [];
  return refs
    .map(({ $ref }) => spec.components.messages[$ref.split("/").pop()])
    .filter((message) => message?.payload?.$ref) // not the raw `binary` frames
    .map((message) => [message.name, example(resolve(message.payload), message.name)]);
}

const BLANK = { string: "", integer: 0, number: 0, boolean: false, array: [], object: {} };

function example(schema, type) {
  const message = { type };
  for (const name of schema.required ?? []) {
    if (name !== "type") message[name] = BLANK[resolve(schema.properties?.[name]).type] ?? null;
  }
  return message;
}

function resolve(schema) {
  let node = schema;
  while (node?.$ref) node = node.$ref.split("/").slice(1).reduce((at, key) => at?.[key], spec);
  return node ?? {};
}

$("#name").value = `guest-${Math.floor(Math.random() * 10_000)}`;
$("#login").onsubmit = async (event) => {
  event.preventDefault();
  user = $("#name").value;
  manualToken = $("#token").value.trim() || null;
  notice.textContent = "";
  for (const [id, address] of await channelAddresses()) {
    const panel = panels[id] && document.getElementById(id);
    if (!panel) {
      genericPanel(id, address);
      continue;
    }
    panel.hidden = false;
    panels[id](panel, address);
  }
};
