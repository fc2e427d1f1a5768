// Create (创作): video-creation projects. A project is a brief (title, topic, length, style); its
// script is written in the background (/api/video-creation/...). Each project shows a timeline of
// scenes that fills in as the script is written: a slot per scene while the writer reports
// "scene 3 of 6", the scenes themselves when the script is ready. Changes arrive on the live
// stream (`project` events, and the script task's `progress` events); a project whose script
// finished while nobody was looking is announced once when the person comes back.

import { api, describeError } from "./api.js";
import { addWords, applyStatic, lang, onLangChange, t } from "./i18n.js";
import { toast } from "./toast.js";

addWords({
  zh: {
    "tab.create": "创作",
    "create.hint": "写下标题和主题，选好时长和风格，点“撰写脚本”。脚本在后台撰写，可以离开页面，回来再看。",
    "create.title": "标题",
    "create.topic": "主题或简介",
    "create.seconds": "目标长度（秒）",
    "create.style": "风格",
    "create.submit": "撰写脚本",
    "create.projects": "我的创作",
    "create.empty": "还没有项目。",
    "create.regenerate": "重新生成脚本",
    "create.need_fields": "请填写标题和主题。",
    "create.started": "已开始撰写脚本",
    "create.status.draft": "草稿",
    "create.status.generating_script": "正在生成脚本",
    "create.status.failed": "生成失败",
    "create.scene": "场景 {n}",
    "create.scene_pending": "正在撰写…",
    "create.scene_written": "已写好",
    "create.seconds_short": "{s} 秒",
    "create.total": "共 {n} 个场景，{s} 秒",
    "create.shot": "画面：",
    "create.no_model": "本脚本由本地撰写器离线生成，未使用语言模型。",
    "create.away_one": "你离开时，一个脚本已经完成",
    "create.away_many": "你离开时，{n} 个脚本已经完成",
    "create.done": "“{name}”：{status}",
    "create.msg.preparing": "准备中",
    "create.msg.writing": "正在撰写第 {n} 个场景，共 {m} 个",
    "create.msg.ready": "脚本已完成",
    "type.video_script": "视频脚本",
  },
  en: {
    "tab.create": "Create",
    "create.hint": "Write a title and a topic, pick the length and style, then Write script. It is written in the background: you can leave and come back.",
    "create.title": "Title",
    "create.topic": "Topic or brief",
    "create.seconds": "Target length (seconds)",
    "create.style": "Style",
    "create.submit": "Write script",
    "create.projects": "My projects",
    "create.empty": "No projects yet.",
    "create.regenerate": "Write the script again",
    "create.need_fields": "Write a title and a topic.",
    "create.started": "Writing the script",
    "create.status.draft": "Draft",
    "create.status.generating_script": "Writing the script",
    "create.status.failed": "Failed",
    "create.scene": "Scene {n}",
    "create.scene_pending": "Writing…",
    "create.scene_written": "Written",
    "create.seconds_short": "{s} s",
    "create.total": "{n} scenes, {s} s",
    "create.shot": "Shot: ",
    "create.no_model": "Written offline by the local writer, without a language model.",
    "create.away_one": "A script finished while you were away",
    "create.away_many": "{n} scripts finished while you were away",
    "create.done": "“{name}”: {status}",
    "create.msg.preparing": "Preparing",
    "create.msg.writing": "Writing scene {n} of {m}",
    "create.msg.ready": "Script ready",
    "type.video_script": "Video script",
  },
});

const BASE = "/api/video-creation";
const ENDED = new Set(["completed", "failed", "cancelled", "expired"]);

const projects = new Map(); // id -> the project's latest view
const seenHere = new Set(); // ids of projects whose run ended while this page was open
let $ = {};

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.filter((c) => c != null));
  return node;
}

function progressText(view) {
  if (view.sceneProgress) {
    return t("create.msg.writing", { n: view.sceneProgress.current, m: view.sceneProgress.total });
  }
  const message = view.progressMessage || "";
  if (message === "preparing") return t("create.msg.preparing");
  if (message === "script ready") return t("create.msg.ready");
  return message; // the scheduler's words (waiting, retrying) or a failure's sentence, as written
}

