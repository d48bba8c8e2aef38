// The JavaScript client of this app's channels: one module, no dependencies, no build step.
//
//   import { AzuSocket } from "/static/azu-ws.js";
//   const chat = new AzuSocket("/ws/chat", { getToken: async () => fetchMyToken() });
//   chat.on("message", (m) => show(m.user, m.content));
//   chat.onStatus((s) => console.log(s.state, s.detail));
//   chat.connect();
//   chat.send({ type: "message", content: "hello" });
//   const pong = await chat.request({ type: "ping" });   // the reply with the same ref
//   chat.on("connected", (m) => { if (m.recovered === false) reloadMessages(); });
//
// What it does for you, as the server expects (see the README):
// - the token travels in Sec-WebSocket-Protocol (`bearer`, then the token), never in the URL;
// - `getToken()` is called before every connection, and again before the token expires,
//   to send it in band (`auth`), so a socket outlives its tokens;
// - a `heartbeat` is answered with a `ping`;
// - when the connection drops it reconnects after a random delay that grows
//   (exponential backoff, full jitter), and re-sends its subscriptions;
// - it resumes where it left off: it keeps the `epoch` and the highest `offset` received
//   of the socket's own topic (the one its first greeting is about: `connected`, `joined`,
//   or `subscribed` to your `user`) and of each subscription, and reconnects with
//   `?since=epoch:offset` in the URL and `since` in each `subscribe`. The greeting then
//   says `recovered: true`, and the missed messages follow, to the handlers as usual,
//   once each and in order; or `recovered: false`: they are lost (gone from the history),
//   and the app must reload its state, as the `connected` handler above does;
// - it names its session (`?session=`, random, the same in every reconnect), so that what
//   it sent with `broadcast_from` is not replayed to it either;
// - a refusal that a retry cannot cure (4401 with a fresh token, 4403, 4400) stops it:
//   its status says why, instead of a reconnect loop; so does `getToken()` throwing an
//   error with `final: true` (any other error from it is retried, like a dropped socket).
//
// Types: azu-ws.d.ts (the client) and messages.d.ts (every message, from the Pydantic models).

const BEARER = "bearer";
// Close codes after which reconnecting with the same request cannot help.
const FINAL_CODES = new Map([
  [4400, "bad request"],
  [4403, "forbidden"],
  [1008, "policy violation"],
]);
const UNAUTHORIZED = 4401;
// What the server says first on a socket, with where its topic stands (when it can say).
const GREETINGS = new Set(["connected", "joined", "subscribed"]);
// setTimeout's longest wait (about 24.8 days); a longer one fires at once.
const MAX_TIMER = 2 ** 31 - 1;

export class RequestError extends Error {
  constructor(message, reply) {
    super(message);
    this.name = "RequestError";
    this.reply = reply;
  }
}

export class AzuSocket {
  constructor(path, options = {}) {
    this.url = toWebSocketUrl(path);
    this.getToken = options.getToken ?? (async () => null);
    this.requestTimeout = options.requestTimeout ?? 10_000;
    this.minDelay = options.minDelay ?? 250;
    this.maxDelay = options.maxDelay ?? 30_000;
    // Refresh the token this long before it expires (or at half its life, if sooner).
    this.refreshAhead = options.refreshAhead ?? 60_000;
    this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this.session = options.session ?? newSession();
    this.handlers = new Map();
    this.statusHandlers = new Set();
    this.pending = new Map();
    // resource NUL id -> { resource, id, position }
    this.subscriptions = new Map();
    // Where this socket's own topic stands for us, and whether this
    // connection's greeting, which says where it is, came yet.
    this.position = new Position();
    this.greeted = false;
    this.nextRef = 1;
    this.attempt = 0;
    this.socket = null;
    this.generation = 0;
    this.stopped = true;
    this.timer = null;
    this.refreshTimer = null;
    this.stableTimer = null;
    this.state = "idle";
  }

  // Handlers ---------------------------------------------------------------

