// The chat client: accounts, servers, rooms, messages and live updates, built on
// the public API only (docs/API.md, docs/REALTIME.md). Plain ES modules, no build.
// Every piece of user text reaches the page through dom.js's text nodes.

import { Api, ApiError } from './api.js';
import { $, clear, h, initials, nonce, timeLabel, toast } from './dom.js';
import { Live } from './live.js';
import { RoomLog, storeLabel } from './messages.js';

const PAGE = 50;
const HEALTH_EVERY = 3000;
const ROOMS_EVERY = 15000;

const api = new Api();
const state = {
  me: null,
  servers: [],
  server: null, // the selected server's details
  rooms: [], // DMs and groups
  room: null, // the open room
  logs: new Map(), // roomId → RoomLog
  outbox: new Map(), // roomId → pending sends
  unread: new Set(),
  live: null,
  health: null,
  timers: [],
};

// ---------------------------------------------------------------- accounts

let registering = false;

function showAuth(notice = '') {
  $('app').hidden = true;
  $('auth').hidden = false;
  $('auth-notice').textContent = notice;
  $('auth-password').value = '';
  $('auth-email').focus();
}

function setAuthMode(register) {
  registering = register;
  $('auth-title').textContent = register ? 'Create an account' : 'Log in';
  $('auth-submit').textContent = register ? 'Create account' : 'Log in';
  $('auth-switch').textContent = register
    ? 'Already have an account? Log in'
    : 'New here? Create an account';
  $('auth-name-field').hidden = !register;
  $('auth-name').required = register;
  $('auth-password').autocomplete = register ? 'new-password' : 'current-password';
  $('auth-notice').textContent = '';
}

async function submitAuth(event) {
  event.preventDefault();
  const email = $('auth-email').value.trim();
  const password = $('auth-password').value;
  const name = $('auth-name').value.trim();
  if (!email || !password || (registering && !name)) {
    $('auth-notice').textContent = 'Please fill in every field.';
    return;
  }
  $('auth-submit').disabled = true;
  try {
    const body = registering ? { email, password, name } : { email, password };
    const answer = await api.post(registering ? '/auth/register' : '/auth/login', body);
    api.setToken(answer.token);
    await start();
  } catch (error) {
    $('auth-notice').textContent =
      error.status === 401 ? 'Wrong email or password.' : error.detail || String(error);
  } finally {
    $('auth-submit').disabled = false;
  }
}

function signOut(notice = '') {
  if (state.live) state.live.stop();
  for (const timer of state.timers) clearInterval(timer);
  Object.assign(state, {
    me: null, servers: [], server: null, rooms: [], room: null, live: null, timers: [],
    logs: new Map(), outbox: new Map(), unread: new Set(),
  });
  api.setToken(null);
  clear($('messages'));
  clear($('outbox'));
  showAuth(notice);
}

api.onUnauthorized = () => {
  if (state.me) signOut('Your session has expired. Please log in again.');
};

// ---------------------------------------------------------------- startup

async function start() {
  state.me = await api.get('/profiles/me');
  $('auth').hidden = true;
  $('app').hidden = false;
  $('me').textContent = state.me.name;
  state.live = new Live(api.token, {
    onState: showLiveState,
    onSubscribed: (roomId) => catchUp(roomId),
    onResync: (roomId) => catchUp(roomId),
    onMessage: (frame) => applyMessage(frame.roomId, frame.message, true),
    onEnded: roomEnded,
    onUnauthorized: () => signOut('Your session has expired. Please log in again.'),
  });
  state.live.start();
  state.timers.push(setInterval(checkHealth, HEALTH_EVERY));
  state.timers.push(setInterval(() => loadRooms().catch(() => {}), ROOMS_EVERY));
  checkHealth();
  await Promise.all([loadServers(), loadRooms()]);
  const invite = new URLSearchParams(location.search).get('invite');
  if (invite) {
    history.replaceState(null, '', '/');
    await joinServer(invite);
  }
  await openFromHash();
}

