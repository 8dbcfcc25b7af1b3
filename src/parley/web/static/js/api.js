// The public HTTP API under /api, and nothing else. Keeps the token for this tab
// (sessionStorage) and reports a 401 on an authenticated call as an expired session.

const TOKEN_KEY = 'parley.token';

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

export class Api {
  constructor() {
    this.token = sessionStorage.getItem(TOKEN_KEY);
    this.onUnauthorized = () => {};
  }

  setToken(token) {
    this.token = token;
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  }

  /** → {data, status, source}; `source` is the X-Data-Source header (DMs only). */
  async call(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const authenticated = Boolean(this.token) && !path.startsWith('/auth/');
    if (authenticated) headers.Authorization = `Bearer ${this.token}`;
    let response;
    try {
      response = await fetch(`/api${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch {
      throw new ApiError(0, 'NetworkError', 'Parley cannot be reached right now.');
    }
    const source = response.headers.get('X-Data-Source');
    let data = null;
    if (response.status !== 204) {
      try {
        data = await response.json();
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      if (response.status === 401 && authenticated) this.onUnauthorized();
      throw new ApiError(
        response.status,
        data?.error ?? 'HttpError',
        data?.detail ?? `The request failed (${response.status}).`,
      );
    }
    return { data, status: response.status, source };
  }

  async get(path) {
    return (await this.call('GET', path)).data;
  }

  async post(path, body = {}) {
    return (await this.call('POST', path, body)).data;
  }

  async patch(path, body) {
    return (await this.call('PATCH', path, body)).data;
  }

  async delete(path) {
    return (await this.call('DELETE', path)).data;
  }
}