  /** Call `handler(message)` for each server message of `type` ("*" for all); returns an unsubscribe. */
  on(type, handler) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(handler);
    return () => this.handlers.get(type)?.delete(handler);
  }

  /** Call `handler({state, code, reason, detail, delay})` on every change of state. */
  onStatus(handler) {
    this.statusHandlers.add(handler);
    return () => this.statusHandlers.delete(handler);
  }

  // Sending ----------------------------------------------------------------

  /** Where the socket's own topic resumes, `epoch:offset`, or null before its first greeting. */
  get since() {
    return this.position.since;
  }

  get connected() {
    return this.socket !== null && this.socket.readyState === 1 && this.state === "open";
  }

  /** Send one message; false (and nothing sent) while not connected. */
  send(message) {
    if (!this.connected) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /** Send `message` with a fresh `ref`; resolves with the reply, rejects on an `error` reply or timeout. */
  request(message, { timeout = this.requestTimeout } = {}) {
    const ref = `r${this.nextRef++}`;
    return new Promise((resolve, reject) => {
      if (!this.send({ ...message, ref })) {
        reject(new RequestError("not connected", null));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(ref);
        reject(new RequestError(`no reply to ${message.type} within ${timeout} ms`, null));
      }, timeout);
      this.pending.set(ref, { resolve, reject, timer, message });
    });
  }

  /** Subscribe to a live-update resource, now and after every reconnect, resuming each time. */
  subscribe(resource, id) {
    const key = subscriptionKey(resource, id);
    // Subscribing again keeps the position, so what comes next still resumes.
    const subscription = this.subscriptions.get(key) ?? { resource, id, position: new Position() };
    this.subscriptions.set(key, subscription);
    if (!this.connected) return Promise.resolve(null);
    return this.requestSubscription(key, subscription);
  }

  requestSubscription(key, subscription) {
    const { resource, id, position } = subscription;
    const message = { type: "subscribe", resource, id };
    if (position.since !== null) message.since = position.since;
    return this.request(message).catch((error) => {
      // Refused (unknown, forbidden, too many): not worth asking again on reconnect.
      if (error.reply && this.subscriptions.get(key) === subscription) this.subscriptions.delete(key);
      throw error;
    });
  }

  unsubscribe(resource, id) {
    this.subscriptions.delete(subscriptionKey(resource, id));
    return this.connected ? this.request({ type: "unsubscribe", resource, id }) : Promise.resolve(null);
  }

  // Connecting -------------------------------------------------------------

  connect() {
    if (!this.stopped) return this; // connecting or connected already
    this.stopped = false;
    this.attempt = 0;
    this.authRetried = false;
    this.open();
    return this;
  }

  /** Close for good: no reconnect. */
  close(code = 1000, reason = "") {
    this.stopped = true;
    this.generation += 1; // a getToken() still running is for nothing now
    clearTimeout(this.timer);
    const socket = this.socket;
    this.drop();
    if (socket) socket.close(code, reason);
    this.setStatus("closed", { code, reason, detail: "closed by the page" });
  }

  async open() {
    clearTimeout(this.timer);
    const generation = ++this.generation;
    this.setStatus("connecting", { detail: this.attempt ? `attempt ${this.attempt + 1}` : "" });
    let token;
    try {
      token = await this.getToken();
    } catch (error) {
      if (generation !== this.generation) return;
      const detail = `could not get a token: ${error.message ?? error}`;
      // A token source that is down (the server restarting) is retried like a
      // dropped socket; one that says it never will give one (`final`) is not.
      if (error.final) this.stop(undefined, "", detail);
      else this.retry(undefined, "", detail);
      return;
    }
    // close(), or another open(), came while the token was on its way.
    if (generation !== this.generation || this.stopped) return;
    const protocols = token ? [BEARER, token] : [];
    const socket = new this.WebSocket(this.resumingUrl(), protocols);
    this.socket = socket;
    this.token = token;
    this.greeted = false;
    socket.onopen = () => this.opened(socket);
    socket.onmessage = (event) => socket === this.socket && this.receive(event.data);
    socket.onclose = (event) => this.closed(socket, event.code, event.reason);
  }

  /** The URL to open: with the session, and `since` once the socket's own topic has a position. */
  resumingUrl() {
    const url = new URL(this.url);
    url.searchParams.set("session", this.session);
    const since = this.position.since;
    if (since !== null) url.searchParams.set("since", since);
    return url.toString();
  }

  receive(data) {
    if (typeof data !== "string") {
      this.emit({ type: "binary", data });
      return;
    }
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    this.authRetried = false; // the server took the token
    if (message.type === "heartbeat") this.send({ type: "ping" });
    // Before the reply is matched (that forgets what was asked) and before
    // the handlers, so that `since` is up to date in them.
    if (typeof message.epoch === "string" || GREETINGS.has(message.type)) this.track(message);
    if (message.ref !== undefined && this.pending.has(message.ref)) {
      const { resolve, reject, timer } = this.pending.get(message.ref);
      clearTimeout(timer);
      this.pending.delete(message.ref);
      if (message.type === "error") reject(new RequestError(message.message, message));
      else resolve(message);
    }
    this.emit(message);
  }

  /** Move the positions on with a message that carries one. */
  track(message) {
    if (message.ref != null) {
      // A reply: with a position, the greeting of the subscription it answers.
      const asked = this.pending.get(message.ref)?.message;
      if (asked?.type === "subscribe") {
        this.subscriptions.get(subscriptionKey(asked.resource, asked.id))?.position.greet(message);
      }
      return;
    }
    if (!this.greeted) {
      // The server greets first, before any message of the topic it joined for the socket.
      this.greeted = true;
      this.position.greet(message);
      return;
    }
    // Epochs are random, so the epoch alone says which topic a message is from.
    this.position.receive(message);
    for (const { position } of this.subscriptions.values()) position.receive(message);
  }

  opened(socket) {
    if (socket !== this.socket) return;
    // Open is only half the story: the server checks the token after the
    // handshake and may close at once with 4401. Only a connection that
    // stays up a while resets the backoff.
    this.stableTimer = setTimeout(() => {
      this.attempt = 0;
    }, 5_000);
    this.setStatus("open", {});
    this.scheduleRefresh(this.token);
    for (const [key, subscription] of this.subscriptions) {
      // A failure shows as an `error` message; on a drop it is asked again next time.
      this.requestSubscription(key, subscription).catch(() => {});
    }
  }

  /** Forget the current socket: its timers, its pending requests, its events. */
  drop() {
    clearTimeout(this.refreshTimer);
    clearTimeout(this.stableTimer);
    if (this.socket) {
      this.socket.onopen = this.socket.onmessage = this.socket.onclose = null;
      this.socket = null;
    }
    for (const [ref, { reject, timer }] of this.pending) {
      clearTimeout(timer);
      reject(new RequestError("the connection closed", null));
      this.pending.delete(ref);
    }
  }

  closed(socket, code, reason) {
    if (socket !== this.socket) return;
    this.drop();
    if (this.stopped) return;
    if (FINAL_CODES.has(code)) {
      this.stop(code, reason, FINAL_CODES.get(code));
      return;
    }
    if (code === UNAUTHORIZED) {
      // One more try with a fresh token; refused again, the token source is
      // the problem, and retrying would only hammer the server.
      if (this.authRetried) {
        this.stop(code, reason, "the server refused the token");
        return;
      }
      this.authRetried = true;
      this.open();
      return;
    }
    this.retry(code, reason, "");
  }

  retry(code, reason, detail) {
    if (this.stopped) return;
    const ceiling = Math.min(this.maxDelay, this.minDelay * 2 ** this.attempt);
    const delay = Math.round(Math.random() * ceiling); // full jitter
    this.attempt += 1;
    this.timer = setTimeout(() => this.open(), delay);
    this.setStatus("reconnecting", { code, reason, detail, delay });
  }

  stop(code, reason, detail) {
    this.stopped = true;
    this.setStatus("refused", { code, reason, detail });
  }

  scheduleRefresh(token) {
    clearTimeout(this.refreshTimer);
    const claims = tokenClaims(token);
    if (typeof claims?.exp !== "number") return;
    // The token's lifetime by its own clock (exp - iat), counted from now: a
    // browser clock that is off does not matter.
    const lifetime = 1000 * (claims.exp - (claims.iat ?? Date.now() / 1000));
    const wait = Math.min(MAX_TIMER, Math.max(1_000, lifetime - this.refreshAhead, lifetime / 2));
    const socket = this.socket;
    this.refreshTimer = setTimeout(async () => {
      try {
        const fresh = await this.getToken();
        if (!fresh || fresh === this.token || socket !== this.socket || !this.connected) return;
        await this.request({ type: "auth", token: fresh });
        this.token = fresh;
        this.scheduleRefresh(fresh);
      } catch (error) {
        if (socket !== this.socket || !this.connected) return;
        this.setStatus("open", { detail: `token refresh failed: ${error.message ?? error}` });
      }
    }, wait);
  }

  emit(message) {
    for (const handler of this.handlers.get(message.type) ?? []) safely(handler, message);
    for (const handler of this.handlers.get("*") ?? []) safely(handler, message);
  }

  setStatus(state, details) {
    this.state = state;
    const status = { state, ...details };
    for (const handler of this.statusHandlers) safely(handler, status);
  }
}

