// Remove watermark: upload a video, pick a frame, draw boxes over the watermark on it, submit.
// Boxes are kept in the video's own pixels (the probed width and height the task carries); the
// canvas over the frame has exactly that resolution, so the browser does the display scaling.

import { api, describeError, uploadFiles } from "./api.js";
import { bytes, duration, position } from "./format.js";
import { onLangChange, t } from "./i18n.js";
import { submitted } from "./queue.js";
import { toast } from "./toast.js";

const PREVIEW_DEBOUNCE_MS = 150;
const MIN_DRAG_PX = 4; // on screen: a click is not a box

const state = {
  task: null, // the draft task once its file is uploaded
  media: null,
  regions: [], // [[x, y, w, h], ...] in video pixels
  proposals: [], // detected boxes not yet accepted or dismissed: [{box, confidence}]
  detection: null, // the detection shown: {state, request_id, ...} of the current draft
  drag: null,
  busy: false,
  uploading: null, // the draft being uploaded, so a new pick can drop it
  pick: 0, // counts file picks: an upload answering for an earlier pick is dropped
};

let $ = {};

function byId(id) {
  return document.getElementById(id);
}

function frameSeconds() {
  return Number($.time.value) || 0;
}

function showUpload(text, percent) {
  $.upload.hidden = false;
  $.uploadText.textContent = text;
  if (percent === null) $.uploadBar.removeAttribute("value");
  else $.uploadBar.value = percent;
}

function hideUpload() {
  $.upload.hidden = true;
}

/** Forget the current draft (and tell the server it will not be used). */
function dropDraft() {
  const draft = state.task || state.uploading;
  if (draft && !draft.submitted_at) {
    // a draft's files are deleted at once on cancel; nothing waits on the answer
    api("POST", `/api/tasks/${draft.task_id}/cancel`).catch(() => {});
  }
  state.task = null;
  state.uploading = null;
  state.media = null;
  state.regions = [];
  state.proposals = [];
  state.detection = null;
  $.editor.hidden = true;
  $.frame.removeAttribute("src");
  renderRegions();
}

async function onFile() {
  const file = $.file.files[0];
  const pick = ++state.pick;
  dropDraft();
  showFileName();
  if (!file) return;
  state.busy = true;
  updateSubmit();
  try {
    const created = await api("POST", "/api/tasks/create", { task_type: "watermark_removal" });
    if (pick !== state.pick) {
      api("POST", `/api/tasks/${created.data.task_id}/cancel`).catch(() => {});
      return;
    }
    state.uploading = created.data;
    showUpload(t("upload.progress", { percent: 0, done: bytes(0), total: bytes(file.size) }), 0);
    const env = await uploadFiles(`/api/tasks/${created.data.task_id}/upload`, [file], (done, total) => {
      const percent = Math.floor((done / total) * 100);
      if (done >= total) showUpload(t("upload.checking"), null);
      else showUpload(t("upload.progress", { percent, done: bytes(done), total: bytes(total) }), percent);
    });
    if (pick !== state.pick) return; // another file was picked meanwhile (and this draft dropped)
    state.uploading = null;
    const media = env.data.inputs?.[0]?.media;
    if (!media || !media.width || !media.height) {
      state.task = env.data;
      dropDraft();
      toast(t("wm.no_video"), { kind: "error" });
      return;
    }
    state.task = env.data;
    state.media = media;
    openEditor(env.data, media);
  } catch (err) {
    if (pick !== state.pick) return;
    if (state.uploading) dropDraft();
    const [title, detail] = describeError(err);
    toast(title, { detail, kind: "error" });
    $.file.value = "";
    showFileName();
  } finally {
    if (pick === state.pick) {
      state.busy = false;
      hideUpload();
      updateSubmit();
    }
  }
}

function openEditor(task, media) {
  $.canvas.width = media.width;
  $.canvas.height = media.height;
  $.frameWrap.style.setProperty("--ar", String(media.width / media.height));
  const length = media.duration || 0;
  $.time.max = String(Math.max(0, length - (media.frame_rate ? 1 / media.frame_rate : 0.04)).toFixed(3));
  $.time.step = media.frame_rate ? String((1 / media.frame_rate).toFixed(4)) : "0.04";
  // a frame from the first second: many videos open on black
  $.time.value = String(Math.min(1, length / 2));
  $.editor.hidden = false;
  describeMedia();
  renderTime();
  loadFrame();
  renderDetection();
  renderRegions();
}

