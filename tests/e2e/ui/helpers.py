"""Small helpers of the browser suite: finding task cards, reading API envelopes, a media probe."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

try:
    from playwright.sync_api import expect as expect  # re-exported: the UI tests import it from here
except ImportError:  # the session fixture reports it (fails in CI, skips elsewhere)
    expect = None  # type: ignore[assignment]

# Records, in the page, every status each task card shows, in order (a card is updated in place).
RECORD_STATUSES = """
() => {
  window.__statuses = {};
  const note = (li) => {
    const id = li.dataset.taskId, s = li.dataset.status;
    if (!id || !s) return;
    const seen = (window.__statuses[id] ||= []);
    if (seen[seen.length - 1] !== s) seen.push(s);
  };
  document.querySelectorAll('li.task').forEach(note);
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'attributes' && r.target.matches('li.task')) note(r.target);
      for (const n of r.addedNodes || []) if (n.nodeType === 1 && n.matches('li.task')) note(n);
    }
  }).observe(document.getElementById('task-list'),
             {subtree: true, childList: true, attributes: true, attributeFilter: ['data-status']});
  window.__sameDocument = true;
}
"""


def task_card(page: Any, text: str) -> Any:
    """The queue's card whose text contains `text` (a file name or a prompt)."""
    return page.locator("#task-list li.task", has_text=text)


def api_data(response: Any) -> Any:
    """The `data` of a successful envelope (asserting it succeeded)."""
    body = response.json()
    assert response.ok and body["success"], body
    return body["data"]


def probe(path: Path) -> dict[str, Any]:
    """ffprobe's view of a downloaded result."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        check=True,
        capture_output=True,
    ).stdout
    return json.loads(out)
