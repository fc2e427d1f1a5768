// Interface words in Chinese (the default) and English. The words the product brief names are
// used exactly as it spells them; the server's English sentences are mapped to them here.

const STORAGE_KEY = "mediacraft.lang";

const WORDS = {
  zh: {
    "app.skip": "跳到主要内容",
    "app.tagline": "去水印、合并视频、生成图片和视频：提交后即可离开，回来查看结果",
    "app.sections": "功能",
    "lang.toggle": "English",
    "live.connecting": "正在连接…",
    "live.live": "实时更新",
    "live.reconnecting": "正在重新连接…",
    "live.offline": "连接已断开，正在重试…",

    "tab.watermark": "去水印",
    "tab.merge": "视频合并",
    "tab.generate": "生成",
    "tab.tasks": "任务列表",
    "tab.watermark_short": "去水印",
    "tab.merge_short": "视频合并",

    "wm.hint": "上传视频，点“自动查找水印”并确认建议的区域，或选一帧画面用鼠标框出水印（可以框多个），选择质量或速度，然后提交。",
    "wm.file": "选择视频",
    "wm.no_file": "未选择文件",
    "wm.frame_alt": "视频画面预览",
    "wm.canvas_label": "视频画面：按住鼠标拖动，框出水印",
    "wm.loading_frame": "正在读取画面…",
    "wm.frame_failed": "无法读取这一帧画面，请换一个时间点。",
    "wm.time": "画面时间",
    "wm.draw_hint": "在画面上按住鼠标拖动，框出水印；可以框多个区域。",
    "wm.draw_hint.touch": "用手指在画面上拖动，框出水印；可以框多个区域。",
    "wm.hint.touch": "上传视频，点“自动查找水印”并确认建议的区域，或选一帧画面用手指框出水印（可以框多个），选择质量或速度，然后提交。",
    "wm.canvas_label.touch": "视频画面：用手指拖动，框出水印",
    "wm.regions": "水印区域",
    "wm.no_regions": "还没有框选区域。",
    "wm.region": "区域 {n}：x {x}，y {y}，{w} × {h} 像素",
    "wm.remove_region": "删除区域 {n}",
    "wm.detect": "自动查找水印",
    "wm.detect_pending": "正在查找水印…",
    "wm.detect_done": "找到 {n} 处可能的水印：请确认、调整或忽略。",
    "wm.detect_nothing_found": "没有找到水印，可以手动框选。",
    "wm.detect_cannot_tell": "画面几乎不动，无法判断水印位置，请手动框选。",
    "wm.detect_failed": "查找水印失败，请手动框选。",
    "wm.proposal": "建议 {n}：x {x}，y {y}，{w} × {h} 像素（可信度 {c}%）",
    "wm.accept": "采用",
    "wm.accept_proposal": "采用建议 {n}",
    "wm.edit": "调整",
    "wm.edit_proposal": "调整建议 {n}（填入下方数字）",
    "wm.dismiss": "忽略",
    "wm.dismiss_proposal": "忽略建议 {n}",
    "wm.remove": "删除",
    "wm.manual": "用数字添加区域",
    "wm.w": "宽",
    "wm.h": "高",
    "wm.add": "添加",
    "wm.bad_region": "区域需要在画面之内，宽和高至少 1 像素。",
    "wm.method": "处理方式",
    "wm.quality": "质量优先",
    "wm.quality_hint": "（自动选择：还原半透明水印、借用前后帧填补或修复，效果最好）",
    "wm.speed": "速度优先",
    "wm.speed_hint": "（处理更快）",
    "wm.submit": "开始去水印",
    "wm.reset": "换一个视频",
    "wm.media": "{name} · {w} × {h} · {duration}",
    "wm.no_video": "这个文件里没有视频画面。",
    "wm.need_region": "请先在画面上框出至少一个水印区域。",

    "merge.hint": "添加几个视频，排好顺序（拖动或用上移、下移按钮），然后合并成一个视频。",
    "merge.hint.touch": "添加几个视频，用上移、下移按钮排好顺序，然后合并成一个视频。",
    "merge.files": "添加视频",
    "merge.empty": "还没有添加视频。",
    "merge.order": "合并顺序",
    "merge.rule": "至少 2 个，最多 {max} 个；按列表顺序从上到下合并。",
    "merge.up": "上移",
    "merge.down": "下移",
    "merge.remove": "移除",
    "merge.up_label": "上移 {name}",
    "merge.down_label": "下移 {name}",
    "merge.remove_label": "移除 {name}",
    "merge.drag": "拖动 {name} 调整顺序",
    "merge.submit": "合并视频",
    "merge.clear": "清空",
    "merge.too_many": "最多只能合并 {max} 个视频。",

    "gen.hint": "写下提示词，选好设置，点击生成。表单会立即清空，可以马上提交下一个。",
    "gen.hint.touch": "写下提示词，选好设置，点“生成”。表单会立即清空，可以马上提交下一个。",
    "gen.kind": "生成类型",
    "gen.image": "图片",
    "gen.video": "视频",
    "gen.prompt": "提示词",
    "gen.negative": "不希望出现的内容（可选）",
    "gen.size": "尺寸",
    "gen.count": "数量",
    "gen.duration": "时长（秒）",
    "gen.fps": "帧率",
    "gen.seed": "随机种子（可选）",
    "gen.submit": "生成",
    "gen.need_prompt": "请先写下提示词。",

    "upload.progress": "正在上传 {percent}%（{done} / {total}）",
    "upload.checking": "上传完成，正在检查文件…",
    "upload.submitting": "正在提交…",

    "queue.title": "我的任务列表",
    "queue.empty": "还没有任务。提交后可以关闭页面，稍后回来查看进度和结果。",
    "queue.more": "加载更多",
    "queue.loading": "正在加载…",
    "queue.hidden": "已隐藏的任务",
    "queue.filter": "显示",
    "queue.empty_filtered": "没有这种状态的任务。",
    "filter.all": "全部",
    "filter.active": "进行中",
    "filter.completed": "已完成",
    "filter.failed": "失败",
    "filter.cancelled": "已取消",
    "filter.expired": "已过期",
    "queue.hidden_none": "没有隐藏的任务。",
    "queue.hidden_note": "文件过期前可以恢复显示，之后会显示为已过期。",
    "action.show_again": "恢复显示",

    "status.created": "草稿",
    "status.uploaded": "草稿",
    "status.queued": "待处理",
    "status.processing": "处理中",
    "status.retrying": "重试中",
    "status.cancelling": "取消中",
    "status.completed": "已完成",
    "status.failed": "失败",
    "status.cancelled": "已取消",
    "status.expired": "已过期",

    "type.watermark_removal": "去水印",
    "type.video_merge": "视频合并",
    "type.image_generation": "生成图片",
    "type.video_generation": "生成视频",
    "type.video_reprocess": "视频转码",

    "stage.download": "准备文件",
    "stage.process": "处理",
    "stage.upload": "保存结果",
    "stage.probe": "分析视频",
    "stage.rendition": "生成网页版本",
    "stage.poster": "生成封面",
    "stage.storyboard": "生成缩略图",

    "action.cancel": "取消",
    "action.retry": "重试",
    "action.download": "下载",
    "action.hide": "隐藏",
    "action.clear_finished": "清除已结束",
    "action.clear_finished_hint": "从列表中隐藏已完成、失败、已取消和已过期的任务（可以撤销）",
    "action.undo": "撤销",
    "action.task_label": "{action}：{name}",

    "task.position": "排在第 {n} 位",
    "task.eta": "剩余约 {time}",
    "task.retries": "重试次数 {n} / {max}",
    "task.next_retry": "下次重试 {time}（{rel}）",
    "task.next_retry_now": "正在重试",
    "task.eta_offline": "等待网络连接恢复",
    "task.expired_note": "文件已过期并已删除",
    "task.failed_default": "处理失败",
    "task.progress_label": "进度 {percent}%",
    "task.created_at": "创建于 {time}",
    "task.inputs_more": "等 {n} 个文件",
    "task.gen_detail": "{w} × {h}",
    "task.result": "结果：{detail}",

    "toast.created": "任务创建成功",
    "toast.duplicate": "同样的任务刚刚已经提交过，没有重复创建",
    "toast.cancel_requested": "已请求取消",
    "toast.retry_requested": "已重新提交",
    "toast.cleared": "已清除 {n} 个已结束的任务",
    "toast.cleared_one": "已清除 1 个已结束的任务",
    "toast.shown_again": "已恢复 {n} 个任务",
    "toast.away_one": "你离开期间有 1 个任务结束了",
    "toast.away_many": "你离开期间有 {n} 个任务结束了",
    "toast.done": "{name}：{status}",
    "toast.list_sep": "；",
    "toast.and_more": "另有 {n} 个",
    "toast.close": "关闭",
    "toast.dismiss_hint": "点按或滑动即可关闭",


    "time.seconds": "{s} 秒",
    "time.minutes": "{m} 分 {s} 秒",
    "time.hours": "{h} 小时 {m} 分",
    "time.in": "{time}后",
  },
  en: {
    "app.skip": "Skip to main content",
    "app.tagline": "Remove watermarks, merge videos, generate images and videos: submit, leave, come back for the results",
    "app.sections": "Sections",
    "lang.toggle": "中文",
    "live.connecting": "Connecting…",
    "live.live": "Live",
    "live.reconnecting": "Reconnecting…",
    "live.offline": "Disconnected, retrying…",

    "tab.watermark": "Remove watermark",
    "tab.merge": "Merge videos",
    "tab.generate": "Generate",
    "tab.tasks": "Tasks",
    "tab.watermark_short": "Watermark",
    "tab.merge_short": "Merge",

    "wm.hint": "Upload a video, press Find watermark and accept the proposed boxes, or pick a frame and draw boxes over the watermark with the mouse (as many as you need), choose quality or speed, and submit.",
    "wm.file": "Choose a video",
    "wm.no_file": "No file chosen",
    "wm.frame_alt": "Preview frame of the video",
    "wm.canvas_label": "Video frame: press and drag to draw a box over the watermark",
    "wm.loading_frame": "Loading the frame…",
    "wm.frame_failed": "This frame could not be read; try another time.",
    "wm.time": "Frame time",
    "wm.draw_hint": "Press and drag on the frame to draw a box over the watermark; you can draw several.",
    "wm.draw_hint.touch": "Drag a finger across the frame to draw a box over the watermark; you can draw several.",
    "wm.hint.touch": "Upload a video, tap Find watermark and accept the proposed boxes, or pick a frame and draw boxes over the watermark with a finger (as many as you need), choose quality or speed, and submit.",
    "wm.canvas_label.touch": "Video frame: drag a finger to draw a box over the watermark",
    "wm.regions": "Watermark regions",
    "wm.no_regions": "No regions yet.",
    "wm.region": "Region {n}: x {x}, y {y}, {w} × {h} px",
    "wm.remove_region": "Remove region {n}",
    "wm.detect": "Find watermark",
    "wm.detect_pending": "Looking for the watermark…",
    "wm.detect_done": "Found {n} possible watermark(s): accept, adjust or dismiss each.",
    "wm.detect_nothing_found": "No watermark found; you can draw the boxes yourself.",
    "wm.detect_cannot_tell": "The picture barely moves, so the watermark cannot be told apart; please draw the boxes.",
    "wm.detect_failed": "Looking for the watermark failed; please draw the boxes.",
    "wm.proposal": "Proposal {n}: x {x}, y {y}, {w} × {h} px ({c}% sure)",
    "wm.accept": "Accept",
    "wm.accept_proposal": "Accept proposal {n}",
    "wm.edit": "Adjust",
    "wm.edit_proposal": "Adjust proposal {n} (fills the numbers below)",
    "wm.dismiss": "Dismiss",
    "wm.dismiss_proposal": "Dismiss proposal {n}",
    "wm.remove": "Remove",
    "wm.manual": "Add a region by numbers",
    "wm.w": "width",
    "wm.h": "height",
    "wm.add": "Add",
    "wm.bad_region": "A region must lie inside the frame and be at least 1 pixel wide and high.",
    "wm.method": "Method",
    "wm.quality": "Quality",
    "wm.quality_hint": "(best result: recovers a see-through mark, fills from other frames or repairs, per region)",
    "wm.speed": "Speed",
    "wm.speed_hint": "(faster)",
    "wm.submit": "Remove watermark",
    "wm.reset": "Choose another video",
    "wm.media": "{name} · {w} × {h} · {duration}",
    "wm.no_video": "This file has no video frames.",
    "wm.need_region": "Draw at least one box over the watermark first.",

    "merge.hint": "Add several videos, put them in order (drag them or use the Up and Down buttons), and merge them into one.",
    "merge.hint.touch": "Add several videos, put them in order with the Up and Down buttons, and merge them into one.",
    "merge.files": "Add videos",
    "merge.empty": "No videos added yet.",
    "merge.order": "Merge order",
    "merge.rule": "At least 2, at most {max}; merged from top to bottom.",
    "merge.up": "Up",
    "merge.down": "Down",
    "merge.remove": "Remove",
    "merge.up_label": "Move {name} up",
    "merge.down_label": "Move {name} down",
    "merge.remove_label": "Remove {name}",
    "merge.drag": "Drag {name} to reorder",
    "merge.submit": "Merge videos",
    "merge.clear": "Clear",
    "merge.too_many": "At most {max} videos can be merged.",

    "gen.hint": "Write a prompt, choose the settings and click Generate. The form empties at once, ready for the next one.",
    "gen.hint.touch": "Write a prompt, choose the settings and tap Generate. The form empties at once, ready for the next one.",
    "gen.kind": "What to generate",
    "gen.image": "Image",
    "gen.video": "Video",
    "gen.prompt": "Prompt",
    "gen.negative": "What to leave out (optional)",
    "gen.size": "Size",
    "gen.count": "Count",
    "gen.duration": "Duration (seconds)",
    "gen.fps": "Frame rate",
    "gen.seed": "Seed (optional)",
    "gen.submit": "Generate",
    "gen.need_prompt": "Write a prompt first.",

    "upload.progress": "Uploading {percent}% ({done} of {total})",
    "upload.checking": "Uploaded; checking the file…",
    "upload.submitting": "Submitting…",

    "queue.title": "My tasks",
    "queue.empty": "No tasks yet. After submitting you can close the page and come back later for progress and results.",
    "queue.more": "Load more",
    "queue.loading": "Loading…",
    "queue.hidden": "Hidden tasks",
    "queue.filter": "Show",
    "queue.empty_filtered": "No tasks with this status.",
    "filter.all": "All",
    "filter.active": "In progress",
    "filter.completed": "Completed",
    "filter.failed": "Failed",
    "filter.cancelled": "Cancelled",
    "filter.expired": "Expired",
    "queue.hidden_none": "No hidden tasks.",
    "queue.hidden_note": "Bring one back while its files are kept; after that it shows as expired.",
    "action.show_again": "Show again",

    "status.created": "Draft",
    "status.uploaded": "Draft",
    "status.queued": "Waiting",
    "status.processing": "Processing",
    "status.retrying": "Retrying",
    "status.cancelling": "Cancelling",
    "status.completed": "Completed",
    "status.failed": "Failed",
    "status.cancelled": "Cancelled",
    "status.expired": "Expired",

    "type.watermark_removal": "Remove watermark",
    "type.video_merge": "Merge videos",
    "type.image_generation": "Generate image",
    "type.video_generation": "Generate video",
    "type.video_reprocess": "Reprocess video",

    "stage.download": "Fetching files",
    "stage.process": "Processing",
    "stage.upload": "Saving the result",
    "stage.probe": "Analysing the video",
    "stage.rendition": "Making the web version",
    "stage.poster": "Making the poster",
    "stage.storyboard": "Making thumbnails",

    "action.cancel": "Cancel",
    "action.retry": "Retry",
    "action.download": "Download",
    "action.hide": "Hide",
    "action.clear_finished": "Clear finished",
    "action.clear_finished_hint": "Hide completed, failed, cancelled and expired tasks from the list (can be undone)",
    "action.undo": "Undo",
    "action.task_label": "{action}: {name}",

    "task.position": "Place in line: {n}",
    "task.eta": "About {time} left",
    "task.retries": "Retries {n} / {max}",
    "task.next_retry": "Next retry {time} ({rel})",
    "task.next_retry_now": "Retrying now",
    "task.eta_offline": "waiting for the connection",
    "task.expired_note": "The file has expired and was deleted",
    "task.failed_default": "The task failed",
    "task.progress_label": "Progress {percent}%",
    "task.created_at": "Created {time}",
    "task.inputs_more": "and {n} more",
    "task.gen_detail": "{w} × {h}",
    "task.result": "Result: {detail}",

    "toast.created": "Task created",
    "toast.duplicate": "The same task was submitted moments ago; no second one was made",
    "toast.cancel_requested": "Cancel requested",
    "toast.retry_requested": "Submitted again",
    "toast.cleared": "Cleared {n} finished tasks",
    "toast.cleared_one": "Cleared 1 finished task",
    "toast.shown_again": "{n} task(s) back in the list",
    "toast.away_one": "1 task finished while you were away",
    "toast.away_many": "{n} tasks finished while you were away",
    "toast.done": "{name}: {status}",
    "toast.list_sep": "; ",
    "toast.and_more": "and {n} more",
    "toast.close": "Close",
    "toast.dismiss_hint": "Tap or swipe to dismiss",


    "time.seconds": "{s} s",
    "time.minutes": "{m} min {s} s",
    "time.hours": "{h} h {m} min",
    "time.in": "in {time}",
  },
};