// --- detection: proposals the person accepts, adjusts or dismisses ------------------------------

async function onDetect() {
  if (!state.task) return;
  const taskId = state.task.task_id;
  $.detect.disabled = true;
  try {
    const env = await api("POST", `/api/tasks/${taskId}/detect`);
    if (!state.task || state.task.task_id !== taskId) return;
    showDetection(env.data.detection);
  } catch (err) {
    const [title, detail] = describeError(err);
    toast(title, { detail, kind: "error" });
    $.detect.disabled = false;
  }
}

/** A task's status view arrived (live stream): take its detection if it is the draft's current one. */
export function watermarkStatus(data) {
  const view = data && data.task;
  if (!state.task || !view || view.task_id !== state.task.task_id || !view.detection) return;
  showDetection(view.detection);
}

function showDetection(detection) {
  if (!detection) return;
  const shown = state.detection;
  if (shown && shown.request_id === detection.request_id) {
    // the same answer again, or the request's "pending" arriving after its answer
    if (shown.state === detection.state || detection.state === "pending") return;
  } else if (shown && shown.state === "pending" && detection.state !== "pending") {
    return; // the answer to an older request while a newer one waits
  }
  state.detection = detection;
  state.proposals = detection.state === "done" ? detection.regions.map((r) => ({ ...r, box: [...r.box] })) : [];
  renderDetection();
  draw();
}

function renderDetection() {
  const detection = state.detection;
  $.detectState.dataset.state = detection ? detection.state : "";
  $.detect.disabled = !state.task || (detection && detection.state === "pending");
  if (!detection) {
    $.detectState.textContent = "";
  } else if (detection.state === "done") {
    $.detectState.textContent = t("wm.detect_done", { n: detection.regions.length });
  } else {
    $.detectState.textContent = t(`wm.detect_${detection.state}`);
  }
  $.proposals.replaceChildren();
  state.proposals.forEach((proposal, i) => {
    const [x, y, w, h] = proposal.box;
    const item = document.createElement("li");
    item.className = "region proposal";
    const text = document.createElement("span");
    text.textContent = t("wm.proposal", { n: i + 1, x, y, w, h, c: Math.round(proposal.confidence * 100) });
    const actions = [
      ["wm.accept", "wm.accept_proposal", () => acceptProposal(i)],
      ["wm.edit", "wm.edit_proposal", () => editProposal(i)],
      ["wm.dismiss", "wm.dismiss_proposal", () => dropProposal(i)],
    ].map(([label, aria, act]) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "button ghost small";
      button.textContent = t(label);
      button.setAttribute("aria-label", t(aria, { n: i + 1 }));
      button.addEventListener("click", act);
      return button;
    });
    item.append(text, ...actions);
    $.proposals.append(item);
  });
}

function dropProposal(i) {
  const [proposal] = state.proposals.splice(i, 1);
  renderDetection();
  renderRegions();
  return proposal;
}

function acceptProposal(i) {
  const proposal = dropProposal(i);
  if (proposal) state.regions.push(proposal.box);
  renderRegions();
}

function editProposal(i) {
  const proposal = dropProposal(i);
  if (!proposal) return;
  [$.x.value, $.y.value, $.w.value, $.h.value] = proposal.box.map(String);
  $.manual.open = true;
  $.x.focus();
}

function describeMedia() {
  if (!state.task || !state.media) return;
  $.media.textContent = t("wm.media", {
    name: state.task.inputs[0].original_name,
    w: state.media.width,
    h: state.media.height,
    duration: duration(state.media.duration || 0),
  });
}

function showFileName() {
  const file = $.file.files[0];
  $.fileName.textContent = file ? file.name : t("wm.no_file");
}

function renderTime() {
  $.timeOut.textContent = position(frameSeconds());
}

let frameTimer = 0;
function loadFrameSoon() {
  renderTime();
  window.clearTimeout(frameTimer);
  frameTimer = window.setTimeout(loadFrame, PREVIEW_DEBOUNCE_MS);
}

function loadFrame() {
  if (!state.task) return;
  $.frameLoading.hidden = false;
  $.frameWrap.dataset.state = "loading";
  $.frame.src = `/api/tasks/${state.task.task_id}/preview?t=${frameSeconds().toFixed(3)}`;
}

