// The demo page: one WebSocket to the gateway this page came from, speaking the chat
// protocol (auth, join, send, ack) and showing the room's events as they arrive.
const $ = (id) => document.getElementById(id);
const ui = {
  user: $('user'), token: $('token'), room: $('room'), connect: $('connect'), disconnect: $('disconnect'),
  autoAck: $('auto-ack'), log: $('log'), status: $('status'), messages: $('messages'), message: $('message'), send: $('send'),
};

const names = new Map(); // user id -> display name
let socket = null;
let me = null; // authenticated user id
let roomId = null; // the room on screen
let nextRequest = 1;
const pending = new Map(); // request_id -> { resolve }
let lastShownId = 0;
let ackTimer = null;

const ACK_DELAY_MS = 1500; // acks are ops too, and ops are rate limited: batch them

function nameOf(userId) {
  return names.get(userId) ?? `${userId.slice(0, 8)}…`;
}

function log(text, kind = 'info') {
  const item = document.createElement('li');
  item.className = kind;
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  ui.log.prepend(item);
  while (ui.log.children.length > 50) ui.log.lastChild.remove();
}

function setState(state, text) {
  ui.status.dataset.state = state;
  ui.status.textContent = text;
  const online = state === 'joined';
  ui.message.disabled = !online;
  ui.send.disabled = !online;
  ui.connect.disabled = state === 'connecting';
  ui.disconnect.disabled = state === 'offline';
}

function request(body) {
  const request_id = `p${nextRequest++}`;
  socket.send(JSON.stringify({ ...body, request_id }));
  return new Promise((resolve) => pending.set(request_id, resolve));
}

function textOf(content) {
  if (content && typeof content === 'object' && typeof content.text === 'string') return content.text;
  return JSON.stringify(content);
}

function showMessage(message, source) {
  if (ui.messages.querySelector(`[data-id="${message.id}"]`)) return;
  const sending = message.temp_id !== undefined && ui.messages.querySelector(`[data-temp-id="${CSS.escape(String(message.temp_id))}"]`);
  const item = document.createElement('li');
  item.className = 'message';
  if (message.user_id === me) item.classList.add('mine');
  item.dataset.id = String(message.id);
  item.dataset.source = source;
  const head = document.createElement('div');
  head.className = 'meta';
  const author = document.createElement('span');
  author.className = 'author';
  author.textContent = nameOf(message.user_id);
  const time = document.createElement('time');
  time.dateTime = message.created_at;
  time.textContent = new Date(message.created_at).toLocaleTimeString();
  const badge = document.createElement('span');
  badge.className = `badge ${source}`;
  badge.textContent = source;
  head.append(author, time, badge);
  const text = document.createElement('div');
  text.className = 'text';
  text.textContent = textOf(message.content);
  item.append(head, text);
  if (sending) sending.replaceWith(item);
  else ui.messages.append(item);
  item.scrollIntoView({ block: 'end' });
  if (message.id > lastShownId) {
    lastShownId = message.id;
    scheduleAck();
  }
}

function scheduleAck() {
  if (!ui.autoAck.checked || ackTimer) return;
  ackTimer = setTimeout(async () => {
    ackTimer = null;
    if (!socket || socket.readyState !== WebSocket.OPEN || !roomId) return;
    const reply = await request({ op: 'ack', room_id: roomId, last_read_message_id: lastShownId });
    if (!reply.success) log(`ack refused: ${reply.error}`, 'error');
  }, ACK_DELAY_MS);
}

function onFrame(frame) {
  if (frame.request_id && pending.has(frame.request_id)) {
    pending.get(frame.request_id)(frame);
    pending.delete(frame.request_id);
    return;
  }
  if (frame.op === 'event' && frame.type === 'message.created' && frame.roomId === roomId) {
    showMessage(frame.message, frame.source);
  } else if (frame.op === 'event') {
    log(`event ${frame.type} in room ${frame.roomId}`);
  } else if (frame.success === false) {
    log(`${frame.op}: ${frame.error}`, 'error');
  }
}