/** `#room=<id>` links open that room (also when typed into the address bar). */
async function openFromHash() {
  const match = /^#room=([0-9a-f-]+)$/.exec(location.hash);
  if (!match || !state.me || state.room?.id === match[1]) return;
  try {
    await openRoom(await api.get(`/rooms/${match[1]}`));
  } catch {
    history.replaceState(null, '', location.pathname);
  }
}

function showLiveState(liveState) {
  const el = $('live-state');
  el.dataset.state = liveState;
  el.textContent = { live: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…' }[liveState];
}

async function checkHealth() {
  let status = 'unreachable';
  try {
    const response = await fetch('/api/health', { cache: 'no-store' });
    status = (await response.json()).status ?? 'unreachable';
  } catch {
    status = 'unreachable';
  }
  const el = $('health');
  el.dataset.status = status;
  if (status === 'unreachable') el.textContent = 'API unreachable';
  else el.replaceChildren(h('span', { class: 'wide-only', text: 'Databases ' }), status);
  if (state.health !== null && state.health !== status && state.room) {
    // Where reads come from may have changed: read again, and show it.
    catchUp(state.room.id);
  }
  state.health = status;
}

// ---------------------------------------------------------------- servers

async function loadServers() {
  state.servers = await api.get('/servers');
  renderServers();
}

function renderServers() {
  const list = clear($('server-list'));
  for (const server of state.servers) {
    const current = state.server?.id === server.id;
    list.append(
      h('li', {},
        h('button', {
          type: 'button',
          class: 'server-button',
          title: server.name,
          'aria-label': server.name,
          'aria-current': current ? 'true' : null,
          onclick: () => selectServer(server.id),
        }, h('span', { 'aria-hidden': 'true', text: initials(server.name) }))),
    );
  }
}

async function selectServer(serverId) {
  try {
    state.server = await api.get(`/servers/${serverId}`);
  } catch (error) {
    toast(error.detail);
    await loadServers();
    return;
  }
  renderServers();
  renderServerPanel();
  const general = state.server.channels.find((c) => c.type === 'TEXT');
  if (general && state.room?.serverId !== serverId) await openChannel(general);
}

function myRole(server) {
  return server.members.find((m) => m.profile.id === state.me.id)?.role ?? null;
}

function renderServerPanel() {
  const server = state.server;
  $('server-panel').hidden = !server;
  if (!server) return;
  $('server-name').textContent = server.name;
  const role = myRole(server);
  const actions = clear($('server-actions'));
  if (server.inviteCode && (role === 'ADMIN' || role === 'MODERATOR')) {
    actions.append(h('button', { type: 'button', onclick: () => showInvite(server) }, 'Invite people'));
  }
  if (server.ownerId !== state.me.id) {
    actions.append(h('button', { type: 'button', onclick: () => leaveServer(server) }, 'Leave server'));
  }
  const list = clear($('channel-list'));
  for (const channel of server.channels) {
    const text = channel.type === 'TEXT';
    list.append(
      h('li', {},
        h('button', {
          type: 'button',
          class: 'room-button',
          disabled: !text,
          'aria-current': state.room?.id === channel.id ? 'true' : null,
          dataset: { room: channel.id },
          onclick: () => openChannel(channel),
        }, `# ${channel.name}`, text ? null : h('span', { class: 'muted', text: ` (${channel.type.toLowerCase()})` }),
        unreadMark(channel.id))),
    );
  }
}

async function openChannel(channel) {
  await openRoom({ id: channel.id, type: 'channel', name: channel.name, serverId: channel.serverId });
}

function inviteLink(code) {
  return `${location.origin}/?invite=${encodeURIComponent(code)}`;
}

function showInvite(server) {
  const link = inviteLink(server.inviteCode);
  const input = h('input', { id: 'invite-link', readonly: true, value: link });
  const status = h('p', { role: 'status', class: 'muted' });
  openDialog({
    title: `Invite people to ${server.name}`,
    body: [
      h('label', { for: 'invite-link' }, 'Invite link'),
      input,
      h('p', { class: 'muted' }, 'Invite code: ', h('code', { text: server.inviteCode })),
      status,
    ],
    submitLabel: 'Copy link',
    onOpen: () => input.select(),
    onSubmit: async () => {
      try {
        await navigator.clipboard.writeText(link);
        status.textContent = 'Copied.';
      } catch {
        input.select();
        status.textContent = 'Press Ctrl+C to copy the selected link.';
      }
      return false; // keep the dialog open
    },
  });
}

async function joinServer(code) {
  const joined = await api.post(`/invites/${encodeURIComponent(code)}`);
  await loadServers();
  await selectServer(joined.server.id);
  toast(`You joined ${joined.server.name}.`);
}

function askJoin() {
  openDialog({
    title: 'Join a server',
    fields: [{ name: 'code', label: 'Invite code or link', required: true }],
    submitLabel: 'Join',
    onSubmit: async ({ code }) => {
      const value = code.trim();
      let invite = value;
      try {
        invite = new URL(value).searchParams.get('invite') ?? value;
      } catch {
        invite = value;
      }
      await joinServer(invite);
    },
  });
}

function askCreateServer() {
  openDialog({
    title: 'Create a server',
    fields: [{ name: 'name', label: 'Server name', required: true, maxlength: 100 }],
    submitLabel: 'Create',
    onSubmit: async ({ name }) => {
      const server = await api.post('/servers', { name: name.trim() });
      await loadServers();
      await selectServer(server.id);
    },
  });
}

async function leaveServer(server) {
  if (!confirm(`Leave ${server.name}?`)) return;
  try {
    await api.post(`/servers/${server.id}/leave`);
  } catch (error) {
    toast(error.detail);
    return;
  }
  if (state.room?.serverId === server.id) closeRoom();
  state.server = null;
  renderServerPanel();
  await loadServers();
  toast(`You left ${server.name}.`);
}

// ---------------------------------------------------------------- rooms

async function loadRooms() {
  state.rooms = await api.get('/rooms');
  renderRooms();
}

function unreadMark(roomId) {
  return state.unread.has(roomId)
    ? h('span', { class: 'unread' }, h('span', { class: 'visually-hidden', text: ' (new messages)' }))
    : null;
}

function renderRooms() {
  const list = clear($('room-list'));
  for (const room of state.rooms) {
    list.append(
      h('li', {},
        h('button', {
          type: 'button',
          class: 'room-button',
          'aria-current': state.room?.id === room.id ? 'true' : null,
          dataset: { room: room.id },
          onclick: () => openRoom(room),
        },
        h('span', { class: 'avatar', 'aria-hidden': 'true', text: initials(roomName(room)) }),
        roomName(room),
        room.type === 'group' ? h('span', { class: 'muted', text: ` (${room.members.length})` }) : null,
        unreadMark(room.id))),
    );
  }
}

function roomName(room) {
  if (room.type === 'channel') return `# ${room.name}`;
  if (room.name) return room.name;
  return room.members.filter((m) => m.profileId !== state.me.id).map((m) => m.name).join(', ');
}

/** Everyone who shares a server with me, for new DMs and groups. */
async function people() {
  const details = await Promise.all(state.servers.map((s) => api.get(`/servers/${s.id}`)));
  const found = new Map();
  for (const server of details) {
    for (const member of server.members) {
      if (member.profile.id !== state.me.id) found.set(member.profile.id, member.profile);
    }
  }
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}

async function askNewDm() {
  const everyone = await people();
  if (!everyone.length) {
    toast('Join or create a server first: you can message people you share a server with.');
    return;
  }
  openDialog({
    title: 'New direct message',
    fields: [{ name: 'profileId', label: 'Who?', type: 'radio', options: everyone, required: true }],
    submitLabel: 'Open',
    onSubmit: async ({ profileId }) => {
      const room = await api.post('/rooms', { type: 'dm', profileId });
      await loadRooms();
      await openRoom(room);
    },
  });
}

async function askNewGroup() {
  const everyone = await people();
  if (everyone.length < 2) {
    toast('A group needs at least two other people who share a server with you.');
    return;
  }
  openDialog({
    title: 'New group',
    fields: [
      { name: 'name', label: 'Group name (optional)', maxlength: 100 },
      { name: 'profileIds', label: 'Members (2 to 9)', type: 'checkbox', options: everyone },
    ],
    submitLabel: 'Create group',
    onSubmit: async ({ name, profileIds }) => {
      if (profileIds.length < 2 || profileIds.length > 9) throw new Error('Pick 2 to 9 people.');
      const body = { type: 'group', profileIds };
      if (name.trim()) body.name = name.trim();
      const room = await api.post('/rooms', body);
      await loadRooms();
      await openRoom(room);
    },
  });
}

function askRename(room) {
  openDialog({
    title: 'Rename group',
    fields: [{ name: 'name', label: 'Group name', required: true, maxlength: 100, value: room.name ?? '' }],
    submitLabel: 'Rename',
    onSubmit: async ({ name }) => {
      const renamed = await api.patch(`/rooms/${room.id}`, { name: name.trim() });
      await loadRooms();
      if (state.room?.id === room.id) {
        state.room = renamed;
        renderRoomHead();
      }
    },
  });
}

// ---------------------------------------------------------------- a room

function logFor(roomId) {
  let log = state.logs.get(roomId);
  if (!log) {
    log = new RoomLog(roomId);
    state.logs.set(roomId, log);
  }
  return log;
}

async function openRoom(room) {
  state.room = room;
  state.unread.delete(room.id);
  history.replaceState(null, '', `#room=${room.id}`);
  closeNav();
  renderRoomHead();
  renderRooms();
  if (state.server) renderServerPanel();
  $('room-notice').textContent = '';
  $('composer').hidden = false;
  renderAllMessages();
  state.live.subscribe(room.id); // subscribe first, then read: nothing falls between
  const log = logFor(room.id);
  if (!log.loaded) await loadLatest(room.id);
  if (state.room?.id === room.id) scrollToEnd();
}

function closeRoom() {
  state.room = null;
  history.replaceState(null, '', location.pathname);
  $('room-title').textContent = 'Pick a room';
  $('source-badge').hidden = true;
  $('rename-group').hidden = true;
  $('composer').hidden = true;
  $('load-older').hidden = true;
  $('room-empty').hidden = true;
  clear($('messages'));
  clear($('outbox'));
}

function renderRoomHead() {
  const room = state.room;
  $('room-title').textContent = roomName(room);
  const admin = room.type === 'group' && room.members?.some((m) => m.profileId === state.me.id && m.role === 'ADMIN');
  const rename = $('rename-group');
  rename.hidden = !admin;
  rename.onclick = () => askRename(room);
  $('composer-input').setAttribute('aria-label', `Message ${roomName(room)}`);
  renderSourceBadge();
}

function renderSourceBadge() {
  const badge = $('source-badge');
  const room = state.room;
  const log = room && state.logs.get(room.id);
  if (!room || room.type !== 'dm' || !log?.readSource) {
    badge.hidden = true;
    return;
  }
  badge.hidden = false;
  badge.dataset.source = log.readSource;
  badge.textContent = `Read from ${storeLabel(log.readSource)}`;
  badge.title = log.writeSource
    ? `Your last message was stored by ${storeLabel(log.writeSource)}`
    : 'The database that served the last read of this conversation';
}

function noteRead(roomId, source) {
  if (!source) return;
  logFor(roomId).readSource = source;
  if (state.room?.id === roomId) renderSourceBadge();
}

async function loadLatest(roomId) {
  const log = logFor(roomId);
  try {
    const { data, source } = await api.call('GET', `/rooms/${roomId}/messages?limit=${PAGE}`);
    noteRead(roomId, source);
    for (const message of data.items) log.merge(message);
    if (!log.loaded) log.olderCursor = data.nextCursor;
    log.loaded = true;
  } catch (error) {
    if (state.room?.id === roomId) $('room-notice').textContent = error.detail;
    return;
  }
  if (state.room?.id === roomId) {
    $('room-notice').textContent = '';
    renderAllMessages();
  }
}

async function loadOlder() {
  const room = state.room;
  const log = room && state.logs.get(room.id);
  if (!log || !log.olderCursor || log.loadingOlder) return;
  log.loadingOlder = true;
  const scroller = $('scroller');
  const fromBottom = scroller.scrollHeight - scroller.scrollTop;
  try {
    const { data, source } = await api.call(
      'GET', `/rooms/${room.id}/messages?limit=${PAGE}&before=${log.olderCursor}`);
    noteRead(room.id, source);
    for (const message of data.items) log.merge(message);
    log.olderCursor = data.nextCursor;
  } catch (error) {
    toast(error.detail);
  } finally {
    log.loadingOlder = false;
  }
  if (state.room?.id === room.id) {
    renderAllMessages();
    scroller.scrollTop = scroller.scrollHeight - fromBottom; // keep the reader's place
  }
}

/**
 * Fill any gap over REST: page forward from the newest id seen until the end,
 * then re-read the newest page for edits and deletes of recent messages.
 * Runs after `subscribed`, `resync` and health changes; runs coalesce.
 */
async function catchUp(roomId) {
  const log = state.logs.get(roomId);
  if (!log?.loaded) return;
  if (log.catching) {
    log.again = true;
    return;
  }
  log.catching = true;
  try {
    do {
      log.again = false;
      let after = log.lastId;
      while (after) {
        const { data, source } = await api.call(
          'GET', `/rooms/${roomId}/messages?limit=100&after=${after}`);
        noteRead(roomId, source);
        for (const message of data.items) applyMessage(roomId, message, false);
        after = data.nextCursor;
      }
      const { data, source } = await api.call('GET', `/rooms/${roomId}/messages?limit=${PAGE}`);
      noteRead(roomId, source);
      for (const message of data.items) applyMessage(roomId, message, false);
    } while (log.again);
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) {
      // The next resync, reconnect or health change tries again.
      if (state.room?.id === roomId) $('room-notice').textContent = error.detail;
    }
  } finally {
    log.catching = false;
  }
  if (state.room?.id === roomId && $('room-notice').textContent && log.loaded) {
    $('room-notice').textContent = '';
  }
}

