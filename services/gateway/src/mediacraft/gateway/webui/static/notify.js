// Optional browser notifications: asked for once, after the person's first submit (never on
// load), and shown only when a task finishes while this tab is hidden; the toasts stay as they are.

const ASKED_KEY = "mediacraft.notify.asked";

function supported() {
  return typeof window.Notification === "function";
}

function askedBefore() {
  try {
    return window.localStorage.getItem(ASKED_KEY) === "1";
  } catch {
    return false;
  }
}

/** After a submit: ask for permission the first time only. */
export function askAfterSubmit() {
  if (!supported() || window.Notification.permission !== "default" || askedBefore()) return;
  try {
    window.localStorage.setItem(ASKED_KEY, "1");
  } catch {
    // asked again on the next visit's first submit at worst
  }
  Promise.resolve(window.Notification.requestPermission()).catch(() => {});
}

/** A task finished: tell the person when the tab is hidden and they allowed it. */
export function notifyWhenHidden(title, body, tag) {
  if (!supported() || window.Notification.permission !== "granted" || !document.hidden) return;
  try {
    const note = new window.Notification(title, { body, tag, icon: document.querySelector("link[rel=icon]")?.href });
    note.onclick = () => {
      window.focus();
      note.close();
    };
  } catch {
    // some browsers allow notifications only from a service worker: the toast is there on return
  }
}
