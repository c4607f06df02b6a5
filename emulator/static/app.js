// Demo client of the chat protocol. Plain JS, no build step. Talks to the local stack only:
// /_local/info for the WebSocket URL and the authorizer's mode, and a token from the stack: in oidc
// mode from the built-in identity provider's token endpoint (/_local/oidc/token), else /_local/token.
// By default the token travels in Sec-WebSocket-Protocol ("wschat", "bearer.<jwt>"), never in the URL.
"use strict";

const $ = (id) => document.getElementById(id);
let ws = null;
let wsUrl = null;
let auth = null;
const joined = new Set();
const seen = new Set(); // messageIds already shown: a repeated delivery (at-least-once) is dropped
const pending = new Map(); // clientMessageId -> the frame we sent, shown once its ack arrives
let sequence = 0;

function logFrame(direction, text, isError) {
  const li = document.createElement("li");
  li.className = direction + (isError ? " error" : "");
  li.textContent = (direction === "out" ? "→ " : "← ") + text;
  $("log").prepend(li);
}

function describe(m) {
  const where = m.kind === "direct" ? `${m.from} → ${m.to}` : m.kind === "room" ? `#${m.roomId} ${m.from}` : m.from;
  return [m.kind, `${where}: ${m.text}`];
}

function addMessage(list, m) {
  if (list.id === "messages") {
    if (m.messageId && seen.has(m.messageId)) return;
    if (m.messageId) seen.add(m.messageId);
  }
  const li = document.createElement("li");
  const [kind, text] = describe(m);
  const span = document.createElement("span");
  span.className = "kind";
  span.textContent = kind;
  li.append(span, document.createTextNode(text));
  li.dataset.messageId = m.messageId || "";
  list.append(li);
}

function setConnected(open) {
  $("status").dataset.state = open ? "open" : "closed";
  $("status").textContent = open ? `connected as ${$("user").value}` : "disconnected";
  for (const id of ["join", "leave", "send-direct", "send-room", "send-broadcast", "history-room",
                    "history-direct", "history-broadcast", "disconnect"]) {
    $(id).disabled = !open;
  }
  $("connect").disabled = open;
}

function sendChat(frame) {
  // A clientMessageId makes a resend safe (the server stores and delivers it once) and lets the
  // page show our own message when its ack comes back (the fan-out skips the sending connection).
  frame.clientMessageId = `web-${Date.now().toString(36)}-${(sequence++).toString(36)}`;
  pending.set(frame.clientMessageId, frame);
  send(frame);
}

function showOwn(ack) {
  const frame = pending.get(ack.clientMessageId);
  pending.delete(ack.clientMessageId);
  if (!frame || !ack.messageId) return;
  const me = $("user").value.trim();
  const kind = frame.action === "broadcast" && !frame.roomId ? "broadcast" : frame.roomId ? "room" : "direct";
  addMessage($("messages"), { messageId: ack.messageId, kind, from: me, to: frame.targetUserId,
                              roomId: frame.roomId, text: frame.text });
}

function send(frame) {
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  const text = JSON.stringify(frame);
  logFrame("out", text);
  ws.send(text);
}

function onFrame(event) {
  const text = typeof event.data === "string" ? event.data : "(binary)";
  let frame;
  try { frame = JSON.parse(text); } catch { logFrame("in", text, true); return; }
  logFrame("in", text, frame.type === "error" || frame.message === "Internal server error");
  switch (frame.type) {
    case "message": addMessage($("messages"), frame); break;
    case "ack": showOwn(frame); break;
    case "error": if (frame.clientMessageId) pending.delete(frame.clientMessageId); break;
    case "joined": joined.add(frame.roomId); $("rooms").textContent = [...joined].join(", "); break;
    case "left": joined.delete(frame.roomId); $("rooms").textContent = [...joined].join(", "); break;
    case "history":
      $("history").replaceChildren();
      for (const m of frame.messages) addMessage($("history"), m);
      $("history").dataset.conversationId = frame.conversationId;
      break;
    default: break;
  }
}

async function signIn(user) {
  if (auth.mode === "oidc" && auth.localIssuer) {
    const res = await fetch("/_local/oidc/token", {
      method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "password", username: user }),
    });
    if (!res.ok) throw new Error(`sign-in: HTTP ${res.status}`);
    return (await res.json()).id_token;
  }
  const res = await fetch(`/_local/token?user=${encodeURIComponent(user)}`);
  if (!res.ok) throw new Error(`token: HTTP ${res.status}`);
  return (await res.json()).token;
}

async function connect() {
  const user = $("user").value.trim();
  let token;
  try { token = await signIn(user); } catch (e) { logFrame("in", e.message, true); return; }
  if ($("transport").value === "subprotocol") {
    // The browser sends both as Sec-WebSocket-Protocol; $connect selects "wschat" (the token stays out of URLs).
    ws = new WebSocket(wsUrl, [auth.subprotocol, auth.tokenSubprotocolPrefix + token]);
  } else {
    ws = new WebSocket(`${wsUrl}?token=${encodeURIComponent(token)}`);
  }
  ws.onopen = () => { setConnected(true); $("status").dataset.subprotocol = ws.protocol; };
  ws.onmessage = onFrame;
  ws.onclose = (e) => { setConnected(false); logFrame("in", `closed ${e.code} ${e.reason}`, e.code !== 1000); };
  ws.onerror = () => logFrame("in", "WebSocket error (handshake rejected?)", true);
}

async function init() {
  const info = await (await fetch("/_local/info")).json();
  wsUrl = info.wsUrl.replace("127.0.0.1", location.hostname);
  auth = info.auth;
  const signer = auth.mode === "oidc" ? `OIDC ${auth.issuer}` : "HS256 (local secret)";
  $("endpoint").textContent = `WebSocket ${wsUrl} · stage ${info.stage} · DynamoDB: ${info.dynamodb.backend} · sign-in: ${signer}`;
  for (const option of $("transport").options) option.disabled = !auth.tokenSources.includes(option.value);
  if (!auth.tokenSources.includes($("transport").value)) $("transport").value = auth.tokenSources[0];
  $("connect").onclick = connect;
  $("disconnect").onclick = () => ws && ws.close(1000, "bye");
  $("join").onclick = () => send({ action: "joinRoom", roomId: $("room").value });
  $("leave").onclick = () => send({ action: "leaveRoom", roomId: $("room").value });
  $("send-direct").onclick = () => sendChat({ action: "sendMessage", targetUserId: $("target").value, text: $("text").value });
  $("send-room").onclick = () => sendChat({ action: "sendMessage", roomId: $("room").value, text: $("text").value });
  $("send-broadcast").onclick = () => sendChat({ action: "broadcast", text: $("text").value });
  $("history-room").onclick = () => send({ action: "getHistory", roomId: $("room").value, limit: 50 });
  $("history-direct").onclick = () => send({ action: "getHistory", withUserId: $("target").value, limit: 50 });
  $("history-broadcast").onclick = () => send({ action: "getHistory", broadcast: true, limit: 50 });
  document.body.dataset.ready = "true";
}

init();
