// Generate: an image or a short video from a prompt. The form is emptied the moment Generate is
// pressed and the request goes out in the background (one call: create and submit), so the next
// variation can be typed at once; the task shows up in the queue when the gateway answers.

import { api, describeError, newKey } from "./api.js";
import { onLangChange, t } from "./i18n.js";
import { submitted } from "./queue.js";
import { toast } from "./toast.js";

const SIZES = {
  image_generation: [[1024, 1024], [768, 768], [512, 512], [1024, 768], [768, 1024], [1280, 720]],
  video_generation: [[1280, 720], [640, 360], [1920, 1080], [720, 1280], [720, 720]],
};

let $ = {};

function byId(id) {
  return document.getElementById(id);
}

function kind() {
  return $.form.querySelector("input[name=kind]:checked")?.value || "image_generation";
}

function renderKind() {
  const current = kind();
  const video = current === "video_generation";
  for (const node of $.form.querySelectorAll(".video-only")) node.hidden = !video;
  for (const node of $.form.querySelectorAll(".image-only")) node.hidden = video;
  if ($.size.dataset.kind === current) return;
  // each kind starts from its own default size (the first listed)
  $.size.dataset.kind = current;
  $.size.replaceChildren();
  for (const [w, h] of SIZES[current]) {
    const option = document.createElement("option");
    option.value = `${w}x${h}`;
    option.textContent = `${w} × ${h}`;
    $.size.append(option);
  }
}

function readConfig(taskType) {
  const [width, height] = $.size.value.split("x").map(Number);
  const config = { prompt: $.prompt.value.trim(), width, height };
  const negative = $.negative.value.trim();
  if (negative) config.negative_prompt = negative;
  if ($.seed.value !== "") config.seed = Math.max(0, Math.floor(Number($.seed.value)));
  if (taskType === "image_generation") {
    config.count = Math.min(4, Math.max(1, Math.floor(Number($.count.value) || 1)));
  } else {
    config.duration_seconds = Math.min(30, Math.max(1, Number($.duration.value) || 5));
    config.fps = Number($.fps.value) || 24;
  }
  return config;
}

function emptyForm(taskType) {
  $.form.reset();
  // the kind is a choice of tool, not content: keep it for the next variation
  $.form.querySelector(`input[name=kind][value=${taskType}]`).checked = true;
  delete $.size.dataset.kind;
  renderKind();
  $.prompt.focus();
}

async function send(taskType, config) {
  try {
    const env = await api("POST", "/api/tasks/submit", { task_type: taskType, config }, {
      headers: { "Idempotency-Key": newKey() },
    });
    submitted(env.data);
    toast(env.data.duplicate ? t("toast.duplicate") : t("toast.created"), { kind: "success" });
  } catch (err) {
    // give the words back when nothing new has been typed meanwhile
    if (!$.prompt.value) $.prompt.value = config.prompt;
    const [title, detail] = describeError(err);
    toast(title, { detail, kind: "error" });
  }
}

function onSubmit(event) {
  event.preventDefault();
  if (!$.prompt.value.trim()) {
    toast(t("gen.need_prompt"), { kind: "error" });
    $.prompt.focus();
    return;
  }
  const taskType = kind();
  const config = readConfig(taskType);
  emptyForm(taskType);
  send(taskType, config); // not awaited: the form is ready again now
}

/** Wire the Generate panel. */
export function initGenerate() {
  $ = {
    form: byId("gen-form"),
    prompt: byId("gen-prompt"),
    negative: byId("gen-negative"),
    size: byId("gen-size"),
    count: byId("gen-count"),
    duration: byId("gen-duration"),
    fps: byId("gen-fps"),
    seed: byId("gen-seed"),
  };
  for (const radio of $.form.querySelectorAll("input[name=kind]")) radio.addEventListener("change", renderKind);
  $.form.addEventListener("submit", onSubmit);
  onLangChange(renderKind);
  renderKind();
}