function roomEnded(roomId, reason) {
  if (state.room?.id !== roomId) return;
  const why = { left: 'You left', kicked: 'You were removed from', removed: 'You were removed from', deleted: 'Someone deleted' }[reason];
  $('room-notice').textContent = `${why ?? 'You no longer have access to'} this room.`;
  $('composer').hidden = true;
  loadServers().catch(() => {});
  loadRooms().catch(() => {});
}

// ---------------------------------------------------------------- messages

function applyMessage(roomId, message, live) {
  const log = logFor(roomId);
  if (live) settleOutbox(roomId, message);
  if (!log.merge(message)) return;
  if (state.room?.id === roomId) renderMessage(message);
  else if (live) {
    state.unread.add(roomId);
    renderRooms();
    if (state.server) renderServerPanel();
  }
}

function nearBottom() {
  const s = $('scroller');
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}

function scrollToEnd() {
  const s = $('scroller');
  s.scrollTop = s.scrollHeight;
}

function renderAllMessages() {
  const room = state.room;
  const list = clear($('messages'));
  const outbox = clear($('outbox'));
  if (!room) return;
  const log = logFor(room.id);
  for (const message of log.sorted()) list.append(messageItem(message));
  for (const pending of state.outbox.get(room.id) ?? []) outbox.append(pendingItem(pending));
  $('load-older').hidden = !log.olderCursor;
  $('room-empty').hidden = !log.loaded || log.byId.size > 0;
}

