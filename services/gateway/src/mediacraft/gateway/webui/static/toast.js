// Short messages in a polite live region; errors stay longer and are announced at once. They sit
// under the tabs in the sticky top bar (never over a control), at most MAX_SHOWN at a time, and
// go away by themselves, by a tap, or by a swipe sideways.

import { t } from "./i18n.js";

const INFO_MS = 6000;
const ERROR_MS = 12000;
const MAX_SHOWN = 3;
const SWIPE_PX = 60; // a sideways move this long dismisses
const TAP_PX = 8; // a move shorter than this is a tap

/** Follow pointer moves on a toast: a tap or a long enough swipe dismisses, a short drag snaps back. */
function dismissible(el, dismiss) {
  let start = null;
  el.addEventListener("pointerdown", (e) => {
    if (e.target.closest("button")) return; // its buttons (close, undo) act on their own click
    start = { x: e.clientX, y: e.clientY, id: e.pointerId };
    el.setPointerCapture?.(e.pointerId);
  });
  el.addEventListener("pointermove", (e) => {
    if (!start || e.pointerId !== start.id) return;
    const dx = e.clientX - start.x;
    el.style.transform = `translateX(${dx}px)`;
    el.style.opacity = String(Math.max(0.2, 1 - Math.abs(dx) / 200));
  });
  const end = (e, cancelled) => {
    if (!start || e.pointerId !== start.id) return;
    const dx = e.clientX - start.x;
    const dy = e.clientY - start.y;
    start = null;
    if (!cancelled && (Math.abs(dx) >= SWIPE_PX || Math.hypot(dx, dy) < TAP_PX)) {
      dismiss();
      return;
    }
    el.style.transform = "";
    el.style.opacity = "";
  };
  el.addEventListener("pointerup", (e) => end(e, false));
  el.addEventListener("pointercancel", (e) => end(e, true));
}

/**
 * Show a message; kind is "info", "success" or "error"; `action` ({label, run}) adds a button
 * (Undo) that runs it and closes the message. Returns a function that closes it.
 */
export function toast(title, { detail = "", kind = "info", timeout, action = null } = {}) {
  const box = document.getElementById("toasts");
  // the same words again replace the earlier toast rather than stack up
  for (const old of box.querySelectorAll(".toast")) {
    if (old.dataset.text === `${title}\n${detail}`) old.remove();
  }
  while (box.children.length >= MAX_SHOWN) box.firstElementChild.remove();
  const el = document.createElement("div");
  el.dataset.text = `${title}\n${detail}`;
  el.className = "toast";
  el.dataset.kind = kind;
  el.title = t("toast.dismiss_hint");
  if (kind === "error") el.setAttribute("role", "alert");
  const text = document.createElement("div");
  text.className = "toast-text";
  const head = document.createElement("p");
  head.className = "toast-title";
  head.textContent = title;
  text.append(head);
  if (detail) {
    const more = document.createElement("p");
    more.className = "toast-detail";
    more.textContent = detail;
    text.append(more);
  }
  const close = document.createElement("button");
  close.type = "button";
  close.className = "toast-close";
  close.setAttribute("aria-label", t("toast.close"));
  close.textContent = "×";
  let timer = 0;
  const dismiss = () => {
    window.clearTimeout(timer);
    el.remove();
  };
  if (action) {
    const act = document.createElement("button");
    act.type = "button";
    act.className = "toast-action";
    act.textContent = action.label;
    act.addEventListener("click", () => {
      dismiss();
      action.run();
    });
    el.append(text, act, close);
  } else {
    el.append(text, close);
  }
  box.append(el);
  close.addEventListener("click", dismiss);
  dismissible(el, dismiss);
  timer = window.setTimeout(dismiss, timeout ?? (kind === "error" ? ERROR_MS : INFO_MS));
  return dismiss;
}