function sceneSlots(view) {
  const progress = view.sceneProgress;
  if (!progress) return [];
  const slots = [];
  for (let n = 1; n <= progress.total; n += 1) {
    const written = n < progress.current;
    slots.push(
      el("li", { className: "scene pending", dataset: { state: written ? "written" : "pending" } },
        el("span", { className: "scene-number" }, t("create.scene", { n })),
        el("span", { className: "muted" }, written ? t("create.scene_written") : t("create.scene_pending"))),
    );
  }
  return slots;
}

function sceneItems(script) {
  return script.scenes.map((scene) =>
    el("li", { className: "scene", dataset: { state: "ready" } },
      el("div", { className: "scene-head" },
        el("span", { className: "scene-number" }, t("create.scene", { n: scene.number })),
        el("span", { className: "scene-seconds" }, t("create.seconds_short", { s: scene.durationSeconds }))),
      el("p", { className: "scene-narration" }, scene.narration),
      el("p", { className: "scene-shot muted" }, t("create.shot"), scene.shot)),
  );
}

function renderCard(view) {
  const generating = view.status === "generating_script";
  const script = view.scriptData;
  const card = el("li", { className: "project", dataset: { projectId: view.id, status: view.status } },
    el("div", { className: "project-head" },
      el("h3", { className: "project-title" }, view.title),
      el("span", { className: "project-status" }, t(`create.status.${view.status}`))),
    el("p", { className: "muted project-topic" }, view.topic),
  );
  if (generating || view.status === "failed") {
    const bar = el("progress", { max: 100, value: Math.round(view.progress || 0) });
    card.append(el("div", { className: "project-progress" }, bar,
      el("span", { className: "project-message", role: "status" }, progressText(view))));
  }
  const timeline = el("ol", { className: "timeline" });
  timeline.setAttribute("aria-label", view.title);
  if (generating) timeline.append(...sceneSlots(view));
  else if (script) timeline.append(...sceneItems(script));
  if (timeline.children.length) card.append(timeline);
  if (script && !generating) {
    const total = script.scenes.reduce((sum, s) => sum + s.durationSeconds, 0);
    card.append(el("p", { className: "muted project-total" },
      t("create.total", { n: script.scenes.length, s: Math.round(total * 10) / 10 })));
    if (script.madeWithoutModel) card.append(el("p", { className: "muted project-note" }, t("create.no_model")));
  }
  if (!generating) {
    const again = el("button", { type: "button", className: "button small" }, t("create.regenerate"));
    again.addEventListener("click", () => startScript(view.id));
    card.append(el("div", { className: "actions" }, again));
  }
  return card;
}