/** Insert or replace one message in place, keeping id order. */
function renderMessage(message) {
  const stick = nearBottom();
  const list = $('messages');
  const item = messageItem(message);
  const existing = list.querySelector(`li[data-id="${CSS.escape(message.id)}"]`);
  if (existing) {
    if (existing.contains(document.activeElement) && existing.querySelector('form')) return;
    existing.replaceWith(item);
  } else {
    let before = null;
    for (let node = list.lastElementChild; node; node = node.previousElementSibling) {
      if (node.dataset.id < message.id) break;
      before = node;
    }
    list.insertBefore(item, before);
  }
  $('room-empty').hidden = true;
  if (stick) scrollToEnd();
}

function messageItem(message) {
  const mine = message.author?.id === state.me.id;
  const edited = !message.deleted && message.updatedAt !== message.createdAt;
  const item = h('li', {
    class: `message${message.deleted ? ' deleted' : ''}${mine ? ' mine' : ''}`,
    dataset: { id: message.id, author: message.author?.id ?? '' },
  },
  h('div', { class: 'meta' },
    h('span', { class: 'author', text: message.author?.name ?? 'Someone who left' }),
    h('time', { datetime: message.createdAt, text: timeLabel(message.createdAt) }),
    edited ? h('span', { class: 'edited', text: '(edited)' }) : null),
  h('p', { class: 'text', text: message.content }),
  message.fileUrl && /^https?:\/\//i.test(message.fileUrl)
    ? h('a', { class: 'file', href: message.fileUrl, target: '_blank', rel: 'noopener noreferrer nofollow', text: message.fileUrl })
    : null);
  if (mine && !message.deleted) {
    item.append(h('div', { class: 'message-actions' },
      h('button', { type: 'button', onclick: () => startEdit(item, message), 'aria-label': `Edit message: ${message.content.slice(0, 40)}` }, 'Edit'),
      h('button', { type: 'button', onclick: () => deleteMessage(message), 'aria-label': `Delete message: ${message.content.slice(0, 40)}` }, 'Delete')));
  }
  return item;
}