function onFrameLoaded() {
  $.frameLoading.hidden = true;
  $.frameWrap.dataset.state = "ready";
  draw();
}

function onFrameFailed() {
  if (!$.frame.getAttribute("src")) return;
  $.frameLoading.hidden = true;
  $.frameWrap.dataset.state = "failed";
  toast(t("wm.frame_failed"), { kind: "error" });
}

/** The pointer's position in video pixels, clamped to the frame. */
function videoPoint(event) {
  const rect = $.canvas.getBoundingClientRect();
  const sx = $.canvas.width / rect.width;
  const sy = $.canvas.height / rect.height;
  const x = Math.min($.canvas.width, Math.max(0, (event.clientX - rect.left) * sx));
  const y = Math.min($.canvas.height, Math.max(0, (event.clientY - rect.top) * sy));
  return { x, y, screenX: event.clientX, screenY: event.clientY };
}

function boxOf(a, b) {
  const x = Math.round(Math.min(a.x, b.x));
  const y = Math.round(Math.min(a.y, b.y));
  const w = Math.round(Math.abs(a.x - b.x));
  const h = Math.round(Math.abs(a.y - b.y));
  return [x, y, w, h];
}

function onPointerDown(event) {
  if (!state.media || event.button !== 0) return;
  event.preventDefault();
  $.canvas.setPointerCapture(event.pointerId);
  state.drag = { from: videoPoint(event), to: videoPoint(event) };
  draw();
}

function onPointerMove(event) {
  if (!state.drag) return;
  state.drag.to = videoPoint(event);
  draw();
}

function onPointerUp(event) {
  if (!state.drag) return;
  state.drag.to = videoPoint(event);
  const { from, to } = state.drag;
  state.drag = null;
  const moved = Math.max(Math.abs(from.screenX - to.screenX), Math.abs(from.screenY - to.screenY));
  if (moved >= MIN_DRAG_PX) {
    const box = boxOf(from, to);
    if (box[2] >= 1 && box[3] >= 1) state.regions.push(box);
  }
  renderRegions();
}

function draw() {
  const ctx = $.canvas.getContext("2d");
  const { width, height } = $.canvas;
  ctx.clearRect(0, 0, width, height);
  const line = Math.max(2, Math.round(width / 320));
  const boxes = state.regions.map((r, i) => ({ r, label: String(i + 1) }));
  if (state.drag) boxes.push({ r: boxOf(state.drag.from, state.drag.to), label: "" });
  ctx.font = `bold ${Math.max(12, Math.round(width / 40))}px sans-serif`;
  ctx.textBaseline = "top";
  // proposals: dashed, in another colour, until the person accepts them
  ctx.save();
  ctx.setLineDash([line * 4, line * 3]);
  ctx.lineWidth = line;
  ctx.strokeStyle = "#1677ff";
  ctx.fillStyle = "rgba(22, 119, 255, 0.15)";
  state.proposals.forEach(({ box: [x, y, w, h] }, i) => {
    ctx.fillRect(x, y, w, h);
    ctx.strokeRect(x + line / 2, y + line / 2, Math.max(0, w - line), Math.max(0, h - line));
    ctx.fillStyle = "#1677ff";
    ctx.fillText(`?${i + 1}`, x + line * 2, y + line * 2);
    ctx.fillStyle = "rgba(22, 119, 255, 0.15)";
  });
  ctx.restore();
  for (const { r, label } of boxes) {
    const [x, y, w, h] = r;
    ctx.fillStyle = "rgba(255, 77, 79, 0.25)";
    ctx.fillRect(x, y, w, h);
    ctx.lineWidth = line;
    ctx.strokeStyle = "#ff4d4f";
    ctx.strokeRect(x + line / 2, y + line / 2, Math.max(0, w - line), Math.max(0, h - line));
    if (label) {
      ctx.fillStyle = "#ff4d4f";
      ctx.fillText(label, x + line * 2, y + line * 2);
    }
  }
}

function renderRegions() {
  $.regions.replaceChildren();
  state.regions.forEach(([x, y, w, h], i) => {
    const item = document.createElement("li");
    item.className = "region";
    const text = document.createElement("span");
    text.textContent = t("wm.region", { n: i + 1, x, y, w, h });
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "button ghost small";
    remove.textContent = t("wm.remove");
    remove.setAttribute("aria-label", t("wm.remove_region", { n: i + 1 }));
    remove.addEventListener("click", () => {
      state.regions.splice(i, 1);
      renderRegions();
    });
    item.append(text, remove);
    $.regions.append(item);
  });
  $.noRegions.hidden = state.regions.length > 0;
  draw();
  updateSubmit();
}