// Sentences for error codes ({code: {en, zh}}): one table with the services' messages, kept in
// mediacraft/shared/error_texts.json and filled in here by the gateway when it serves this file.
const ERROR_TEXTS = {}; // %ERROR_TEXTS%

// The services' English sentences, read back to their codes. The API already answers in the
// language this page asks for; this covers a sentence that arrived before a switch of language.
const SERVER_SENTENCES = {};

for (const [code, texts] of Object.entries(ERROR_TEXTS)) {
  for (const language of ["zh", "en"]) WORDS[language][`err.${code}`] = texts[language];
  SERVER_SENTENCES[texts.en] = `err.${code}`; // a service wrote the English sentence of the table
}

const listeners = new Set();
const saved = readSaved();
// a saved choice wins; a first visit follows the browser's languages (which it also sends as
// Accept-Language); when they name neither language, the server's reading of Accept-Language
// (`adoptServerLanguage`) decides, and Chinese, the product's default, until it does
let current = saved || fromBrowser() || "zh";
let decided = Boolean(saved || fromBrowser());

function readSaved() {
  try {
    const value = window.localStorage.getItem(STORAGE_KEY);
    return value === "en" || value === "zh" ? value : null;
  } catch {
    return null; // storage blocked (private mode, policy): the choice lasts for this page only
  }
}