function startEdit(item, message) {
  const id = `edit-${message.id}`;
  const area = h('textarea', { id, rows: 2, maxlength: 4000 });
  area.value = message.content;
  const form = h('form', { class: 'edit-form' },
    h('label', { for: id }, 'New text'),
    area,
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Save'),
      h('button', { type: 'button', onclick: () => form.replaceWith(text) }, 'Cancel')));
  const text = item.querySelector('.text');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const saved = await api.patch(`/rooms/${message.roomId}/messages/${message.id}`, { content: area.value });
      form.remove();
      applyMessage(message.roomId, saved, false);
      renderMessage(logFor(message.roomId).byId.get(message.id));
    } catch (error) {
      toast(error.detail);
      // 409: a later change won; show what is stored now.
      if (error.status === 409) catchUp(message.roomId);
    }
  });
  area.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      form.replaceWith(text);
      item.querySelector('.message-actions button')?.focus();
    }
  });
  text.replaceWith(form);
  area.focus();
}

async function deleteMessage(message) {
  if (!confirm('Delete this message?')) return;
  try {
    const tombstone = await api.delete(`/rooms/${message.roomId}/messages/${message.id}`);
    applyMessage(message.roomId, tombstone, false);
  } catch (error) {
    toast(error.detail);
    if (error.status === 409) catchUp(message.roomId);
  }
}