/** Where the client stands in one topic: its epoch, and the highest offset received in it. */
class Position {
  constructor() {
    this.epoch = null;
    this.offset = 0;
  }

  get since() {
    return this.epoch === null ? null : `${this.epoch}:${this.offset}`;
  }

  /** A greeting: where the topic stands and, when resuming, whether the missed messages follow. */
  greet({ epoch, offset, recovered }) {
    if (typeof epoch !== "string" || typeof offset !== "number") return; // the server could not say
    // Recovered: the missed messages follow and move the offset on as they
    // come; taking the greeting's now would skip them on a drop mid-replay.
    if (recovered === true && epoch === this.epoch) return;
    // Otherwise the topic goes on from here: a new epoch, a gap (recovered
    // false, the app reloads) or a fresh start.
    this.epoch = epoch;
    this.offset = offset;
  }

  receive({ epoch, offset }) {
    if (epoch === this.epoch && typeof offset === "number" && offset > this.offset) {
      this.offset = offset;
    }
  }
}

function subscriptionKey(resource, id) {
  return `${resource}\u0000${id}`;
}

// A handler that throws must not stop the client, nor the handlers after it.
function safely(handler, argument) {
  try {
    handler(argument);
  } catch (error) {
    console.error("azu-ws: a handler threw", error);
  }
}