/** The first of the browser's preferred languages that we speak, or null. */
function fromBrowser() {
  const wanted = navigator.languages?.length ? navigator.languages : [navigator.language || ""];
  for (const tag of wanted) {
    const primary = String(tag).toLowerCase().split(/[-_]/)[0];
    if (primary === "zh" || primary === "en") return primary;
  }
  return null;
}

/** The value of Accept-Language for API requests: the page's language once it is decided (a
 * saved choice or the browser's), else nothing (the browser's own header then reaches the server). */
export function requestLanguage() {
  return decided ? (current === "zh" ? "zh-CN,zh;q=0.9" : "en") : null;
}

/** The server read Accept-Language as `served`: follow it when nothing else decided the language. */
export function adoptServerLanguage(served) {
  if (decided || (served !== "zh" && served !== "en")) return;
  decided = true;
  if (served !== current) {
    current = served;
    applyStatic();
    for (const fn of listeners) fn(served);
  }
}

/** The current language: "zh" or "en". */
export function lang() {
  return current;
}

// A device whose main pointer is a finger (no hover) reads the touch wording of a hint when it has
// one (`<key>.touch`): "drag a finger", never "with the mouse".
const TOUCH = window.matchMedia?.("(hover: none) and (pointer: coarse)");

/** True on a device driven by touch. */
export function isTouch() {
  return Boolean(TOUCH?.matches);
}

