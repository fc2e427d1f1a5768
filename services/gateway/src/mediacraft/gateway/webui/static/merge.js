// Merge videos: pick several clips, put them in order (drag, or Up/Down buttons), submit.
// The clips are uploaded in the order shown, so the task's inputs are already in merge order.

import { api, describeError, newKey, uploadFiles } from "./api.js";
import { bytes } from "./format.js";
import { onLangChange, t } from "./i18n.js";
import { submitted } from "./queue.js";
import { toast } from "./toast.js";

const MIN_CLIPS = 2;

const state = {
  clips: [], // [{id, file}]
  nextId: 1,
  max: 10,
  busy: false,
  dragging: null,
};

let $ = {};

function byId(id) {
  return document.getElementById(id);
}

function addFiles() {
  const room = state.max - state.clips.length;
  const picked = [...$.files.files];
  if (picked.length > room) toast(t("merge.too_many", { max: state.max }), { kind: "error" });
  for (const file of picked.slice(0, Math.max(0, room))) state.clips.push({ id: state.nextId++, file });
  $.files.value = ""; // the same file may be added again
  render();
}

function move(from, to) {
  if (to < 0 || to >= state.clips.length || from === to) return;
  const [clip] = state.clips.splice(from, 1);
  state.clips.splice(to, 0, clip);
  render();
}

function button(text, label, onClick, disabled = false) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "button ghost small";
  b.textContent = text;
  b.setAttribute("aria-label", label);
  b.disabled = disabled || state.busy;
  b.addEventListener("click", onClick);
  return b;
}

function render() {
  const focusedLabel = document.activeElement?.closest?.("#merge-list") ? document.activeElement.getAttribute("aria-label") : null;
  $.list.replaceChildren();
  state.clips.forEach((clip, i) => {
    const name = clip.file.name;
    const item = document.createElement("li");
    item.className = "clip";
    item.draggable = !state.busy;
    item.dataset.index = String(i);
    item.dataset.name = name;
    const handle = document.createElement("span");
    handle.className = "handle";
    handle.setAttribute("aria-hidden", "true");
    handle.title = t("merge.drag", { name });
    handle.textContent = "⠿";
    const label = document.createElement("span");
    label.className = "clip-name";
    label.textContent = name;
    const size = document.createElement("span");
    size.className = "muted clip-size";
    size.textContent = bytes(clip.file.size);
    const tools = document.createElement("span");
    tools.className = "clip-tools";
    tools.append(
      button(t("merge.up"), t("merge.up_label", { name }), () => move(i, i - 1), i === 0),
      button(t("merge.down"), t("merge.down_label", { name }), () => move(i, i + 1), i === state.clips.length - 1),
      button(t("merge.remove"), t("merge.remove_label", { name }), () => {
        state.clips.splice(i, 1);
        render();
      }),
    );
    item.append(handle, label, size, tools);
    item.addEventListener("dragstart", (e) => {
      state.dragging = i;
      item.classList.add("dragging");
      e.dataTransfer.effectAllowed = "move";
      e.dataTransfer.setData("text/plain", String(i));
    });
    item.addEventListener("dragend", () => {
      state.dragging = null;
      item.classList.remove("dragging");
    });
    item.addEventListener("dragover", (e) => {
      if (state.dragging === null) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = "move";
    });
    item.addEventListener("drop", (e) => {
      if (state.dragging === null) return;
      e.preventDefault();
      const from = state.dragging;
      state.dragging = null;
      move(from, i);
    });
    $.list.append(item);
  });
  if (focusedLabel) {
    // keep the keyboard where it was after a move
    const again = [...$.list.querySelectorAll("button")].find((b) => b.getAttribute("aria-label") === focusedLabel);
    (again && !again.disabled ? again : $.list.querySelector("button:not([disabled])"))?.focus();
  }
  $.empty.hidden = state.clips.length > 0;
  $.rule.textContent = t("merge.rule", { max: state.max });
  $.submit.disabled = state.busy || state.clips.length < MIN_CLIPS;
  $.files.disabled = state.busy;
}

function progress(done, total) {
  $.upload.hidden = false;
  if (done >= total) {
    $.uploadText.textContent = t("upload.checking");
    $.uploadBar.removeAttribute("value");
    return;
  }
  const percent = Math.floor((done / total) * 100);
  $.uploadBar.value = percent;
  $.uploadText.textContent = t("upload.progress", { percent, done: bytes(done), total: bytes(total) });
}

async function onSubmit(event) {
  event.preventDefault();
  if (state.busy || state.clips.length < MIN_CLIPS) return;
  state.busy = true;
  render();
  const files = state.clips.map((c) => c.file);
  let draft = null;
  try {
    const created = await api("POST", "/api/tasks/create", { task_type: "video_merge" }, {
      headers: { "Idempotency-Key": newKey() },
    });
    draft = created.data;
    progress(0, files.reduce((sum, f) => sum + f.size, 0) || 1);
    await uploadFiles(`/api/tasks/${draft.task_id}/upload`, files, progress);
    $.uploadText.textContent = t("upload.submitting");
    const env = await api("POST", `/api/tasks/${draft.task_id}/config`, { order: files.map((_, i) => i) });
    draft = null;
    submitted(env.data);
    toast(env.data.duplicate ? t("toast.duplicate") : t("toast.created"), { kind: "success" });
    state.clips = [];
  } catch (err) {
    if (draft) api("POST", `/api/tasks/${draft.task_id}/cancel`).catch(() => {});
    const [title, detail] = describeError(err);
    toast(title, { detail, kind: "error" });
  } finally {
    state.busy = false;
    $.upload.hidden = true;
    render();
  }
}

/** Wire the Merge videos panel; `max` is the most clips one merge takes. */
export function initMerge(max) {
  $ = {
    form: byId("merge-form"),
    files: byId("merge-files"),
    list: byId("merge-list"),
    empty: byId("merge-empty"),
    rule: byId("merge-rule"),
    upload: byId("merge-upload"),
    uploadBar: byId("merge-upload-bar"),
    uploadText: byId("merge-upload-text"),
    submit: byId("merge-submit"),
  };
  state.max = max || state.max;
  $.files.addEventListener("change", addFiles);
  byId("merge-clear").addEventListener("click", () => {
    if (state.busy) return;
    state.clips = [];
    render();
  });
  $.form.addEventListener("submit", onSubmit);
  onLangChange(render);
  render();
}

/** Take the server's limit once it is known. */
export function setMergeMax(max) {
  if (max) {
    state.max = max;
    render();
  }
}
