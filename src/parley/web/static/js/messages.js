// One room's messages as the client knows them, keyed by id. Events and REST pages
// may repeat or overlap (at-least-once delivery, catch-up after reconnects), so
// merging is idempotent: a tombstone replaces a message, otherwise the newest
// updatedAt wins. Ids are UUIDv7 strings, so string order is time order.

export class RoomLog {
  constructor(roomId) {
    this.roomId = roomId;
    this.byId = new Map();
    this.loaded = false; // the newest page has been read once
    this.olderCursor = null; // `before` for the next older page; null when none
    this.lastId = null; // the newest id seen: where catch-up pages forward from
    this.readSource = null; // X-Data-Source of the last read
    this.writeSource = null; // X-Data-Source of our last write
  }

  /** Returns true when the message changed what is shown. */
  merge(message) {
    const known = this.byId.get(message.id);
    if (known) {
      if (known.deleted && !message.deleted) return false;
      if (!message.deleted || known.deleted) {
        const age = Date.parse(message.updatedAt) - Date.parse(known.updatedAt);
        if (age < 0) return false;
        if (age === 0 && known.content === message.content && known.deleted === message.deleted) {
          return false;
        }
      }
    }
    this.byId.set(message.id, message);
    if (this.lastId === null || message.id > this.lastId) this.lastId = message.id;
    return true;
  }

  sorted() {
    return [...this.byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
}

/** "mongodb,postgresql" → "MongoDB + PostgreSQL". */
export function storeLabel(source) {
  const names = { mongodb: 'MongoDB', postgresql: 'PostgreSQL' };
  return String(source)
    .split(',')
    .map((s) => names[s.trim()] ?? s.trim())
    .join(' + ');
}