function render() {
  const views = [...projects.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
  $.list.replaceChildren(...views.map(renderCard));
  $.empty.hidden = views.length > 0;
}

/** Keep the newer of two views of one project (a stream may deliver an older one late). */
function keep(view) {
  const old = projects.get(view.id);
  if (old && old.updatedAt && view.updatedAt && view.updatedAt < old.updatedAt) return;
  const ended = ENDED.has(view.taskStatus);
  if (old && old.status === "generating_script" && ended) {
    seenHere.add(view.id); // ended while the person watched: nothing to announce later
    if (!view.notified) markNotified(view.id);
  }
  projects.set(view.id, { ...(old || {}), ...view });
  render();
}

async function markNotified(id) {
  try {
    await api("POST", `${BASE}/projects/${id}/notified`);
  } catch {
    // announced again next visit at worst
  }
}

async function startScript(id) {
  try {
    const env = await api("POST", `${BASE}/projects/${id}/script`);
    keep(env.data);
    toast(t("create.started"), { kind: "success" });
  } catch (err) {
    const [title, detail] = describeError(err);
    toast(title, { detail, kind: "error" });
  }
}

async function onSubmit(event) {
  event.preventDefault();
  const title = $.title.value.trim();
  const topic = $.topic.value.trim();
  if (!title || !topic) {
    toast(t("create.need_fields"), { kind: "error" });
    (title ? $.topic : $.title).focus();
    return;
  }
  const body = { title, topic, targetSeconds: Math.round(Number($.seconds.value) || 60), language: lang() };
  if ($.style.value.trim()) body.style = $.style.value.trim();
  try {
    const env = await api("POST", `${BASE}/projects`, body);
    keep(env.data);
    $.form.reset();
    await startScript(env.data.id);
  } catch (err) {
    const [headline, detail] = describeError(err);
    toast(headline, { detail, kind: "error" });
  }
}

/** Read every project again (on start and when the live stream is back). */
export async function reloadProjects() {
  try {
    const env = await api("GET", `${BASE}/projects?limit=100`);
    for (const view of env.data.projects) keep(view);
  } catch {
    // the live stream's next `ready` tries again
  }
  $.list.dataset.loaded = "true";
}

/** A live `project` event: the project's whole view. */
export function applyProjectEvent(view) {
  if (view && view.id) keep(view);
}

/** A live task `progress` event: a project's script task moved (progress, message). */
export function applyScriptProgress(data) {
  for (const view of projects.values()) {
    if (view.scriptTaskId !== data.task_id || view.status !== "generating_script") continue;
    const message = data.message || view.progressMessage;
    const match = /^writing scene (\d+) of (\d+)$/.exec(message || "");
    keep({
      ...view,
      progress: Math.max(view.progress || 0, data.progress || 0),
      progressMessage: message,
      sceneProgress: match ? { current: Number(match[1]), total: Number(match[2]) } : view.sceneProgress,
    });
  }
}

/** Announce, once, the projects whose script ended while nobody was looking; mark them announced. */
export async function announceProjectsFinishedWhileAway() {
  try {
    const env = await api("GET", `${BASE}/unfinished`);
    const ended = env.data.projects.filter((v) => ENDED.has(v.taskStatus) && !seenHere.has(v.id));
    for (const view of env.data.projects) keep(view);
    if (ended.length) {
      const title = ended.length === 1 ? t("create.away_one") : t("create.away_many", { n: ended.length });
      const detail = ended
        .map((v) => t("create.done", { name: v.title, status: t(`create.status.${v.status}`) }))
        .join(lang() === "zh" ? "；" : "; ");
      toast(title, { detail, kind: "success", timeout: 15000 });
      await Promise.all(ended.map((v) => markNotified(v.id)));
    }
  } catch {
    // announced next visit
  }
  $.list.dataset.announced = "true";
}

/** Build and wire the Create panel. */
export function initCreate() {
  const panel = document.getElementById("panel-create");
  panel.innerHTML = `
    <h2 data-i18n="tab.create"></h2>
    <p class="hint" data-i18n="create.hint"></p>
    <form id="create-form" novalidate>
      <div class="field">
        <label for="create-title" data-i18n="create.title"></label>
        <input type="text" id="create-title" maxlength="200" required>
      </div>
      <div class="field">
        <label for="create-topic" data-i18n="create.topic"></label>
        <textarea id="create-topic" rows="3" maxlength="4000" required></textarea>
      </div>
      <div class="field-row">
        <div class="field">
          <label for="create-seconds" data-i18n="create.seconds"></label>
          <input type="number" id="create-seconds" min="5" max="600" step="1" value="60">
        </div>
        <div class="field">
          <label for="create-style" data-i18n="create.style"></label>
          <input type="text" id="create-style" maxlength="60">
        </div>
      </div>
      <div class="actions">
        <button type="submit" id="create-submit" class="button primary" data-i18n="create.submit"></button>
      </div>
    </form>
    <h3 data-i18n="create.projects"></h3>
    <p id="create-empty" class="muted" data-i18n="create.empty"></p>
    <ol id="create-projects" class="projects" data-loaded="false"></ol>`;
  applyStatic(panel);
  $ = {
    form: panel.querySelector("#create-form"),
    title: panel.querySelector("#create-title"),
    topic: panel.querySelector("#create-topic"),
    seconds: panel.querySelector("#create-seconds"),
    style: panel.querySelector("#create-style"),
    list: panel.querySelector("#create-projects"),
    empty: panel.querySelector("#create-empty"),
  };
  $.form.addEventListener("submit", onSubmit);
  onLangChange(render);
}
