// The demo page: a panel for each channel in /asyncapi.json, each on its own AzuSocket,
// with a form for each message the channel accepts and a log of what it sends.
import { AzuSocket, trackMembers } from "./azu-ws.js";
import { messageForm, messageLine, messagesOf } from "./schema-forms.js";

const $ = (selector, root = document) => root.querySelector(selector);
// The prefix a proxy strips (ROOT_PATH): every URL of this page starts with it.
const root = $('meta[name="root-path"]')?.content ?? "";
const notice = $("#notice");
// Messages the client itself answers or sends: no form, no log line.
const CLIENT_OWN = new Set(["ping", "auth", "heartbeat"]);
const sockets = new Map();
let user = null;
let manualToken = null;
let devTokens = true;
let spec = null;

// A development token from the server, or the one pasted (ENVIRONMENT is not development).
async function getToken() {
  if (!devTokens) return manualToken;
  const response = await fetch(`${root}/dev/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user }),
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

function log(panel, item, className = "") {
  const list = $("[data-log]", panel);
  if (typeof item === "string") {
    item = Object.assign(document.createElement("li"), { textContent: item });
  }
  if (className) item.classList.add(className);
  list.append(item);
  list.scrollTop = list.scrollHeight;
}

// A greeting back from a drop: the client resumed, and what was missed follows
// as ordinary messages; unless it is no longer kept (`recovered` false), which
// an app would reload. The demo has nothing to reload from: it says so.
function sayIfMissed(panel, message) {
  if (message.recovered === false) {
    log(panel, "some messages sent while you were away are gone: not shown", "system");
  }
}

// The channel's address with the panel's path parameters filled in, or null while one is blank.
function pathOf(panel, address) {
  let missing = false;
  const path = address.replace(/\{([^}]*)\}/g, (_, name) => {
    const value = $(`[data-param="${name}"]`, panel).value;
    missing ||= value === "";
    return encodeURIComponent(value);
  });
  return missing ? null : path;
}

function connect(panel, address) {
  const path = pathOf(panel, address);
  if (path === null) return;
  sockets.get(panel)?.close();
  const socket = new AzuSocket(root + path, { getToken });
  const channel = panel.dataset.channel;
  const badge = $("[data-status]", panel);
  socket.onStatus((status) => {
    badge.textContent = status.state;
    badge.dataset.state = status.state;
    if (status.state === "refused" || (status.state === "closed" && status.detail)) {
      const why = status.reason || status.detail || "";
      notice.textContent = `${channel}: ${status.detail}${status.reason ? ` (${why})` : ""}`;
    }
    if (status.state === "reconnecting") {
      log(panel, `connection lost (${status.code}); retrying in ${status.delay} ms`, "system");
    }
    if (status.state === "open") notice.textContent = "";
  });
  socket.on("*", (message) => {
    if (CLIENT_OWN.has(message.type) || (message.type === "pong" && message.ref == null)) return;
    log(panel, messageLine(message));
    sayIfMissed(panel, message);
  });
  const members = $("[data-members]", panel);
  if (members) trackMembers(socket, (names) => (members.textContent = names.join(", ")));
  sockets.set(panel, socket);
  socket.connect();
}

function send(panel, message) {
  const socket = sockets.get(panel);
  if (!socket?.connected) {
    log(panel, "not connected: nothing sent", "system");
    return;
  }
  // The client's own subscriptions resume after a reconnect, where they left off.
  const resumable = ["subscribe", "unsubscribe"].includes(message.type) && "resource" in message;
  if (resumable) {
    socket[message.type](message.resource, message.id).catch((error) => {
      log(panel, `${message.type} failed: ${error.message}`, "system");
    });
  } else if (!socket.send(message)) return;
  log(panel, messageLine(message), "sent");
}

// The panel of channel `id`: its path parameters, Connect and Disconnect, a form for each
// message it accepts, members when it says who comes and goes, and its log.
function buildPanel(id, channel) {
  const panel = $("#panel").content.firstElementChild.cloneNode(true);
  panel.dataset.channel = id;
  $("[data-title]", panel).textContent = id;
  $("[data-address]", panel).textContent = channel.address;
  if (channel.description) panel.title = channel.description;
  const parameters = Object.entries(channel.parameters ?? {});
  if (parameters.length) panel.dataset.parameters = parameters.map(([name]) => name).join(" ");
  for (const [name, parameter] of parameters) {
    const label = document.createElement("label");
    const field = Object.assign(document.createElement("input"), { required: true, size: 10 });
    field.dataset.param = name;
    field.title = parameter.description ?? "";
    label.append(`${name} `, field);
    $("[data-params]", panel).append(label);
  }
  $("[data-connection]", panel).onsubmit = (event) => {
    event.preventDefault();
    connect(panel, channel.address);
  };
  $("[data-disconnect]", panel).onclick = () => {
    sockets.get(panel)?.close();
    const members = $("[data-members]", panel);
    if (members) members.textContent = "";
  };
  const sent = new Set(messagesOf(spec, id, "send").map((message) => message.name));
  const presence = ["user_joined", "user_left"].every((type) => sent.has(type));
  if (!presence) $("[data-presence]", panel).remove();
  const forms = messagesOf(spec, id, "receive").filter((message) => !CLIENT_OWN.has(message.name));
  $("[data-forms]", panel).append(
    ...forms.map((message) => messageForm(spec, message, (body) => send(panel, body))),
  );
  $("#panels").append(panel);
  return panel;
}

let panels = null;
async function allPanels() {
  spec ??= await (await fetch(`${root}/asyncapi.json`)).json();
  panels ??= Object.entries(spec.channels).map(([id, channel]) => [
    buildPanel(id, channel),
    channel,
  ]);
  return panels;
}

$("#name").value = `guest-${Math.floor(Math.random() * 10_000)}`;
$("#login").onsubmit = async (event) => {
  event.preventDefault();
  user = $("#name").value;
  manualToken = $("#token").value.trim() || null;
  notice.textContent = "";
  // Each panel connects now, but one whose path parameters are still blank: its Connect does.
  for (const [panel, channel] of await allPanels()) connect(panel, channel.address);
};
