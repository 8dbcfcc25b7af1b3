// The one WebSocket (/api/ws, docs/REALTIME.md). It authenticates with a first
// frame, (re)subscribes to every room the tab has open, answers pings, notices a
// dead connection with its own pings, and reconnects with capped exponential
// backoff and jitter. After every `subscribed` and `resync` the app catches up
// over REST, which is what makes a reconnect lose nothing.

const MIN_DELAY = 250;
const MAX_DELAY = 8000;
const PING_EVERY = 15000;
const PONG_WITHIN = 10000;

export class Live {
  /**
   * handlers: onState(state), onSubscribed(roomId), onResync(roomId),
   * onMessage(frame), onEnded(roomId, reason), onUnauthorized()
   */
  constructor(token, handlers) {
    this.token = token;
    this.handlers = handlers;
    this.rooms = new Set();
    this.ws = null;
    this.ready = false;
    this.stopped = false;
    this.attempt = 0;
    this.timer = null;
    this.heartbeat = null;
    this.lastFrameAt = 0;
    this.onOnline = () => this.reconnectNow();
    window.addEventListener('online', this.onOnline);
  }

  start() {
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onOnline);
    clearTimeout(this.timer);
    clearInterval(this.heartbeat);
    if (this.ws) this.ws.close(1000);
  }

  subscribe(roomId) {
    if (this.rooms.has(roomId)) return;
    this.rooms.add(roomId);
    if (this.ready) this.send({ op: 'subscribe', roomId });
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  setState(state) {
    this.state = state;
    this.handlers.onState(state);
  }

  connect() {
    if (this.stopped) return;
    this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/api/ws`);
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify({ op: 'auth', token: this.token }));
    ws.onmessage = (event) => {
      this.lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.handle(frame);
    };
    ws.onclose = (event) => {
      if (ws !== this.ws) return;
      this.ready = false;
      clearInterval(this.heartbeat);
      if (this.stopped) return;
      if (event.code === 4001) {
        this.handlers.onUnauthorized();
        return;
      }
      this.scheduleReconnect();
    };
  }

  scheduleReconnect() {
    const ceiling = Math.min(MAX_DELAY, MIN_DELAY * 2 ** this.attempt);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.attempt += 1;
    this.setState('reconnecting');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (this.stopped || this.ready) return;
    clearTimeout(this.timer);
    this.connect();
  }

  handle(frame) {
    switch (frame.type) {
      case 'authenticated':
        this.ready = true;
        this.attempt = 0;
        this.setState('live');
        for (const roomId of this.rooms) this.send({ op: 'subscribe', roomId });
        this.startHeartbeat();
        break;
      case 'subscribed':
        this.handlers.onSubscribed(frame.roomId);
        break;
      case 'resync':
        this.handlers.onResync(frame.roomId);
        break;
      case 'message.created':
      case 'message.updated':
      case 'message.deleted':
        this.handlers.onMessage(frame);
        break;
      case 'subscription.ended':
        this.rooms.delete(frame.roomId);
        this.handlers.onEnded(frame.roomId, frame.reason);
        break;
      case 'ping':
        this.send({ op: 'pong' });
        break;
      case 'error':
        if (frame.roomId && frame.error === 'NotFound') {
          this.rooms.delete(frame.roomId);
          this.handlers.onEnded(frame.roomId, 'access_lost');
        } else if (frame.roomId && frame.error === 'StorageUnavailable') {
          // Access could not be checked (PostgreSQL down): ask again shortly.
          setTimeout(() => {
            if (this.ready && this.rooms.has(frame.roomId)) {
              this.send({ op: 'subscribe', roomId: frame.roomId });
            }
          }, 2000);
        }
        break;
      default:
        break;
    }
  }

  startHeartbeat() {
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => {
      if (!this.ready) return;
      const quietFor = Date.now() - this.lastFrameAt;
      if (quietFor > PING_EVERY + PONG_WITHIN) this.ws.close(4000, 'no answer to ping');
      else if (quietFor > PING_EVERY) this.send({ op: 'ping' });
    }, PONG_WITHIN / 2);
  }
}