// ---------------------------------------------------------------- sending

function sendFromComposer(event) {
  event.preventDefault();
  const room = state.room;
  const input = $('composer-input');
  const file = $('composer-file');
  const content = input.value.trim();
  const fileUrl = file.value.trim();
  if (!room || (!content && !fileUrl)) return;
  const pending = { nonce: nonce(), roomId: room.id, content, fileUrl: fileUrl || null, status: 'sending', error: '' };
  const queue = state.outbox.get(room.id) ?? [];
  queue.push(pending);
  state.outbox.set(room.id, queue);
  input.value = '';
  file.value = '';
  renderPending(pending);
  scrollToEnd();
  // One send at a time per room, so messages keep the order they were typed in.
  const previous = sendChains.get(room.id) ?? Promise.resolve();
  sendChains.set(room.id, previous.then(() => attemptSend(pending)));
}

const sendChains = new Map(); // roomId → the last send's promise

async function attemptSend(pending) {
  pending.status = 'sending';
  renderPending(pending);
  const body = { content: pending.content, nonce: pending.nonce };
  if (pending.fileUrl) body.fileUrl = pending.fileUrl;
  // A repeat must say so: the server then checks both stores for the first.
  if (pending.attempts) body.retry = true;
  pending.attempts = (pending.attempts ?? 0) + 1;
  try {
    const { data, source } = await api.call('POST', `/rooms/${pending.roomId}/messages`, body);
    dropPending(pending);
    if (source) logFor(pending.roomId).writeSource = source;
    applyMessage(pending.roomId, data, false);
    if (state.room?.id === pending.roomId) renderSourceBadge();
  } catch (error) {
    if (error.status === 401) return;
    pending.status = 'failed';
    pending.error = error.detail || String(error);
    renderPending(pending);
  }
}

