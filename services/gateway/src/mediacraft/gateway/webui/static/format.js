// Numbers, sizes, durations and clock times as a person reads them, in the current language.

import { lang, t } from "./i18n.js";

/** "3 秒", "1 分 05 秒", "2 小时 3 分" (or the English forms). */
export function duration(seconds) {
  const total = Math.max(0, Math.round(Number(seconds) || 0));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return t("time.hours", { h, m });
  if (m > 0) return t("time.minutes", { m, s: lang() === "zh" ? String(s).padStart(2, "0") : s });
  return t("time.seconds", { s });
}

/** 1536 -> "1.5 KB". */
export function bytes(n) {
  const value = Number(n) || 0;
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  let v = value;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** A clock time for an ISO instant, with the date when it is not today. */
export function clock(iso) {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return "";
  const locale = lang() === "zh" ? "zh-CN" : "en-GB";
  const sameDay = at.toDateString() === new Date().toDateString();
  const opts = sameDay
    ? { hour: "2-digit", minute: "2-digit", second: "2-digit" }
    : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" };
  return at.toLocaleString(locale, opts);
}

/** Seconds from now until an ISO instant (negative when past). */
export function secondsUntil(iso) {
  return (new Date(iso).getTime() - Date.now()) / 1000;
}

/** A playback position to a hundredth (frames are 1/24 to 1/60 s apart): 12.3 -> "0:12.30". */
export function position(seconds) {
  const s = Math.max(0, Number(seconds) || 0);
  const m = Math.floor(s / 60);
  return `${m}:${(s - m * 60).toFixed(2).padStart(5, "0")}`;
}
