// The REST API, called with the signed-in key. Errors become ApiError with the
// server's {"error": {"type", "code", "message", "param"}} body.

const KEY_ITEM = "parley.apiKey";

/** The key of this tab (sessionStorage only: gone when the tab closes). */
export function getKey() {
  return sessionStorage.getItem(KEY_ITEM);
}

export function setKey(key) {
  sessionStorage.setItem(KEY_ITEM, key);
}

export function clearKey() {
  sessionStorage.removeItem(KEY_ITEM);
}

/** An error answered by the API (or a failure to reach it: status 0). */
export class ApiError extends Error {
  constructor(status, detail) {
    super(detail.message);
    this.name = "ApiError";
    this.status = status;
    this.code = detail.code;
    this.type = detail.type ?? detail.code;
    this.param = detail.param ?? null;
    this.retryAfter = detail.retryAfter ?? null;
  }
}

const listeners = new Set();

/** Called with the ApiError whenever a signed-in request gets 401 (key revoked). */
export function onUnauthorized(listener) {
  listeners.add(listener);
}

function queryString(query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== null && value !== undefined && value !== "") params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

async function errorOf(response) {
  let detail = null;
  try {
    const body = await response.json();
    detail = body && typeof body.error === "object" ? body.error : null;
  } catch {
    detail = null;
  }
  detail ??= {
    code: "http_error",
    message: `The server answered ${response.status} ${response.statusText}`.trim(),
  };
  const retry = response.headers.get("Retry-After");
  return new ApiError(response.status, retry ? { ...detail, retryAfter: Number(retry) } : detail);
}

/**
 * Call the API. `body` is sent as JSON; `key` overrides the stored key (sign-in);
 * `raw: true` returns the Response (for WAV files). 204 gives null.
 */
export async function api(method, path, { body, query, key, raw = false, signal } = {}) {
  const useKey = key ?? getKey();
  const headers = { Accept: "application/json" };
  if (useKey) headers.Authorization = `Bearer ${useKey}`;
  // a FormData body (a file upload) is sent as multipart; anything else as JSON
  const form = body instanceof FormData;
  if (body !== undefined && !form) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path + queryString(query), {
      method,
      headers,
      body: body === undefined ? undefined : form ? body : JSON.stringify(body),
      signal,
      cache: "no-store",
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, {
      code: "network_error",
      message: "Cannot reach the Parley server. Check that it is running and try again.",
    });
  }
  if (!response.ok) {
    const error = await errorOf(response);
    if (error.status === 401 && key === undefined) for (const listener of listeners) listener(error);
    throw error;
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

/** A human sentence for an error, e.g. for an alert box. */
export function describeError(error) {
  if (error instanceof ApiError) {
    const wait = error.retryAfter ? ` Try again in ${Math.ceil(error.retryAfter)} s.` : "";
    return `${error.message}${wait}`;
  }
  return error?.message || String(error);
}

/** The error's code in words, shown under the message. */
export function errorCode(error) {
  if (!(error instanceof ApiError)) return "";
  const status = error.status ? `HTTP ${error.status} · ` : "";
  return `${status}${error.code}${error.param ? ` · ${error.param}` : ""}`;
}

/** A WAV (or other binary) response as an object URL; the caller revokes it. */
export async function blobUrl(path, options = {}) {
  const response = await api("GET", path, { ...options, raw: true });
  const blob = await response.blob();
  return URL.createObjectURL(blob);
}