/** The live event of our own send may beat its HTTP answer: show it once. */
function settleOutbox(roomId, message) {
  if (message.author?.id !== state.me.id) return;
  const queue = state.outbox.get(roomId) ?? [];
  const match = queue.find((p) => p.status === 'sending' && p.content === message.content && p.fileUrl === message.fileUrl);
  if (match) dropPending(match);
}

function dropPending(pending) {
  const queue = state.outbox.get(pending.roomId) ?? [];
  const index = queue.indexOf(pending);
  if (index >= 0) queue.splice(index, 1);
  document.querySelector(`#outbox li[data-nonce="${CSS.escape(pending.nonce)}"]`)?.remove();
}

function renderPending(pending) {
  if (state.room?.id !== pending.roomId) return;
  const outbox = $('outbox');
  const item = pendingItem(pending);
  const existing = outbox.querySelector(`li[data-nonce="${CSS.escape(pending.nonce)}"]`);
  if (existing) existing.replaceWith(item);
  else outbox.append(item);
  if (pending.status === 'failed') item.querySelector('button')?.focus();
}

function pendingItem(pending) {
  const failed = pending.status === 'failed';
  return h('li', { class: `message pending ${pending.status}`, dataset: { nonce: pending.nonce, status: pending.status } },
    h('div', { class: 'meta' },
      h('span', { class: 'author', text: state.me.name }),
      h('span', { class: 'state', text: failed ? `Not sent: ${pending.error}` : 'Sending…' })),
    h('p', { class: 'text', text: pending.content }),
    pending.fileUrl ? h('span', { class: 'file', text: pending.fileUrl }) : null,
    failed
      ? h('div', { class: 'message-actions' },
        h('button', { type: 'button', onclick: () => attemptSend(pending) }, 'Retry'),
        h('button', { type: 'button', onclick: () => dropPending(pending) }, 'Discard'))
      : null);
}

// ---------------------------------------------------------------- dialogs

/**
 * A modal form in the one <dialog>. fields: {name, label, type?: 'text'|'radio'|
 * 'checkbox', options?: [{id, name}], required?, maxlength?, value?}.
 * onSubmit(values) may throw: its message is shown and the dialog stays open;
 * returning false keeps it open too.
 */
