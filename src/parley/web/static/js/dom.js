// Building DOM nodes without HTML strings: every piece of text goes in as a text
// node (textContent), so nothing a user typed can ever become markup.

/**
 * h('button', {class: 'x', onclick: fn, 'aria-label': 'Close'}, 'text', childNode)
 * Props: `class`, `text`, `dataset`, `on<event>`, DOM properties given as
 * non-strings (`hidden: true`, `checked: false`), everything else an attribute.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (typeof value !== 'string' && key in el) el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export const $ = (id) => document.getElementById(id);

export function clear(el) {
  el.replaceChildren();
  return el;
}

/** A short-lived message for everyone, screen readers included. */
let toastTimer;
export function toast(text) {
  const el = $('toast');
  el.textContent = text;
  el.classList.add('shown');
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => el.classList.remove('shown'), 5000);
}

export function initials(name) {
  const words = String(name).trim().split(/\s+/).filter(Boolean);
  return (words.length > 1 ? words[0][0] + words[1][0] : (words[0] || '?').slice(0, 2)).toUpperCase();
}

export function timeLabel(iso) {
  const when = new Date(iso);
  const today = new Date().toDateString() === when.toDateString();
  return today
    ? when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : when.toLocaleString([], { dateStyle: 'short', timeStyle: 'short' });
}

/** A nonce for idempotent sends; crypto.randomUUID needs a secure context. */
export function nonce() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}