/** The word for `key` in the current language, with {name} placeholders filled from `params`. */
export function t(key, params = {}) {
  const touchKey = isTouch() ? `${key}.touch` : null;
  const text = (touchKey && WORDS[current][touchKey]) ?? WORDS[current][key] ?? WORDS.zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** Add words kept beside the page that uses them: {zh: {key: word}, en: {key: word}}. */
export function addWords(table) {
  for (const language of ["zh", "en"]) Object.assign(WORDS[language], table[language] || {});
}

/** True when `key` has a word (so callers can fall back to the server's own message). */
export function has(key) {
  return key in WORDS[current];
}

/** A server sentence in the current language when it is one of ours, else as the server wrote it. */
export function serverText(sentence) {
  if (!sentence) return "";
  const key = SERVER_SENTENCES[sentence.trim()];
  return key ? t(key) : sentence;
}

/** Switch language, remember it, and re-render every listener. */
export function setLang(next) {
  if (next !== "zh" && next !== "en") return;
  current = next;
  decided = true;
  try {
    window.localStorage.setItem(STORAGE_KEY, next);
  } catch {
    // the choice lasts for this page only
  }
  applyStatic();
  for (const fn of listeners) fn(next);
}

/** Call `fn(lang)` after every language change. */
export function onLangChange(fn) {
  listeners.add(fn);
}

// A narrow screen (a phone held upright) shows the shorter words of data-i18n-narrow where given.
const NARROW = window.matchMedia?.("(max-width: 600px)");
NARROW?.addEventListener?.("change", () => applyStatic());

/** Fill the page's fixed words: data-i18n (text; data-i18n-narrow on a narrow screen),
 * data-i18n-aria-label, data-i18n-alt. */
export function applyStatic(root = document) {
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
  const narrow = Boolean(NARROW?.matches);
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(narrow && el.dataset.i18nNarrow ? el.dataset.i18nNarrow : el.dataset.i18n);
  }
  for (const el of root.querySelectorAll("[data-i18n-aria-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nAriaLabel));
  }
  for (const el of root.querySelectorAll("[data-i18n-alt]")) el.setAttribute("alt", t(el.dataset.i18nAlt));
  const toggle = document.getElementById("lang-toggle");
  if (toggle) {
    toggle.textContent = t("lang.toggle");
    toggle.lang = current === "zh" ? "en" : "zh-CN";
  }
}
