// The task list: every submitted task of this browser's identity, newest first, kept current by
// the live stream. Each task has one card whose parts are updated in place, so a button never
// disappears under the pointer and keyboard focus survives updates.

import { api, describeError } from "./api.js";
import { bytes, clock, duration, secondsUntil } from "./format.js";
import { has, onLangChange, serverText, t } from "./i18n.js";
import { askAfterSubmit, notifyWhenHidden } from "./notify.js";
import { toast } from "./toast.js";

const PAGE_SIZE = 30;
const ACTIVE = new Set(["queued", "processing", "retrying", "cancelling"]);
const TERMINAL = new Set(["completed", "failed", "cancelled", "expired"]);
const CANCELLABLE = new Set(["queued", "processing", "retrying"]);
const RETRYABLE = new Set(["failed", "cancelled"]);
const NOTIFY_DELAY_MS = 800;
const UNDO_MS = 10000; // how long "Cleared … · Undo" stays
const ANNOUNCE_BY_NAME = 3; // tasks named in the "while you were away" toast; the rest are counted

const tasks = new Map(); // task_id -> the latest public view
const cards = new Map(); // task_id -> TaskCard
const etaAt = new Map(); // task_id -> epoch ms when the reported ETA runs out
const refreshing = new Set();
const toNotify = new Set();
const finishedHere = new Set(); // finished while this page watched: never "while you were away"
let notifyTimer = 0;
let nextCursor = null;
let listEl;
let emptyEl;
let moreEl;
let queueEl;
let loadedOnce = false;
let offlineSince = null; // epoch ms when the page lost its connection; null while connected

/** The page's connection came or went: while it is gone, remaining times stop counting down (the
 * page cannot know how far the task got) and say that they wait for the connection. */
export function setOnline(online) {
  if (!online && offlineSince === null) offlineSince = Date.now();
  if (online && offlineSince !== null) {
    const away = Date.now() - offlineSince;
    for (const [id, until] of etaAt) etaAt.set(id, until + away); // resume where it stopped
    offlineSince = null;
  }
  for (const [id, card] of cards) {
    const view = tasks.get(id);
    if (view) card.tick(view);
  }
}

/** Whether the queue holds this task: submitted (drafts belong to the forms) and not hidden. */
function shown(view) {
  return Boolean(view.submitted_at) && !view.hidden;
}

let statusFilter = ""; // "" (every status), "active", or one finished status

/** Whether the chosen status filter lets this task be displayed. */
function passes(view) {
  if (!statusFilter) return true;
  return statusFilter === "active" ? ACTIVE.has(view.status) : view.status === statusFilter;
}

/** The list's query: the statuses it may show (the API's ?status=). */
function listQuery() {
  return statusFilter || "active,terminal";
}

/** A short name for the task: its file(s), or its prompt. */
export function taskName(view) {
  const names = (view.inputs || []).map((i) => i.original_name).filter(Boolean);
  if (names.length) return names.join(view.task_type === "video_merge" ? " → " : ", ");
  const prompt = view.config?.prompt;
  if (prompt) return prompt.length > 60 ? `${prompt.slice(0, 57)}…` : prompt;
  return view.display_name || view.original_filename || t(`type.${view.task_type}`);
}