function open() {
  return new Promise((resolve, reject) => {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;
    const ws = new WebSocket(url);
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
    ws.onmessage = (event) => onFrame(JSON.parse(event.data));
    ws.onclose = (event) => {
      if (socket !== ws) return;
      socket = null;
      me = null;
      for (const resolve of pending.values()) resolve({ success: false, error: 'connection closed' });
      pending.clear();
      log(`disconnected (code ${event.code}${event.reason ? `: ${event.reason}` : ''})`, event.code === 1000 ? 'info' : 'error');
      setState('offline', 'offline');
    };
  });
}

async function connectAndJoin() {
  const token = ui.token.value.trim();
  const room = ui.room.value.trim();
  if (socket) socket.close(1000);
  setState('connecting', 'connecting…');
  try {
    socket = await open();
  } catch (err) {
    log(err.message, 'error');
    setState('offline', 'offline');
    return;
  }
  const auth = await request({ op: 'auth', token });
  if (!auth.success) {
    log(`auth refused: ${auth.error}`, 'error');
    socket.close(1000);
    return;
  }
  me = auth.userId;
  log(`signed in as ${nameOf(me)} (${me})`, 'ok');
  document.title = `${nameOf(me)} · ArcYou chat demo`;
  await join(room);
}

async function join(room) {
  roomId = room;
  lastShownId = 0;
  ui.messages.replaceChildren();
  const reply = await request({ op: 'join', room_id: room });
  if (!reply.success) {
    roomId = null;
    log(`join refused: ${reply.error}`, 'error');
    setState('connected', `signed in as ${nameOf(me)}, not in a room`);
    return;
  }
  log(`joined room ${room}; earlier unread messages follow as backfill`, 'ok');
  setState('joined', `${nameOf(me)} in ${names.get(room) ?? room}`);
  ui.message.focus();
}

async function sendMessage() {
  const text = ui.message.value.trim();
  if (!text || !roomId) return;
  ui.message.value = '';
  const tempId = `t${Date.now()}-${nextRequest}`;
  const item = document.createElement('li');
  item.className = 'message mine sending';
  item.dataset.tempId = tempId;
  item.textContent = text;
  ui.messages.append(item);
  const reply = await request({ op: 'send', room_id: roomId, content: { text }, temp_id: tempId });
  if (!reply.success) {
    item.classList.replace('sending', 'failed');
    item.title = reply.error;
    log(`send refused: ${reply.error}`, 'error');
  }
}

async function loadPresets() {
  const presets = await fetch('/demo/presets.json').then((r) => r.json());
  names.set(presets.room.id, presets.room.name);
  for (const user of presets.users) {
    names.set(user.id, user.name);
    ui.user.append(new Option(`${user.name} (${user.id.slice(0, 8)}…)`, user.id));
  }
  ui.user.append(new Option('Someone else: paste a token', ''));
  const wanted = new URLSearchParams(location.search).get('user');
  const preset = presets.users.find((u) => u.name.toLowerCase() === wanted?.toLowerCase() || u.id === wanted);
  ui.user.value = preset?.id ?? presets.users[0]?.id ?? '';
  ui.token.value = ui.user.value;
  ui.room.value = new URLSearchParams(location.search).get('room') ?? presets.room.id;
}

ui.user.addEventListener('change', () => {
  ui.token.value = ui.user.value;
  if (!ui.user.value) ui.token.focus();
});
$('connect-form').addEventListener('submit', (event) => {
  event.preventDefault();
  connectAndJoin();
});
ui.disconnect.addEventListener('click', () => socket?.close(1000));
$('send-form').addEventListener('submit', (event) => {
  event.preventDefault();
  sendMessage();
});
ui.autoAck.addEventListener('change', scheduleAck);

setState('offline', 'offline');
loadPresets().catch((err) => log(`cannot load the demo users: ${err.message}`, 'error'));
