// From /asyncapi.json to the demo page's widgets: a form for each message a channel accepts,
// made from its JSON schema, and a readable line for each message it sends.

// Fields no form shows: the discriminator is the form itself, the client numbers `ref`,
// and it fills `since` when it resumes.
const HIDDEN = new Set(["type", "ref", "since"]);
// Fields no log line shows: where a message stands in its topic, for the client to resume.
const BOOKKEEPING = new Set(["type", "ref", "epoch", "offset"]);

// Follows `$ref`s (JSON pointers into `spec`) to the object they name.
export function resolve(spec, node) {
  let at = node;
  while (at?.$ref) at = at.$ref.split("/").slice(1).reduce((parent, key) => parent?.[key], spec);
  return at ?? {};
}

// The messages of one direction ("receive": what the client sends) of channel `id`.
export function messagesOf(spec, id, action) {
  const refs = spec.operations[`${id}_${action}`]?.messages ?? [];
  return refs.map((ref) => resolve(spec, ref)).filter((message) => message.name !== "binary");
}

// What a field takes, in the terms of a form: a schema's `anyOf` with `null` is optional.
function kindOf(spec, schema) {
  const node = resolve(spec, schema);
  if (node.allOf?.length === 1) return kindOf(spec, node.allOf[0]);
  const choices = node.enum ?? (node.const !== undefined ? [node.const] : null);
  if (choices) return { kind: "enum", choices, schema: node };
  if (node.anyOf) {
    const branches = node.anyOf.map((branch) => resolve(spec, branch));
    const present = branches.filter((branch) => branch.type !== "null");
    const text = present.find((branch) => branch.type === "string");
    if (present.length === 1) return { ...kindOf(spec, present[0]), nullable: true };
    const nullable = present.length < branches.length;
    return { kind: text ? "string" : "json", schema: text ?? node, nullable };
  }
  const kind = { string: "string", integer: "number", number: "number", boolean: "boolean" };
  return { kind: kind[node.type] ?? "json", schema: node };
}

// A labelled input for field `name`: `data-field` names the field, `data-kind` how to read it.
function input(spec, name, schema, required) {
  const { kind, choices, schema: node, nullable } = kindOf(spec, schema);
  let control;
  if (kind === "enum") {
    control = document.createElement("select");
    control.append(...choices.map((choice) => new Option(String(choice), JSON.stringify(choice))));
  } else if (kind === "boolean") {
    control = Object.assign(document.createElement("input"), { type: "checkbox" });
  } else {
    control = document.createElement("input");
    control.type = kind === "number" ? "number" : "text";
    if (kind === "json") control.placeholder = "JSON";
    if (node.maxLength) control.maxLength = node.maxLength;
    if (node.type === "number") control.step = "any";
    control.required = required && !nullable;
  }
  if (node.default !== undefined && node.default !== null && kind !== "boolean") {
    control.value = kind === "enum" ? JSON.stringify(node.default) : String(node.default);
  }
  control.dataset.field = name;
  control.dataset.kind = kind;
  control.dataset.optional = String(!required || Boolean(nullable));
  const label = document.createElement("label");
  label.append(`${name} `, control);
  return label;
}

// A form that sends a message of `message.name` with its fields; `send(message)` is told.
export function messageForm(spec, message, send) {
  const schema = resolve(spec, message.payload);
  const required = new Set(schema.required ?? []);
  const form = document.createElement("form");
  form.className = "message";
  form.dataset.message = message.name;
  if (message.summary) form.title = message.summary;
  const title = document.createElement("b");
  title.textContent = message.name;
  form.append(title);
  for (const [name, field] of Object.entries(schema.properties ?? {})) {
    if (!HIDDEN.has(name)) form.append(input(spec, name, field, required.has(name)));
  }
  const button = document.createElement("button");
  button.textContent = "Send";
  form.append(button);
  form.onsubmit = (event) => {
    event.preventDefault();
    send(readForm(form));
  };
  return form;
}

// The message a form holds; an optional field left blank is left out.
function readForm(form) {
  const message = { type: form.dataset.message };
  for (const control of form.querySelectorAll("[data-field]")) {
    const { field, kind, optional } = control.dataset;
    if (kind === "boolean") message[field] = control.checked;
    else if (control.value === "" && optional === "true") continue;
    else if (kind === "number") message[field] = Number(control.value);
    else if (kind === "enum" || kind === "json") message[field] = parseJson(control.value);
    else message[field] = control.value;
  }
  return message;
}

// JSON as typed; text that is not JSON goes as the string it is, for the server to judge.
function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// A log line: the message's type, then each field, `name: value`, a value in a `data-field`.
export function messageLine(message) {
  const item = document.createElement("li");
  item.dataset.type = message.type;
  const type = document.createElement("b");
  type.textContent = message.type;
  item.append(type);
  for (const [name, value] of Object.entries(message)) {
    if (BOOKKEEPING.has(name) || value === null || value === undefined) continue;
    const shown = document.createElement("span");
    shown.dataset.field = name;
    shown.textContent = readable(value);
    item.append(` ${name}: `, shown);
  }
  return item;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/;

function readable(value) {
  const flat = Array.isArray(value) && value.every((item) => typeof item !== "object");
  if (flat) return value.join(", ");
  if (typeof value === "object") return JSON.stringify(value);
  const time = typeof value === "string" && ISO_TIME.test(value);
  if (time) return new Date(value).toLocaleTimeString();
  return String(value);
}
