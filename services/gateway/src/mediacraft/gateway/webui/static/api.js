// The gateway's JSON API. Every answer is an envelope {success, code, message, error_code, data, meta}
// where code is the HTTP status; failures become ApiError with the envelope's stable error_code
// (what translations key on, as err.<error_code>) and its message for a person. The identity
// cookie is HttpOnly: the browser sends it on these same-origin requests, this code never sees it.

import { has, requestLanguage, t } from "./i18n.js";

export class ApiError extends Error {
  // code: the envelope's error_code, or this client's own ("network", "bad_response", "aborted")
  constructor(code, message, { status = 0, data = null, retryAfter = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
    this.data = data;
    this.retryAfter = retryAfter;
  }
}

/** What to tell the person about an error: [headline, detail or ""], in the current language. */
export function describeError(err) {
  if (!(err instanceof ApiError)) return [t("err.internal_error"), ""];
  const key = `err.${err.code}`;
  if (!has(key)) return [err.message || t("err.internal_error"), ""];
  const headline = t(key);
  // the server's sentence is specific (which region, which limit); keep it as the detail
  const detail = err.message && err.message !== headline ? err.message : "";
  return [headline, err.code === "network" || err.code === "bad_response" ? "" : detail];
}

function envelopeOf(status, text, retryAfter) {
  let env = null;
  try {
    env = JSON.parse(text);
  } catch {
    env = null;
  }
  if (!env || typeof env !== "object" || typeof env.success !== "boolean" || env.code !== status) {
    throw new ApiError("bad_response", t("err.bad_response"), { status });
  }
  if (!env.success) {
    throw new ApiError(env.error_code || "error", env.message || "", { status, data: env.data, retryAfter });
  }
  return env;
}

/** The headers every API request carries: JSON, and the page's language for the server's sentences. */
function baseHeaders() {
  const language = requestLanguage();
  return language ? { Accept: "application/json", "Accept-Language": language } : { Accept: "application/json" };
}

/** Call the API; resolves to the envelope ({code, data, meta, ...}) or throws ApiError. */
export async function api(method, path, body, { headers = {}, keepalive = false } = {}) {
  const init = {
    method,
    credentials: "same-origin",
    headers: { ...baseHeaders(), ...headers },
    keepalive,
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError("network", t("err.network"));
  }
  const text = await response.text().catch(() => "");
  return envelopeOf(response.status, text, response.headers.get("Retry-After"));
}

/** POST files as multipart (field `file`, repeated in order), reporting upload progress. */
export function uploadFiles(path, files, onProgress = () => {}) {
  const form = new FormData();
  for (const file of files) form.append("file", file, file.name);
  return new Promise((resolve, reject) => {
    // XMLHttpRequest, not fetch: only it reports upload progress
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.withCredentials = true;
    for (const [name, value] of Object.entries(baseHeaders())) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    });
    xhr.addEventListener("load", () => {
      try {
        resolve(envelopeOf(xhr.status, xhr.responseText, xhr.getResponseHeader("Retry-After")));
      } catch (err) {
        reject(err);
      }
    });
    xhr.addEventListener("error", () => reject(new ApiError("network", t("err.network"))));
    xhr.addEventListener("abort", () => reject(new ApiError("aborted", "")));
    xhr.send(form);
  });
}

/** A fresh Idempotency-Key (crypto.randomUUID exists only on secure origins). */
export function newKey() {
  if (window.crypto?.randomUUID) return window.crypto.randomUUID();
  const bytes = window.crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
