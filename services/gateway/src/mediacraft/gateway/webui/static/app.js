// Start-up: language, tabs, the identity (one request first, so that a new visitor gets exactly one
// cookie before anything runs in parallel), then the live stream and the task list.

import { api, describeError } from "./api.js";
import {
  announceProjectsFinishedWhileAway, applyProjectEvent, applyScriptProgress, initCreate, reloadProjects,
} from "./create.js";
import { initGenerate } from "./generate.js";
import { adoptServerLanguage, applyStatic, lang, onLangChange, setLang, t } from "./i18n.js";
import { connectLive } from "./live.js";
import { initMerge, setMergeMax } from "./merge.js";
import { announceFinishedWhileAway, applyProgress, applyStatus, initQueue, reloadList, setOnline } from "./queue.js";
import { toast } from "./toast.js";
import { initWatermark, watermarkStatus } from "./watermark.js";

const TABS = ["watermark", "merge", "generate", "create", "tasks"];
const LIST_FALLBACK_MS = 4000; // show the list even when the live stream cannot connect
const IDENTITY_RETRY_MS = 3000;

function selectTab(name, { focus = false } = {}) {
  if (!TABS.includes(name)) name = "watermark";
  document.body.dataset.tab = name;
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.dataset.tab === name;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    if (selected && focus) tab.focus();
  }
  for (const panelName of ["watermark", "merge", "generate", "create"]) {
    document.getElementById(`panel-${panelName}`).hidden = panelName !== name;
  }
  if (window.location.hash.slice(1) !== name) window.history.replaceState(null, "", `#${name}`);
}

// After a watermark or merge submit the new task is brought into view (on a phone the list is its
// own tab); a generation keeps its form in view, ready for the next prompt.
const SHOW_AFTER_SUBMIT = new Set(["watermark_removal", "video_merge"]);

function showSubmitted(event) {
  const view = event.detail;
  if (!view || !SHOW_AFTER_SUBMIT.has(view.task_type)) return;
  const queue = document.getElementById("queue");
  if (!queue.getClientRects().length) selectTab("tasks");
  const card = [...document.querySelectorAll("#task-list li.task")].find((li) => li.dataset.taskId === view.task_id);
  card?.scrollIntoView({ block: "nearest" });
}

function initTabs() {
  const tabs = [...document.querySelectorAll("[role=tab]")];
  for (const tab of tabs) {
    tab.addEventListener("click", () => selectTab(tab.dataset.tab));
    tab.addEventListener("keydown", (event) => {
      const i = tabs.indexOf(tab);
      const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[event.key];
      if (next === undefined) return;
      event.preventDefault();
      selectTab(tabs[(next + tabs.length) % tabs.length].dataset.tab, { focus: true });
    });
  }
  window.addEventListener("hashchange", () => selectTab(window.location.hash.slice(1)));
  document.addEventListener("task-submitted", showSubmitted);
  selectTab(window.location.hash.slice(1) || "watermark");
}

function showLiveState(name) {
  setOnline(navigator.onLine && name !== "reconnecting" && name !== "offline");
  const box = document.getElementById("live-state");
  box.dataset.state = name;
  box.querySelector(".live-text").dataset.i18n = `live.${name}`;
  box.querySelector(".live-text").textContent = t(`live.${name}`);
}

/** The first request: a new visitor's identity cookie is minted here, once. */
async function whoAmI() {
  for (;;) {
    try {
      return (await api("GET", "/api/user/info")).data;
    } catch (err) {
      const [title, detail] = describeError(err);
      toast(title, { detail, kind: "error" });
      if (err.code !== "network" && err.code !== "unavailable" && err.code !== "rate_limited"
        && err.code !== "too_many_identities") return null;
      const wait = Number(err.retryAfter) > 0 ? Number(err.retryAfter) * 1000 : IDENTITY_RETRY_MS;
      await new Promise((resolve) => window.setTimeout(resolve, wait));
    }
  }
}

/** Keep --top-bar-height at the sticky bar's height, so that scrolling to a control (focus, a
 * scrolled-to task) puts it below the bar and its messages, never under them. */
function trackTopBar() {
  const bar = document.getElementById("top-bar");
  const set = () => document.documentElement.style.setProperty("--top-bar-height", `${bar.offsetHeight}px`);
  new ResizeObserver(set).observe(bar);
  set();
}

async function start() {
  applyStatic();
  trackTopBar();
  initTabs();
  initQueue();
  window.addEventListener("offline", () => setOnline(false));
  window.addEventListener("online", () => setOnline(document.getElementById("live-state").dataset.state === "live"));
  initWatermark();
  initMerge();
  initGenerate();
  initCreate();
  document.getElementById("lang-toggle").addEventListener("click", () => setLang(lang() === "zh" ? "en" : "zh"));
  onLangChange(() => showLiveState(document.getElementById("live-state").dataset.state));

  const me = await whoAmI();
  if (me?.lang) adoptServerLanguage(me.lang);
  if (me?.limits) setMergeMax(me.limits.merge_max_inputs);

  let listed = false;
  let announced = false;
  const fallback = window.setTimeout(() => {
    if (!listed) reloadList();
  }, LIST_FALLBACK_MS);
  const handlers = {
    state: showLiveState,
    status: (data) => {
      applyStatus(data);
      watermarkStatus(data); // a draft's detection answer
    },
    progress: (data) => {
      applyProgress(data);
      applyScriptProgress(data); // a project's script being written
    },
    project: applyProjectEvent,
    ready: async ({ resumed }) => {
      // subscribed before the list is read, so no change can fall between the two
      if (!resumed || !listed) {
        listed = true;
        window.clearTimeout(fallback);
        await reloadList();
      }
      await reloadProjects();
      if (!announced) {
        announced = true;
        announceFinishedWhileAway();
        announceProjectsFinishedWhileAway();
      }
    },
  };
  let closeLive = connectLive(handlers, { lang: lang() });
  // the server words task messages in the stream's language: a new stream (and with it a fresh
  // list) after a switch
  onLangChange(() => {
    closeLive();
    listed = false;
    closeLive = connectLive(handlers, { lang: lang() });
  });
  document.body.dataset.ready = "true";
}

start();