function openDialog({ title, fields = [], body = [], submitLabel, onSubmit, onOpen }) {
  const dialog = $('dialog');
  const error = h('p', { class: 'notice', role: 'alert' });
  const inputs = fields.map((field) => fieldInput(field));
  const submit = h('button', { type: 'submit', class: 'primary' }, submitLabel);
  const form = h('form', { method: 'dialog' },
    h('h2', { id: 'dialog-title', text: title }),
    ...body,
    ...inputs.map((i) => i.node),
    error,
    h('div', { class: 'actions' },
      submit,
      h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(inputs.map((i) => [i.name, i.value()]));
    const missing = fields.find((f) => f.required && (!values[f.name] || !String(values[f.name]).trim()));
    if (missing) {
      error.textContent = `${missing.label}: please fill this in.`;
      return;
    }
    submit.disabled = true;
    try {
      if ((await onSubmit(values)) !== false) dialog.close();
    } catch (problem) {
      error.textContent = problem.detail || problem.message || String(problem);
    } finally {
      submit.disabled = false;
    }
  });
  const opener = document.activeElement;
  dialog.onclose = () => opener?.focus?.();
  clear(dialog).append(form);
  dialog.showModal();
  (onOpen ?? (() => form.querySelector('input, textarea')?.focus()))();
}

let fieldCount = 0;
function fieldInput(field) {
  fieldCount += 1;
  const id = `field-${fieldCount}`;
  if (field.type === 'radio' || field.type === 'checkbox') {
    const options = field.options.map((option, index) => {
      const optionId = `${id}-${index}`;
      const input = h('input', { type: field.type, id: optionId, name: id, value: option.id });
      return { input, node: h('li', {}, input, h('label', { for: optionId, text: option.name })) };
    });
    return {
      name: field.name,
      node: h('fieldset', {}, h('legend', { text: field.label }), h('ul', { class: 'choices' }, options.map((o) => o.node))),
      value: () => {
        const chosen = options.filter((o) => o.input.checked).map((o) => o.input.value);
        return field.type === 'radio' ? (chosen[0] ?? '') : chosen;
      },
    };
  }
  const input = h('input', { id, name: field.name, maxlength: field.maxlength, autocomplete: 'off' });
  input.value = field.value ?? '';
  return {
    name: field.name,
    node: h('div', { class: 'field' }, h('label', { for: id, text: field.label }), input),
    value: () => input.value,
  };
}

// ---------------------------------------------------------------- layout

function closeNav() {
  document.body.classList.remove('nav-open');
  $('menu').setAttribute('aria-expanded', 'false');
}

function toggleNav() {
  const open = document.body.classList.toggle('nav-open');
  $('menu').setAttribute('aria-expanded', String(open));
  if (open) document.querySelector('#nav button')?.focus();
}

function wire() {
  $('auth-form').addEventListener('submit', submitAuth);
  $('auth-switch').addEventListener('click', () => setAuthMode(!registering));
  $('logout').addEventListener('click', () => signOut('You are logged out.'));
  $('new-server').addEventListener('click', askCreateServer);
  $('join-server').addEventListener('click', askJoin);
  $('new-dm').addEventListener('click', () => askNewDm().catch((e) => toast(e.detail ?? String(e))));
  $('new-group').addEventListener('click', () => askNewGroup().catch((e) => toast(e.detail ?? String(e))));
  $('menu').addEventListener('click', toggleNav);
  $('composer').addEventListener('submit', sendFromComposer);
  $('composer-input').addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $('composer').requestSubmit();
    }
  });
  $('load-older').addEventListener('click', loadOlder);
  $('scroller').addEventListener('scroll', () => {
    if ($('scroller').scrollTop < 60) loadOlder();
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && document.body.classList.contains('nav-open')) {
      closeNav();
      $('menu').focus();
    }
  });
  window.addEventListener('hashchange', () => openFromHash());
  window.addEventListener('focus', () => {
    if (state.me) loadRooms().catch(() => {});
  });
}

wire();
setAuthMode(false);
if (api.token) {
  start().catch((error) => {
    if (error.status === 401) signOut('Your session has expired. Please log in again.');
    else showAuth(error.detail ?? String(error));
  });
} else {
  showAuth();
}
