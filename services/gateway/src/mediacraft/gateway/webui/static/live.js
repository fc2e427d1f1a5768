// The live event stream (/api/events). EventSource reconnects by itself and sends Last-Event-ID,
// so the gateway replays whatever changed meanwhile; only when the browser gives up (the stream
// answered with an error status) is a new one opened here, with a growing pause. A stream the
// gateway closes with a `closed` event (too many streams of one identity) stays closed.

const MIN_PAUSE_MS = 1000;
const MAX_PAUSE_MS = 30000;

/**
 * Open the stream. handlers: status(data), progress(data), ready({resumed}), state(name) where
 * name is "connecting", "live", "reconnecting" or "offline". Returns a function that closes it.
 */
export function connectLive(handlers, { lang = "" } = {}) {
  let source = null;
  let pause = MIN_PAUSE_MS;
  let timer = 0;
  let closed = false;

  const parse = (event) => {
    try {
      return JSON.parse(event.data);
    } catch {
      return null;
    }
  };

  function open() {
    handlers.state("connecting");
    // an EventSource sends no chosen headers: the page's language goes in the query
    source = new EventSource(lang ? `/api/events?lang=${encodeURIComponent(lang)}` : "/api/events");
    source.addEventListener("ready", (event) => {
      pause = MIN_PAUSE_MS;
      handlers.state("live");
      handlers.ready(parse(event) || { resumed: false });
    });
    source.addEventListener("status", (event) => {
      const data = parse(event);
      if (data) handlers.status(data);
    });
    source.addEventListener("progress", (event) => {
      const data = parse(event);
      if (data) handlers.progress(data);
    });
    source.addEventListener("project", (event) => {
      const data = parse(event);
      if (data && handlers.project) handlers.project(data);
    });
    source.addEventListener("closed", (event) => {
      // the gateway closed this stream because newer ones (other tabs) took its place: stay closed,
      // or the tabs would take turns closing each other
      const data = parse(event);
      if (data && data.reason === "too_many_streams") {
        closed = true;
        source.close();
        handlers.state("offline");
      }
    });
    source.addEventListener("error", () => {
      if (closed) return;
      if (source.readyState === EventSource.CLOSED) {
        handlers.state("offline");
        timer = window.setTimeout(open, pause);
        pause = Math.min(MAX_PAUSE_MS, pause * 2);
      } else {
        handlers.state("reconnecting");
      }
    });
  }

  open();
  return () => {
    closed = true;
    window.clearTimeout(timer);
    source?.close();
  };
}