function addManualRegion() {
  if (!state.media) return;
  const [x, y, w, h] = [$.x, $.y, $.w, $.h].map((input) => Math.round(Number(input.value)));
  const valid = [x, y, w, h].every(Number.isFinite) && x >= 0 && y >= 0 && w >= 1 && h >= 1
    && x < state.media.width && y < state.media.height;
  if (!valid) {
    toast(t("wm.bad_region"), { kind: "error" });
    return;
  }
  state.regions.push([x, y, Math.min(w, state.media.width - x), Math.min(h, state.media.height - y)]);
  for (const input of [$.x, $.y, $.w, $.h]) input.value = "";
  renderRegions();
}

function updateSubmit() {
  $.submit.disabled = state.busy || !state.task || state.regions.length === 0;
}

async function onSubmit(event) {
  event.preventDefault();
  if (!state.task || !state.media) return;
  if (!state.regions.length) {
    toast(t("wm.need_region"), { kind: "error" });
    return;
  }
  const method = $.form.querySelector("input[name=method]:checked")?.value || "auto";
  const config = { regions: state.regions.map((r) => [...r]), method };
  const fps = state.media.frame_rate;
  if (fps) {
    let frame = Math.round(frameSeconds() * fps);
    if (state.media.frame_count) frame = Math.min(frame, state.media.frame_count - 1);
    config.selected_frame = Math.max(0, frame);
  }
  state.busy = true;
  updateSubmit();
  try {
    const env = await api("POST", `/api/tasks/${state.task.task_id}/config`, config);
    submitted(env.data);
    toast(env.data.duplicate ? t("toast.duplicate") : t("toast.created"), { kind: "success" });
    state.task = null; // submitted: no longer a draft to drop
    reset();
  } catch (err) {
    const [title, detail] = describeError(err);
    toast(title, { detail, kind: "error" });
  } finally {
    state.busy = false;
    updateSubmit();
  }
}

function reset() {
  state.pick += 1;
  dropDraft();
  state.busy = false;
  hideUpload();
  $.file.value = "";
  showFileName();
  $.form.querySelector("input[name=method][value=auto]").checked = true;
}

/** Wire the Remove watermark panel. */
export function initWatermark() {
  $ = {
    form: byId("wm-form"),
    file: byId("wm-file"),
    fileName: byId("wm-file-name"),
    upload: byId("wm-upload"),
    uploadBar: byId("wm-upload-bar"),
    uploadText: byId("wm-upload-text"),
    editor: byId("wm-editor"),
    media: byId("wm-media"),
    frameWrap: byId("wm-frame-wrap"),
    frame: byId("wm-frame"),
    canvas: byId("wm-canvas"),
    frameLoading: byId("wm-frame-loading"),
    time: byId("wm-time"),
    timeOut: byId("wm-time-out"),
    regions: byId("wm-regions"),
    noRegions: byId("wm-no-regions"),
    x: byId("wm-x"),
    y: byId("wm-y"),
    w: byId("wm-w"),
    h: byId("wm-h"),
    submit: byId("wm-submit"),
    detect: byId("wm-detect"),
    detectState: byId("wm-detect-state"),
    proposals: byId("wm-proposals"),
    manual: document.querySelector("#wm-editor details.manual-region"),
  };
  $.file.addEventListener("change", onFile);
  showFileName(); // the page's words, never the native input's (which follow the browser's locale)
  $.time.addEventListener("input", loadFrameSoon);
  $.frame.addEventListener("load", onFrameLoaded);
  $.frame.addEventListener("error", onFrameFailed);
  $.canvas.addEventListener("pointerdown", onPointerDown);
  $.canvas.addEventListener("pointermove", onPointerMove);
  $.canvas.addEventListener("pointerup", onPointerUp);
  $.canvas.addEventListener("pointercancel", () => {
    state.drag = null;
    draw();
  });
  byId("wm-add").addEventListener("click", addManualRegion);
  $.detect.addEventListener("click", onDetect);
  byId("wm-reset").addEventListener("click", reset);
  $.form.addEventListener("submit", onSubmit);
  onLangChange(() => {
    showFileName();
    describeMedia();
    renderDetection();
    renderRegions();
  });
}