/** A group's members from `joined`, `user_joined` and `user_left`; repeats are no news. */
export function trackMembers(socket, onChange) {
  const members = new Set();
  const changed = () => onChange([...members].sort());
  socket.on("joined", (m) => {
    members.clear();
    for (const user of m.members) members.add(user);
    changed();
  });
  socket.on("user_joined", (m) => {
    if (!members.has(m.user)) {
      members.add(m.user);
      changed();
    }
  });
  socket.on("user_left", (m) => {
    if (members.delete(m.user)) changed();
  });
  return members;
}

function toWebSocketUrl(path) {
  const url = new URL(path, globalThis.location?.href ?? "http://localhost/");
  if (url.protocol === "http:") url.protocol = "ws:";
  if (url.protocol === "https:") url.protocol = "wss:";
  return url.toString();
}

/** A JWT's claims, read from its payload (not verified: the server does), or null. */
export function tokenClaims(token) {
  if (!token) return null;
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, "=")));
  } catch {
    return null;
  }
}

/** A name for this client's session: random, kept across its reconnects. */
function newSession() {
  const random = globalThis.crypto?.randomUUID?.();
  return random ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}`;
}

/** When a JWT expires, in ms since the epoch (read, not verified), or null. */
export function tokenExpiry(token) {
  const claims = tokenClaims(token);
  return typeof claims?.exp === "number" ? claims.exp * 1000 : null;
}
