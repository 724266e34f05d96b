// The demo page, on the client SDK (served as /demo/arcyou-chat.js, built from client/):
// the SDK keeps the connection, resumes rooms and orders messages; this file only draws.
// Room list with unread counts, history on scroll, edit and delete of own messages,
// typing and read indicators.
import { createChatClient } from '/demo/arcyou-chat.js';

const $ = (id) => document.getElementById(id);
const ui = {
  user: $('user'),
  token: $('token'),
  room: $('room'),
  connect: $('connect'),
  disconnect: $('disconnect'),
  autoAck: $('auto-ack'),
  rooms: $('rooms'),
  log: $('log'),
  status: $('status'),
  messages: $('messages'),
  older: $('older'),
  typing: $('typing'),
  message: $('message'),
  send: $('send'),
};

const ACK_DELAY_MS = 1500; // acks are ops, and ops are rate limited: batch them
const TYPING_EVERY_MS = 3000;
const TYPING_SHOWN_MS = 4000;

const names = new Map(); // user id -> display name
let chat = null;
let room = null; // the SDK room on screen
let me = null;
let unsubscribe = [];
let lastShownId = 0;
let oldestSeq = null; // the oldest place on screen, for history on scroll
let loadingOlder = false;
let ackTimer = null;
let typingSentAt = 0;
const typingTimers = new Map();

const nameOf = (userId) => names.get(userId) ?? `${userId.slice(0, 8)}…`;

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

function textOf(content) {
  if (content && typeof content === 'object' && typeof content.text === 'string') return content.text;
  return JSON.stringify(content);
}

function messageItem(message, source) {
  const item = document.createElement('li');
  item.className = 'message';
  if (message.user_id === me) item.classList.add('mine');
  item.dataset.id = String(message.id);
  item.dataset.seq = String(message.seq);
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
  badge.className = `badge ${source === 'history' ? 'backfill' : source}`;
  badge.textContent = source;
  head.append(author, time, badge);
  if (message.user_id === me) {
    const actions = document.createElement('span');
    actions.className = 'actions';
    const edit = document.createElement('button');
    edit.type = 'button';
    edit.className = 'edit';
    edit.textContent = 'edit';
    edit.addEventListener('click', () => editMessage(message.id, item));
    const del = document.createElement('button');
    del.type = 'button';
    del.className = 'delete';
    del.textContent = 'delete';
    del.addEventListener('click', () => deleteMessage(message.id));
    actions.append(edit, del);
    head.append(actions);
  }
  const text = document.createElement('div');
  text.className = 'text';
  text.textContent = textOf(message.content);
  item.append(head, text);
  return item;
}

function showMessage(message) {
  if (ui.messages.querySelector(`[data-id="${message.id}"]`)) return;
  const item = messageItem(message, message.source);
  const sending = message.temp_id !== undefined && ui.messages.querySelector(`[data-temp-id="${CSS.escape(String(message.temp_id))}"]`);
  if (sending) sending.replaceWith(item);
  else ui.messages.append(item);
  if (oldestSeq === null) {
    oldestSeq = message.seq;
    ui.older.hidden = message.seq <= 1;
    setTimeout(fillScreen, 300); // once the backfill is in
  }
  item.scrollIntoView({ block: 'end' });
  if (message.id > lastShownId) {
    lastShownId = message.id;
    scheduleAck();
  }
}

/** History on scroll: the page before the oldest place on screen. */
async function loadOlder() {
  if (!room || loadingOlder || oldestSeq === null || oldestSeq <= 1) return;
  loadingOlder = true;
  const current = room;
  try {
    const page = await current.history({ beforeSeq: oldestSeq, limit: 30 });
    if (current !== room) return;
    const before = ui.messages.scrollHeight;
    const anchor = ui.older.nextSibling;
    for (const message of page.messages) {
      if (!ui.messages.querySelector(`[data-id="${message.id}"]`)) ui.messages.insertBefore(messageItem(message, 'history'), anchor);
    }
    if (page.from_seq !== null) oldestSeq = page.from_seq;
    ui.older.hidden = !page.has_more;
    ui.messages.scrollTop += ui.messages.scrollHeight - before; // keep what was on screen in place
    log(`history: ${page.messages.length} older messages`);
  } catch (err) {
    log(`history: ${err.message}`, 'error');
  } finally {
    loadingOlder = false;
  }
  fillScreen();
}

/** Loads older messages while the list does not fill the screen yet (no scrollbar to scroll up with). */
function fillScreen() {
  if (!ui.older.hidden && ui.messages.scrollHeight <= ui.messages.clientHeight) void loadOlder();
}

function scheduleAck() {
  if (!ui.autoAck.checked || ackTimer || !room) return;
  ackTimer = setTimeout(() => {
    ackTimer = null;
    room?.ack(lastShownId).catch((err) => log(`ack refused: ${err.code}`, 'error'));
  }, ACK_DELAY_MS);
}

function showRead({ user_id, last_read_message_id }) {
  if (user_id === me) return;
  const id = `read-${user_id}`;
  document.getElementById(id)?.remove();
  const items = [...ui.messages.querySelectorAll('li.message[data-id]')].filter((li) => Number(li.dataset.id) <= last_read_message_id);
  const target = items.at(-1);
  if (!target) return;
  const mark = document.createElement('div');
  mark.id = id;
  mark.className = 'read-by';
  mark.textContent = `✓ read by ${nameOf(user_id)}`;
  target.append(mark);
}

function showTyping({ user_id }) {
  if (user_id === me) return;
  clearTimeout(typingTimers.get(user_id));
  typingTimers.set(
    user_id,
    setTimeout(() => {
      typingTimers.delete(user_id);
      renderTyping();
    }, TYPING_SHOWN_MS),
  );
  renderTyping();
}

