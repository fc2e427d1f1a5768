// Short messages in a polite live region; errors stay longer and are announced at once.

import { t } from "./i18n.js";

const INFO_MS = 6000;
const ERROR_MS = 12000;
const MAX_SHOWN = 4;

/** Show a message; kind is "info", "success" or "error". Returns a function that closes it. */
export function toast(title, { detail = "", kind = "info", timeout } = {}) {
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
  el.append(text, close);
  box.append(el);
  let timer = 0;
  const dismiss = () => {
    window.clearTimeout(timer);
    el.remove();
  };
  close.addEventListener("click", dismiss);
  timer = window.setTimeout(dismiss, timeout ?? (kind === "error" ? ERROR_MS : INFO_MS));
  return dismiss;
}
