// Types of azu-ws.js. With the message types the server makes (GET /messages.d.ts):
//
//   import type { Channels } from "./messages";
//   const chat = new AzuSocket<Channels["/ws/chat"]>("/ws/chat", { getToken });
//   chat.on("message", (m) => m.content);   // m is the server's `message` model
//   chat.send({ type: "message", content: "hi" });   // checked against ChatInbound

export interface Message {
  type: string;
  ref?: string | number | null;
}

export interface ChannelTypes {
  inbound: Message;
  outbound: Message;
}

export type State = "idle" | "connecting" | "open" | "reconnecting" | "refused" | "closed";

export interface Status {
  state: State;
  /** The close code and reason the server sent, when there was one. */
  code?: number;
  reason?: string;
  /** Why, in words: "the server refused the token", "attempt 3", ... */
  detail?: string;
  /** Milliseconds until the next attempt, when reconnecting. */
  delay?: number;
}

export interface Options {
  /** Called before every connection and before the token expires; null for no token.
   *  An error it throws is retried with backoff, unless the error has `final: true`. */
  getToken?: () => Promise<string | null>;
  /** Milliseconds a `request` waits for its reply (10,000). */
  requestTimeout?: number;
  /** Backoff: the first ceiling and the largest, in milliseconds (250 and 30,000). */
  minDelay?: number;
  maxDelay?: number;
  /** Refresh the token this long before it expires, in milliseconds (60,000). */
  refreshAhead?: number;
  /** A WebSocket constructor, for environments without a global one. */
  WebSocket?: typeof WebSocket;
  /** This client's session, kept across reconnects and sent as `?session=` (8 to 64 of
   *  A-Z a-z 0-9 _ -); random by default. What it sent with `broadcast_from` is not
   *  replayed to it. */
  session?: string;
}

// The message of type K; any message when the channel's types are not given.
type Of<T extends Message, K extends string> = string extends T["type"] ? T : Extract<T, { type: K }>;

export class RequestError extends Error {
  /** The server's `error` message, when it answered with one. */
  reply: Message | null;
}

export class AzuSocket<C extends ChannelTypes = ChannelTypes> {
  constructor(path: string, options?: Options);
  readonly url: string;
  readonly session: string;
  readonly state: State;
  readonly connected: boolean;
  /** Where the socket's own topic resumes on reconnect, `epoch:offset` (sent as `?since=`),
   *  or null before its first greeting with a position. */
  readonly since: string | null;
  on<K extends C["outbound"]["type"]>(type: K, handler: (message: Of<C["outbound"], K>) => void): () => void;
  on(type: "*", handler: (message: C["outbound"]) => void): () => void;
  on(type: "binary", handler: (message: { type: "binary"; data: Blob | ArrayBuffer }) => void): () => void;
  onStatus(handler: (status: Status) => void): () => void;
  /** False, and nothing sent, while not connected. */
  send(message: C["inbound"]): boolean;
  /** Sends with a fresh `ref`; resolves with the reply, rejects with RequestError. */
  request(message: C["inbound"], options?: { timeout?: number }): Promise<C["outbound"]>;
  /** A `subscribe` message now and after every reconnect, then with `since`, to resume. */
  subscribe(resource: string, id: string | number): Promise<C["outbound"] | null>;
  unsubscribe(resource: string, id: string | number): Promise<C["outbound"] | null>;
  connect(): this;
  /** Close for good: no reconnect. */
  close(code?: number, reason?: string): void;
}

/** A group's members from `joined`, `user_joined` and `user_left`; repeats are no news. */
export function trackMembers(socket: AzuSocket<any>, onChange: (members: string[]) => void): Set<string>;

/** A JWT's claims, read from its payload (not verified: the server does), or null. */
export function tokenClaims(token: string | null): Record<string, unknown> | null;

/** When a JWT expires, in milliseconds since the epoch (read, not verified). */
export function tokenExpiry(token: string | null): number | null;
