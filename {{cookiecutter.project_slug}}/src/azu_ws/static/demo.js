// The demo page: one panel per channel this app has, each on its own AzuSocket.
import { AzuSocket, trackMembers } from "/static/azu-ws.js";

const $ = (selector, root = document) => root.querySelector(selector);
const notice = $("#notice");
const sockets = new Map();
let user = null;
let manualToken = null;
let devTokens = true;

// A development token from the server, or the one pasted (ENVIRONMENT is not development).
async function getToken() {
  if (!devTokens) return manualToken;
  const response = await fetch("/dev/token", {
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

let channels = null;
async function channelAddresses() {
  if (!channels) {
    const document = await (await fetch("/asyncapi.json")).json();
    channels = new Map(Object.entries(document.channels).map(([id, c]) => [id, c.address]));
  }
  return channels;
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
  const socket = new AzuSocket(path, { getToken });
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
  const response = await fetch(url, {
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

$("#name").value = `guest-${Math.floor(Math.random() * 10_000)}`;
$("#login").onsubmit = async (event) => {
  event.preventDefault();
  user = $("#name").value;
  manualToken = $("#token").value.trim() || null;
  notice.textContent = "";
  for (const [id, address] of await channelAddresses()) {
    const panel = document.getElementById(id);
    if (!panel || !panels[id]) continue;
    panel.hidden = false;
    panels[id](panel, address);
  }
};
