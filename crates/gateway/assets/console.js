// The console's copy buttons. No inline scripts: the console's Content-Security-Policy is
// default-src 'self'.
//
// A button `<button type="button" data-copy="ID" data-copy-status="STATUS-ID" hidden>` copies
// the value of the read-only input #ID. The buttons stay hidden without JavaScript (the inputs are
// still selectable). When the clipboard refuses (no permission, not a secure context), the text
// is selected instead so that Ctrl+C copies it; either way #STATUS-ID (aria-live) says what
// happened.
"use strict";

function copyStatus(button, text) {
  const status = document.getElementById(button.dataset.copyStatus || "");
  if (status) {
    status.textContent = text;
  }
}

function selectForCopy(input) {
  input.focus();
  input.select();
  input.setSelectionRange(0, input.value.length);
}

async function copyFrom(button) {
  const input = document.getElementById(button.dataset.copy || "");
  if (!input) {
    return;
  }
  const what = button.dataset.copyLabel || "the value";
  try {
    if (!navigator.clipboard || !window.isSecureContext) {
      throw new Error("no clipboard");
    }
    await navigator.clipboard.writeText(input.value);
    copyStatus(button, "Copied " + what + " to the clipboard.");
  } catch (_) {
    selectForCopy(input);
    copyStatus(button, "Could not copy: " + what + " is selected, press Ctrl+C (or ⌘C) to copy it.");
  }
}

function revealCopyButtons(root) {
  for (const button of root.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
  }
}

document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("button[data-copy]") : null;
  if (button) {
    event.preventDefault();
    copyFrom(button);
  }
});

document.addEventListener("DOMContentLoaded", () => revealCopyButtons(document));
// Content swapped in by htmx (the preview, the live log) may hold copy buttons too.
document.addEventListener("htmx:afterSwap", (event) => {
  if (event.target instanceof Element) {
    revealCopyButtons(event.target);
  }
});