/** The settings of a generation, or what the result is once there is one. */
function detailOf(view) {
  const result = view.result;
  if (view.status === "completed" && result) {
    const bits = [];
    if (result.media?.width && result.media?.height) bits.push(`${result.media.width} × ${result.media.height}`);
    if (result.media?.duration) bits.push(duration(result.media.duration));
    if (result.size) bits.push(bytes(result.size));
    return bits.length ? t("task.result", { detail: bits.join(" · ") }) : "";
  }
  const cfg = view.config || {};
  return cfg.width && cfg.height ? t("task.gen_detail", { w: cfg.width, h: cfg.height }) : "";
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

class TaskCard {
  constructor(id) {
    this.id = id;
    this.root = el("li", "task");
    this.root.dataset.taskId = id;
    const head = el("div", "task-head");
    this.type = el("span", "task-type");
    this.status = el("span", "badge task-status");
    this.time = el("time", "task-time");
    head.append(this.type, this.status, this.time);
    this.inputs = el("p", "task-inputs");
    this.detail = el("p", "task-detail muted");

    this.progress = el("div", "task-progress");
    this.bar = el("div", "bar");
    this.bar.setAttribute("role", "progressbar");
    this.bar.setAttribute("aria-valuemin", "0");
    this.bar.setAttribute("aria-valuemax", "100");
    this.fill = el("div", "fill");
    this.bar.append(this.fill);
    this.progressText = el("span", "progress-text");
    this.progress.append(this.bar, this.progressText);

    this.waiting = el("p", "task-waiting");
    this.position = el("span", "task-position");
    this.waitMessage = el("span", "task-message");
    this.waiting.append(this.position, this.waitMessage);
    this.retry = el("p", "task-retry");
    this.retryCount = el("span", "task-retry-count");
    this.nextRetry = el("span", "task-next-retry");
    this.retry.append(this.retryCount, this.nextRetry);
    this.error = el("p", "task-error");
    this.expired = el("p", "task-expired");

    this.actions = el("div", "task-actions");
    this.download = el("a", "button primary task-download");
    this.download.setAttribute("download", "");
    this.download.addEventListener("click", (event) => checkDownload(event, this.id, this.download));
    this.cancel = el("button", "button task-cancel");
    this.retryButton = el("button", "button task-retry-button");
    this.hide = el("button", "button ghost task-hide");
    for (const b of [this.cancel, this.retryButton, this.hide]) b.type = "button";
    this.actions.append(this.download, this.cancel, this.retryButton, this.hide);
    this.cancel.addEventListener("click", () => act(this.id, "cancel", this.cancel));
    this.retryButton.addEventListener("click", () => act(this.id, "retry", this.retryButton));
    this.hide.addEventListener("click", () => act(this.id, "hide", this.hide));

    this.root.append(head, this.inputs, this.detail, this.progress, this.waiting, this.retry, this.error,
      this.expired, this.actions);
  }

  update(view) {
    const status = view.status;
    const name = taskName(view);
    this.root.dataset.status = status;
    this.root.dataset.taskType = view.task_type;
    this.type.textContent = t(`type.${view.task_type}`);
    this.status.textContent = t(`status.${status}`);
    this.status.dataset.status = status;
    this.time.dateTime = view.submitted_at || view.created_at;
    this.time.textContent = clock(view.submitted_at || view.created_at);
    this.inputs.textContent = name;
    this.inputs.title = name;
    const detail = detailOf(view);
    this.detail.textContent = detail;
    this.detail.hidden = !detail;

    const running = status === "processing" || status === "cancelling";
    this.progress.hidden = !running;
    if (running) this.renderProgress(view);

    const waiting = status === "queued";
    this.waiting.hidden = !waiting;
    if (waiting) {
      this.position.textContent = view.queue_position ? t("task.position", { n: view.queue_position }) : "";
      this.position.hidden = !view.queue_position;
      this.waitMessage.textContent = serverText(view.message) || t("err.queued");
    }

    const retries = view.retry_count || 0;
    this.retry.hidden = !(status === "retrying" || (retries > 0 && !TERMINAL.has(status)));
    this.retryCount.textContent = t("task.retries", { n: retries, max: view.max_retries ?? 0 });
    this.nextRetry.hidden = !(status === "retrying" && view.next_retry_at);
    this.renderNextRetry(view);

    const errorText = serverText(view.error?.message || view.error_message || "");
    const showError = status === "failed" || (status === "retrying" && errorText);
    this.error.hidden = !showError;
    this.error.textContent = status === "failed" ? errorText || t("task.failed_default") : errorText;

    this.expired.hidden = status !== "expired";
    this.expired.textContent = t("task.expired_note");

    const canDownload = status === "completed" && Boolean(view.download_url);
    this.download.hidden = !canDownload;
    if (canDownload) this.download.href = view.download_url;
    else this.download.removeAttribute("href");
    this.download.textContent = t("action.download");
    this.download.setAttribute("aria-label", t("action.task_label", { action: t("action.download"), name }));
    this.setButton(this.cancel, CANCELLABLE.has(status), "action.cancel", name);
    this.setButton(this.retryButton, RETRYABLE.has(status), "action.retry", name);
    this.setButton(this.hide, TERMINAL.has(status), "action.hide", name);
  }

  setButton(button, visible, key, name) {
    button.hidden = !visible;
    button.textContent = t(key);
    button.setAttribute("aria-label", t("action.task_label", { action: t(key), name }));
  }

  renderProgress(view) {
    const percent = Math.max(0, Math.min(100, Math.floor(view.progress || 0)));
    this.fill.style.width = `${percent}%`;
    this.bar.setAttribute("aria-valuenow", String(percent));
    this.bar.setAttribute("aria-label", t("task.progress_label", { percent }));
    const parts = [`${percent}%`];
    // the status badge already says "processing": only the other stages add words
    if (view.stage && view.stage !== "process" && has(`stage.${view.stage}`)) parts.push(t(`stage.${view.stage}`));
    const until = etaAt.get(view.task_id);
    if (until !== undefined && view.status === "processing") {
      if (offlineSince !== null) {
        parts.push(t("task.eta_offline"));
      } else {
        const left = Math.max(0, (until - Date.now()) / 1000);
        if (left >= 1) parts.push(t("task.eta", { time: duration(left) }));
      }
    }
    this.progressText.textContent = parts.join(" · ");
  }

  renderNextRetry(view) {
    if (view.status !== "retrying" || !view.next_retry_at) return;
    const left = secondsUntil(view.next_retry_at);
    // a wait that would read "in 0 s" is due: it says so
    this.nextRetry.textContent = left < 0.5
      ? t("task.next_retry_now")
      : t("task.next_retry", { time: clock(view.next_retry_at), rel: t("time.in", { time: duration(left) }) });
  }

  /** Refresh what depends on the clock: time remaining and the retry countdown. */
  tick(view) {
    if (view.status === "processing") this.renderProgress(view);
    if (view.status === "retrying") this.renderNextRetry(view);
  }
}

/**
 * Before the browser saves the file, ask (HEAD) whether it is still there: an expired result
 * would otherwise be saved as a small error document instead of a message on the page.
 */
async function checkDownload(event, taskId, link) {
  if (link.dataset.checked === "true") return; // checked just now: let the browser download
  event.preventDefault();
  let status = 0;
  try {
    status = (await fetch(link.href, { method: "HEAD", credentials: "same-origin" })).status;
  } catch {
    toast(t("err.network"), { kind: "error" });
    return;
  }
  if (status >= 200 && status < 400) {
    link.dataset.checked = "true";
    link.click();
    delete link.dataset.checked;
    return;
  }
  toast(t(status === 410 ? "err.expired" : status === 404 ? "err.not_found" : "err.internal_error"), { kind: "error" });
  refreshTask(taskId);
}

function noteEta(view) {
  if (view.eta_seconds != null && view.status === "processing") {
    etaAt.set(view.task_id, Date.now() + view.eta_seconds * 1000);
  } else if (view.status !== "processing") {
    etaAt.delete(view.task_id);
  }
}

/** Put a card where the newest-first order wants it. */
function place(card, view) {
  const key = view.created_at || "";
  for (const other of listEl.children) {
    const otherView = tasks.get(other.dataset.taskId);
    if (other !== card.root && otherView && (otherView.created_at || "") < key) {
      if (card.root.nextSibling !== other) listEl.insertBefore(card.root, other);
      return;
    }
  }
  if (card.root.parentNode !== listEl || card.root.nextSibling !== null) listEl.append(card.root);
}

function render(view) {
  let card = cards.get(view.task_id);
  if (!shown(view) || !passes(view)) {
    if (card) {
      card.root.remove();
      cards.delete(view.task_id);
    }
    return;
  }
  if (!card) {
    card = new TaskCard(view.task_id);
    cards.set(view.task_id, card);
    card.update(view);
    place(card, view);
  } else {
    card.update(view);
  }
}

function refreshChrome() {
  if (!listEl) return;
  emptyEl.hidden = !loadedOnce || cards.size > 0;
  emptyEl.textContent = t(statusFilter ? "queue.empty_filtered" : "queue.empty");
  moreEl.hidden = !nextCursor;
  let active = 0;
  for (const view of tasks.values()) if (shown(view) && ACTIVE.has(view.status)) active += 1;
  const badge = document.getElementById("active-count");
  badge.textContent = String(active);
  badge.hidden = active === 0;
  const clear = document.getElementById("clear-finished");
  clear.disabled = ![...tasks.values()].some((v) => shown(v) && TERMINAL.has(v.status));
  clear.title = t("action.clear_finished_hint");
}

/**
 * Take a task's public view; an older version than the one shown is ignored, and progress never
 * moves backwards within one status (events from different paths may arrive out of order).
 */
export function upsert(view, { live = false, unhide = false } = {}) {
  if (!view || !view.task_id) return;
  const old = tasks.get(view.task_id);
  if (old && view.version < old.version) return;
  // Hiding does not change a task's version: an answer that was on its way before a hide (a list,
  // the away check) must not show the task again; only showing it again does.
  if (old && old.hidden && !view.hidden && view.version === old.version && !unhide) view = { ...view, hidden: true };
  if (old && old.status === view.status && (old.progress || 0) > (view.progress || 0)) {
    view = { ...view, progress: old.progress };
  }
  tasks.set(view.task_id, view);
  noteEta(view);
  render(view);
  if (live && old && shown(view) && !TERMINAL.has(old.status) && TERMINAL.has(view.status)) finishedLive(view);
  refreshChrome();
}

function finishedLive(view) {
  // seen as it happened: not news on the next visit
  finishedHere.add(view.task_id);
  toNotify.add(view.task_id);
  window.clearTimeout(notifyTimer);
  notifyTimer = window.setTimeout(flushNotified, NOTIFY_DELAY_MS);
  if (view.status !== "cancelled") {
    const words = t("toast.done", { name: taskName(view), status: t(`status.${view.status}`) });
    toast(words, { kind: view.status === "completed" ? "success" : "error" });
    notifyWhenHidden(words, t(`type.${view.task_type}`), view.task_id);
  }
}

/** A form submitted a task: show it, and (the first time) offer notifications. */
export function submitted(view) {
  upsert(view);
  askAfterSubmit();
  document.dispatchEvent(new CustomEvent("task-submitted", { detail: view }));
}

async function flushNotified() {
  const ids = [...toNotify].slice(0, 100);
  if (!ids.length) return;
  for (const id of ids) toNotify.delete(id);
  try {
    await api("POST", "/api/tasks/notified", { task_ids: ids });
  } catch {
    // announced again next visit at worst
  }
  if (toNotify.size) flushNotified();
}

/** Apply a live progress event (progress, stage, ETA) to a known task. */
export function applyProgress(data) {
  const old = tasks.get(data.task_id);
  if (!old) {
    refreshTask(data.task_id);
    return;
  }
  if (data.version != null && data.version < old.version) return;
  const view = {
    ...old,
    progress: Math.max(old.progress || 0, data.progress || 0),
    stage: data.stage ?? old.stage,
    subtasks: data.subtasks ?? old.subtasks,
    eta_seconds: data.eta_seconds ?? old.eta_seconds,
    version: data.version ?? old.version,
  };
  tasks.set(view.task_id, view);
  noteEta(view);
  render(view);
}

/** Apply a live status event; one without the task's view is fetched. */
export function applyStatus(data) {
  if (data.task) upsert(data.task, { live: true });
  else refreshTask(data.task_id);
}

/** Fetch one task's current view (coalesced per task). */
export async function refreshTask(taskId) {
  if (refreshing.has(taskId)) return;
  refreshing.add(taskId);
  try {
    const env = await api("GET", `/api/tasks/${encodeURIComponent(taskId)}/status`);
    upsert(env.data, { live: true });
  } catch {
    // gone or not ours: nothing to show
  } finally {
    refreshing.delete(taskId);
  }
}

/** Load the first page (again): after start and after any reconnect that could not resume. */
export async function reloadList({ fresh = false } = {}) {
  try {
    const env = await api("GET", `/api/user/tasks?status=${listQuery()}&limit=${PAGE_SIZE}`);
    for (const view of env.data.tasks) upsert(view);
    if (!loadedOnce || fresh) nextCursor = env.data.next_cursor;
    loadedOnce = true;
    queueEl.dataset.loaded = "true";
    refreshChrome();
  } catch (err) {
    const [title, detail] = describeError(err);
    toast(title, { detail, kind: "error" });
  }
}

async function loadMore() {
  if (!nextCursor) return;
  moreEl.disabled = true;
  try {
    const query = `status=${listQuery()}&limit=${PAGE_SIZE}&cursor=${encodeURIComponent(nextCursor)}`;
    const env = await api("GET", `/api/user/tasks?${query}`);
    for (const view of env.data.tasks) upsert(view);
    nextCursor = env.data.next_cursor;
  } catch (err) {
    const [title, detail] = describeError(err);
    toast(title, { detail, kind: "error" });
  } finally {
    moreEl.disabled = false;
    refreshChrome();
  }
}

async function act(taskId, action, button) {
  button.disabled = true;
  try {
    const env = await api("POST", `/api/tasks/${encodeURIComponent(taskId)}/${action}`);
    if (action === "hide") {
      upsert({ ...tasks.get(taskId), ...env.data, hidden: true });
      loadHidden();
    } else {
      upsert(env.data);
      toast(t(action === "cancel" ? "toast.cancel_requested" : "toast.retry_requested"));
    }
  } catch (err) {
    const [title, detail] = describeError(err);
    toast(title, { detail, kind: "error" });
    refreshTask(taskId);
  } finally {
    button.disabled = false;
  }
}

/** When a finished task finished, as the server reckons it (its clock, not this browser's). */
function finishedAt(view) {
  return view.completed_at || view.updated_at || view.created_at || "";
}

/**
 * Hide the finished tasks (completed, failed, cancelled, expired) the list shows, and only those
 * that had finished when the person asked; the message offers to undo it.
 */
async function clearFinished(button) {
  const seen = [...tasks.values()].filter((v) => shown(v) && TERMINAL.has(v.status));
  if (!seen.length) return;
  const before = seen.map(finishedAt).sort().pop();
  button.disabled = true;
  try {
    const env = await api("POST", "/api/tasks/clear-finished", before ? { finished_before: before } : undefined);
    const ids = env.data.task_ids || [];
    for (const id of ids) {
      const view = tasks.get(id);
      if (view) upsert({ ...view, hidden: true });
    }
    toast(t(ids.length === 1 ? "toast.cleared_one" : "toast.cleared", { n: ids.length }), {
      kind: "success",
      timeout: UNDO_MS,
      action: { label: t("action.undo"), run: () => showAgain(ids) },
    });
    loadHidden();
  } catch (err) {
    const [title, detail] = describeError(err);
    toast(title, { detail, kind: "error" });
  } finally {
    refreshChrome();
  }
}

/** Put hidden tasks back in the list (an undone clear); a task cleanup expired meanwhile comes back as expired. */
export async function showAgain(ids) {
  try {
    for (let i = 0; i < ids.length; i += 100) {
      await api("POST", "/api/tasks/unhide", { task_ids: ids.slice(i, i + 100) });
    }
    for (const id of ids) {
      const view = tasks.get(id);
      if (view) upsert({ ...view, hidden: false }, { unhide: true });
    }
    toast(t("toast.shown_again", { n: ids.length }));
    await reloadList(); // their current state (one may have expired meanwhile)
    loadHidden();
  } catch (err) {
    const [title, detail] = describeError(err);
    toast(title, { detail, kind: "error" });
  }
}

/**
 * Announce, once, the tasks that finished while nobody was looking, then mark them announced.
 * Sets data-announced on the queue when the check is done, whatever it found.
 */
export async function announceFinishedWhileAway() {
  try {
    const env = await api("GET", "/api/user/tasks?filter=unnotified&limit=100");
    // a project's script is announced by the Create page, by its project's name (create.js)
    const finished = env.data.tasks.filter(
      (v) => v.submitted_at && !v.hidden && !finishedHere.has(v.task_id) && v.task_type !== "video_script",
    );
    if (finished.length) {
      const title = finished.length === 1 ? t("toast.away_one") : t("toast.away_many", { n: finished.length });
      const named = finished
        .slice(0, ANNOUNCE_BY_NAME)
        .map((v) => t("toast.done", { name: taskName(v), status: t(`status.${v.status}`) }));
      if (finished.length > named.length) named.push(t("toast.and_more", { n: finished.length - named.length }));
      const detail = named.join(t("toast.list_sep"));
      toast(title, { detail, kind: "success", timeout: 15000 });
      for (const view of finished) upsert(view);
    }
    const ids = env.data.tasks.map((v) => v.task_id);
    if (ids.length) await api("POST", "/api/tasks/notified", { task_ids: ids });
  } catch {
    // not worth bothering the person: the tasks are in the list either way
  } finally {
    queueEl.dataset.announced = "true";
  }
}

const HIDDEN_PAGE = 100;

/** List the hidden finished tasks (the latest ones), each with a button that shows it again. */
async function loadHidden() {
  const box = document.getElementById("hidden-tasks");
  const list = document.getElementById("hidden-list");
  const state = document.getElementById("hidden-state");
  if (!box.open) return;
  state.textContent = t("queue.loading");
  try {
    const env = await api("GET", `/api/user/tasks?status=terminal&include_hidden=true&limit=${HIDDEN_PAGE}`);
    const hidden = env.data.tasks.filter((v) => v.hidden && v.submitted_at);
    list.replaceChildren(...hidden.map(hiddenItem));
    state.textContent = hidden.length ? t("queue.hidden_note") : t("queue.hidden_none");
  } catch (err) {
    state.textContent = describeError(err)[0];
  }
}

function hiddenItem(view) {
  const item = el("li", "hidden-task");
  item.dataset.taskId = view.task_id;
  const name = taskName(view);
  const words = el("span", "hidden-name", `${t(`type.${view.task_type}`)} · ${name} · ${t(`status.${view.status}`)}`);
  const again = el("button", "button small", t("action.show_again"));
  again.type = "button";
  again.setAttribute("aria-label", t("action.task_label", { action: t("action.show_again"), name }));
  again.addEventListener("click", async () => {
    again.disabled = true;
    await showAgain([view.task_id]);
    await loadHidden();
  });
  item.append(words, again);
  return item;
}

/** Wire the queue's elements and its clock. */
export function initQueue() {
  queueEl = document.getElementById("queue");
  listEl = document.getElementById("task-list");
  emptyEl = document.getElementById("queue-empty");
  moreEl = document.getElementById("load-more");
  moreEl.addEventListener("click", loadMore);
  const clear = document.getElementById("clear-finished");
  clear.addEventListener("click", () => clearFinished(clear));
  document.getElementById("hidden-tasks").addEventListener("toggle", loadHidden);
  const filter = document.getElementById("status-filter");
  filter.addEventListener("change", () => {
    statusFilter = filter.value;
    for (const view of tasks.values()) render(view);
    refreshChrome();
    reloadList({ fresh: true }); // older tasks of that status, beyond what is loaded
  });
  window.setInterval(() => {
    for (const [id, card] of cards) {
      const view = tasks.get(id);
      if (view) card.tick(view);
    }
  }, 1000);
  onLangChange(() => {
    for (const [id, card] of cards) card.update(tasks.get(id));
    refreshChrome();
    loadHidden();
  });
  refreshChrome();
}