function renderTyping() {
  const who = [...typingTimers.keys()].map(nameOf);
  ui.typing.textContent = who.length ? `${who.join(', ')} ${who.length === 1 ? 'is' : 'are'} typing…` : '';
}

async function editMessage(messageId, item) {
  const text = prompt('Edit message', item.querySelector('.text').textContent);
  if (text === null || !text.trim()) return;
  try {
    await room.edit(messageId, { text: text.trim() });
  } catch (err) {
    log(`edit refused: ${err.code}`, 'error');
  }
}

async function deleteMessage(messageId) {
  try {
    await room.delete(messageId);
  } catch (err) {
    log(`delete refused: ${err.code}`, 'error');
  }
}

function onUpdate(message) {
  const item = ui.messages.querySelector(`[data-id="${message.id}"]`);
  if (!item) return;
  item.querySelector('.text').textContent = textOf(message.content);
  if (!item.querySelector('.edited')) {
    const edited = document.createElement('span');
    edited.className = 'edited';
    edited.textContent = '(edited)';
    item.querySelector('.meta').append(edited);
  }
}

function onDelete({ message_id }) {
  const item = ui.messages.querySelector(`[data-id="${message_id}"]`);
  if (!item) return;
  item.classList.add('deleted');
  item.querySelector('.text').textContent = 'message deleted';
  item.querySelector('.actions')?.remove();
}

async function refreshRooms() {
  if (!chat) return;
  try {
    const rooms = await chat.myRooms();
    ui.rooms.replaceChildren(
      ...rooms.map(({ room: r, unread_count }) => {
        names.set(r.id, r.name);
        const item = document.createElement('li');
        item.dataset.roomId = r.id;
        if (room?.id === r.id) item.classList.add('current');
        const name = document.createElement('span');
        name.textContent = r.name;
        const unread = document.createElement('span');
        unread.className = 'unread';
        unread.dataset.count = String(room?.id === r.id ? 0 : unread_count);
        unread.textContent = String(unread_count);
        item.append(name, unread);
        item.addEventListener('click', () => openRoom(r.id));
        return item;
      }),
    );
  } catch (err) {
    log(`room list: ${err.message}`, 'error');
  }
}

function openRoom(roomId) {
  for (const off of unsubscribe) off();
  room = chat.room(roomId);
  ui.room.value = roomId;
  lastShownId = 0;
  oldestSeq = null;
  ui.older.hidden = true;
  ui.messages.replaceChildren(ui.older);
  typingTimers.clear();
  renderTyping();
  unsubscribe = [
    room.on('joined', ({ last_seq }) => {
      log(`joined room ${roomId} (last seq ${last_seq}); earlier unread messages follow as backfill`, 'ok');
      setState('joined', `${nameOf(me)} in ${names.get(roomId) ?? roomId}`);
      refreshRooms();
    }),
    room.on('message', showMessage),
    room.on('update', onUpdate),
    room.on('delete', onDelete),
    room.on('typing', showTyping),
    room.on('read', showRead),
    room.on('change', ({ type }) => log(`event ${type}`)),
    room.on('removed', () => {
      log('you were removed from this room', 'error');
      setState('connected', `${nameOf(me)}, not in a room`);
    }),
    room.on('error', (err) => {
      log(`join refused: ${err.code}`, 'error');
      setState('connected', `${nameOf(me)}, not in a room`);
    }),
  ];
  for (const li of ui.rooms.children) li.classList.toggle('current', li.dataset.roomId === roomId);
}

function connectAndJoin() {
  const token = ui.token.value.trim();
  const roomId = ui.room.value.trim();
  disconnect();
  me = token; // the dev token is the user id; the auth reply says who a JWT is for
  setState('connecting', 'connecting…');
  chat = createChatClient({ url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`, apiUrl: location.origin, token });
  chat.on('state', (state) => {
    log(`connection: ${state}`, state === 'connected' ? 'ok' : 'info');
    if (state === 'connected') {
      me = chat.userId ?? me;
      document.title = `${nameOf(me)} · ArcYou chat demo`;
    } else if (state !== 'closed') setState('connecting', state === 'disconnected' ? 'reconnecting…' : 'connecting…');
  });
  chat.on('error', (err) => log(`${err.code}${err.detail ? `: ${err.detail}` : ''}`, 'error'));
  openRoom(roomId);
}

function disconnect() {
  for (const off of unsubscribe) off();
  unsubscribe = [];
  chat?.close();
  chat = null;
  room = null;
  setState('offline', 'offline');
}

async function sendMessage() {
  const text = ui.message.value.trim();
  if (!text || !room) return;
  ui.message.value = '';
  const tempId = crypto.randomUUID();
  const item = document.createElement('li');
  item.className = 'message mine sending';
  item.dataset.tempId = tempId;
  item.textContent = text;
  ui.messages.append(item);
  try {
    await room.send({ text }, { tempId });
  } catch (err) {
    item.classList.replace('sending', 'failed');
    item.title = err.code;
    log(`send refused: ${err.code}`, 'error');
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
ui.disconnect.addEventListener('click', disconnect);
$('send-form').addEventListener('submit', (event) => {
  event.preventDefault();
  sendMessage();
});
ui.message.addEventListener('input', () => {
  if (!room || Date.now() - typingSentAt < TYPING_EVERY_MS) return;
  typingSentAt = Date.now();
  room.typing().catch(() => {});
});
ui.older.addEventListener('click', loadOlder);
ui.messages.addEventListener('scroll', () => {
  if (ui.messages.scrollTop < 40) loadOlder();
});
ui.autoAck.addEventListener('change', scheduleAck);

setState('offline', 'offline');
loadPresets().catch((err) => log(`cannot load the demo users: ${err.message}`, 'error'));
