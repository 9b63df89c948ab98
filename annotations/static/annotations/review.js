// The review page: image zoom/pan, the caption form (lesion type as vocabulary chips), keyboard shortcuts
// (read from KeyboardEvent.code, so macOS Option+S — which types "ß" — still saves), saving with versions
// (409 on a stale save), errors next to their field and summed up at the top, the consistency re-check (polled
// through the shared SkinFlowLive helper), override, reject, undo, the claim heartbeat (and its release when
// the page closes), and the live history.
(function () {
  "use strict";
  const cfg = JSON.parse(document.getElementById("review-config").textContent);
  let beat = null;  // the claim heartbeat, started at the end
  let version = cfg.version;
  const api = `/api/review/samples/${cfg.sampleId}/`;
  const $ = (id) => document.getElementById(id);
  const csrf = () => (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || cfg.csrf || "";
  let leaving = false;  // set when we go on to the next sample ourselves: the claim must not be released then
  function goNext() { leaving = true; $("next-form").requestSubmit(); }

  async function call(url, method = "GET", body) {
    const opts = {method, credentials: "same-origin", headers: {"X-CSRFToken": csrf()}};
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    const r = await fetch(url, opts);
    let data = null;
    try { data = await r.json(); } catch (e) { /* 204 */ }
    return {status: r.status, data};
  }

  // ``show``: scroll it into view — for decisions and failures, which must not happen out of sight; a routine
  // "saved" line does not move the page under a reviewer typing further down.
  function flash(text, kind = "info", show = kind !== "info") {
    const el = $("flash");
    el.textContent = text; el.className = `msg ${kind}`; el.hidden = false;
    if (show) el.scrollIntoView({block: "nearest"});
    return el;
  }

  // --- image viewer ------------------------------------------------------------------------------
  const viewer = $("viewer"), img = $("viewer-img");
  let scale = 1, x = 0, y = 0, fitted = false;
  function apply() { if (img) img.style.transform = `translate(${x}px, ${y}px) scale(${scale})`; }
  function fit() {
    if (!img || !img.naturalWidth) return;
    scale = Math.min(viewer.clientWidth / img.naturalWidth, viewer.clientHeight / img.naturalHeight, 1);
    x = (viewer.clientWidth - img.naturalWidth * scale) / 2; y = (viewer.clientHeight - img.naturalHeight * scale) / 2;
    apply(); fitted = true;
  }
  function zoom(factor, cx = viewer.clientWidth / 2, cy = viewer.clientHeight / 2) {
    const next = Math.min(8, Math.max(0.05, scale * factor));
    x = cx - (cx - x) * (next / scale); y = cy - (cy - y) * (next / scale); scale = next; apply(); fitted = false;
  }
  if (img) {
    img.addEventListener("load", fit);
    if (img.complete) fit();
    // A narrower window (or panel) keeps the whole photo in view, unless the reviewer zoomed or panned it.
    new ResizeObserver(() => { if (fitted) fit(); }).observe(viewer);
    viewer.addEventListener("wheel", (e) => {
      e.preventDefault();
      const r = viewer.getBoundingClientRect();
      zoom(e.deltaY < 0 ? 1.2 : 1 / 1.2, e.clientX - r.left, e.clientY - r.top);
    }, {passive: false});
    let drag = null;
    viewer.addEventListener("mousedown", (e) => { drag = {sx: e.clientX - x, sy: e.clientY - y}; viewer.focus(); });
    window.addEventListener("mousemove", (e) => {
      if (drag) { x = e.clientX - drag.sx; y = e.clientY - drag.sy; apply(); fitted = false; }
    });
    window.addEventListener("mouseup", () => { drag = null; });
    viewer.addEventListener("keydown", (e) => {
      if (e.key === "+" || e.key === "=") zoom(1.2);
      else if (e.key === "-") zoom(1 / 1.2);
      else if (e.key === "0") fit();
    });
    document.querySelectorAll("[data-zoom]").forEach((b) => b.addEventListener("click", () => {
      const z = b.dataset.zoom;
      if (z === "in") zoom(1.2); else if (z === "out") zoom(1 / 1.2); else if (z === "fit") fit();
      else { scale = 1; x = 0; y = 0; apply(); fitted = false; }
    }));
  }

  // --- caption form --------------------------------------------------------------------------------
  const fields = cfg.fields.map((f) => $(`f-${f}`));
  const chipBox = $("f-lesion_type");
  const chips = Array.from(chipBox.querySelectorAll(".chip"));
  // The chosen lesion types in the order chosen (the stored value keeps that order); a stored word outside the
  // vocabulary stays here, shown as its own chip, until the reviewer removes it.
  let selected = cfg.selectedTypes.slice();
  function paintChips() {
    chips.forEach((c) => c.setAttribute("aria-pressed", selected.includes(c.dataset.term) ? "true" : "false"));
    // The warning about stored words outside the vocabulary stands while one of them is still chosen.
    const note = $("unknown-types");
    if (note) note.hidden = !chips.some((c) => c.classList.contains("unknown") && c.getAttribute("aria-pressed") === "true");
  }
  function toggle(term) {
    if (chipBox.getAttribute("aria-disabled") === "true") return;
    selected = selected.includes(term) ? selected.filter((t) => t !== term) : selected.concat([term]);
    paintChips();
    clearFieldError("lesion_type");
  }
  chips.forEach((c) => c.addEventListener("click", () => { toggle(c.dataset.term); c.focus(); }));
  chipBox.addEventListener("keydown", (e) => {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const digit = /^(?:Digit|Numpad)([1-9])$/.exec(e.code);
    if (digit) {
      e.preventDefault();
      const chip = chips.find((c) => (c.querySelector("kbd") || {}).textContent === digit[1]);
      if (chip) toggle(chip.dataset.term);
      return;
    }
    const at = chips.indexOf(document.activeElement);
    const move = {ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1}[e.code];
    if (move) {
      e.preventDefault();
      chips[Math.max(0, Math.min(chips.length - 1, at < 0 ? 0 : at + move))].focus();
    } else if (e.code === "Home" || e.code === "End") {
      e.preventDefault(); chips[e.code === "Home" ? 0 : chips.length - 1].focus();
    }
  });
  const fieldValue = (f, i) => (f === "lesion_type" ? selected.join(", ") : fields[i].value);
  const caption = () => Object.fromEntries(cfg.fields.map((f, i) => [f, fieldValue(f, i)]));
  function autosize(t) { if (t.tagName !== "TEXTAREA") return; t.style.height = "auto"; t.style.height = `${t.scrollHeight + 2}px`; }
  fields.forEach((t, i) => {
    autosize(t);
    if (t.tagName === "TEXTAREA") t.addEventListener("input", () => { autosize(t); clearFieldError(cfg.fields[i]); });
  });

  // --- errors: next to their field, and summed up at the top of the form -----------------------------
  // Where each API error key is shown: caption fields have their own line; a reject's reason/note and an
  // override's reason have theirs.
  const ERROR_SLOT = {note: "err-note", reason: "err-reason"};
  function clearFieldError(name) {
    const el = $(`err-${name}`);
    if (!el || el.hidden) return;
    el.hidden = true; el.textContent = "";
    const box = $(`field-${name}`);
    if (box) box.classList.remove("has-error");
    if ($(`f-${name}`)) $(`f-${name}`).removeAttribute("aria-invalid");
    const item = document.querySelector(`#form-errors-list li[data-field="${name}"]`);
    if (item) item.remove();
    if (!document.querySelector("#form-errors-list li")) $("form-errors").hidden = true;
  }
  function clearErrors() {
    document.querySelectorAll(".field-error").forEach((el) => { el.hidden = true; el.textContent = ""; });
    document.querySelectorAll(".field.has-error").forEach((el) => el.classList.remove("has-error"));
    fields.forEach((f) => f.removeAttribute("aria-invalid"));
    $("form-errors").hidden = true; $("form-errors-list").innerHTML = "";
  }
  // Show a refusal: each keyed message by its field, all of them at the top, and the first one scrolled into
  // view with its field focused. ``context`` says which form the keys belong to ("reject", "override").
  function showErrors(title, detail, errors, context) {
    clearErrors();
    errors = errors || {};
    const fieldKeys = Object.keys(errors || {}).filter((k) => cfg.fields.includes(k));
    $("form-errors-title").textContent = title;
    // With field errors the list says it all (each also stands by its field); otherwise the detail does.
    $("form-errors-detail").textContent = fieldKeys.length
      ? `Fix ${fieldKeys.length === 1 ? "the field" : `the ${fieldKeys.length} fields`} marked below, then save again.`
      : (detail || "");
    const list = $("form-errors-list");
    let first = null;
    for (const [key, message] of Object.entries(errors)) {
      const isField = cfg.fields.includes(key);
      const slot = isField ? $(`err-${key}`) : $(ERROR_SLOT[context === "reject" ? "note" : key] || "");
      if (slot) {
        slot.textContent = message; slot.hidden = false;
        if (isField) { $(`field-${key}`).classList.add("has-error"); $(`f-${key}`).setAttribute("aria-invalid", "true"); }
        first = first || {slot, key, isField};
      }
      if (isField) {
        const li = document.createElement("li");
        li.dataset.field = key;
        const a = document.createElement("a");
        a.href = `#field-${key}`; a.textContent = key.replace(/_/g, " ");
        a.addEventListener("click", (e) => { e.preventDefault(); focusField(key); });
        li.append(a, document.createTextNode(`: ${message}`));
        list.append(li);
      }
    }
    $("form-errors").hidden = false;
    if (first && first.isField) {
      focusField(first.key);
    } else if (first) {
      first.slot.scrollIntoView({block: "center"});
      const input = context === "reject" ? $("reject-note") : $("override-reason");
      if (input) input.focus({preventScroll: true});
    } else {
      $("form-errors").scrollIntoView({block: "center"}); $("form-errors").focus({preventScroll: true});
    }
  }
  function focusField(name) {
    const box = $(`field-${name}`);
    box.scrollIntoView({block: "center"});
    const target = name === "lesion_type" ? (chips.find((c) => c.getAttribute("aria-pressed") === "true") || chipBox) : $(`f-${name}`);
    target.focus({preventScroll: true});
  }
  // A refused request's body as a title, a detail line and field errors.
  function refusal(status, data, what) {
    const d = data || {};
    return {detail: d.detail || `${what} failed (HTTP ${status}).`, errors: d.errors || {}};
  }

  // --- history ------------------------------------------------------------------------------------------
  function renderHistory(rows) {
    const list = $("history");
    list.innerHTML = "";
    for (const h of rows) {
      const li = document.createElement("li");
      li.className = `h-${h.kind}`;
      const time = document.createElement("time");
      time.textContent = h.at.replace("T", " ").slice(0, 19);
      const kind = document.createElement("b");
      kind.textContent = h.kind_display;
      li.append(time, " ", kind, (h.actor ? ` by ${h.actor}` : "") + (h.summary ? ` · ${h.summary}` : ""));
      if (h.note) { const q = document.createElement("q"); q.className = "note"; q.textContent = h.note; li.append(" ", q); }
      if (h.changes && h.changes.length) {
        const table = document.createElement("table"); table.className = "changes";
        const tbody = document.createElement("tbody");
        for (const c of h.changes) {
          const tr = document.createElement("tr");
          [["th", c.field], ["td.old", c.old || "—"], ["td.arrow", "→"], ["td.new", c.new || "—"]].forEach(([tag, text]) => {
            const [name, cls] = tag.split(".");
            const cell = document.createElement(name); if (cls) cell.className = cls; cell.textContent = text; tr.append(cell);
          });
          tbody.append(tr);
        }
        table.append(tbody); li.append(table);
      }
      list.append(li);
    }
  }

  // --- the re-check: a headline at the top, and by each field what the diagnoser read from it -------------
  function renderRecheck(r) {
    const box = $("check-status");
    if (!r) { box.hidden = true; return; }
    box.hidden = false; box.className = `check ${r.state}${r.malformed ? " malformed" : ""}`;
    $("check-headline").textContent = r.headline;
    $("check-rationale").textContent = r.rationale || ""; $("check-rationale").hidden = !r.rationale;
    $("check-raw-text").textContent = r.raw_answer || ""; $("check-raw").hidden = !r.raw_answer;
    cfg.fields.forEach((f) => {
      const note = $(`cite-${f}`), named = (r.cited || {})[f] || [];
      note.hidden = !named.length;
      note.textContent = named.length ? `Re-check: the diagnoser read ${named.join(", ")} from this field.` : "";
    });
  }
  function showPending(rev) {
    renderRecheck({state: rev.check_state, headline: `Re-check of v${rev.version}: checking that the caption leads back to the label…`,
      rationale: "", raw_answer: "", cited: {}});
  }

  async function refresh() {
    const {status, data} = await call(api);
    if (status !== 200) return null;
    version = data.caption_version;
    $("caption-version").textContent = version;
    $("sample-state").textContent = data.state.replace(/_/g, " ");
    renderHistory(data.history);
    if (data.recheck && data.recheck.state !== "pending") renderRecheck(data.recheck);
    refreshWaiting();
    return data;
  }

  // "N waiting for you" follows the decisions made on this page (the queue's own count, same dataset).
  async function refreshWaiting() {
    const line = $("waiting-count"), ds = document.querySelector('input[name="dataset"]');
    if (!line) return;
    const res = await call("/api/review/samples/counts/" + (ds ? `?dataset=${encodeURIComponent(ds.value)}` : ""));
    if (res.status === 200) line.textContent = line.textContent.replace(/^\s*\d+/, String(res.data.waiting_for_you));
  }

  function watchCheck(rev, thenNext) {
    showPending(rev);
    const done = async (final) => {
      const data = await refresh();
      const r = data && data.recheck;
      if (final.check_state === "consistent") {
        clearInterval(beat);
        $("override-box").hidden = true;
        flash("The caption leads back to the label: accepted.", "ok");
        if (thenNext) goNext();
      } else if (final.check_state === "inconsistent" || final.check_state === "error") {
        offerOverride(final.version);
        const why = final.check_state === "error" ? "The re-check could not run."
          : (r && r.malformed) ? "The diagnoser's answer was malformed, so nothing was inferred; this says nothing about your caption."
            : `From the caption alone the diagnoser inferred ${(final.diagnoses || []).join(", ")} (${final.judge_category}), not ${$("sample-label").textContent}.`;
        flash(`${why} Revise and save again, or accept it as expert with a reason.`, "error");
      }
    };
    if (rev.check_state !== "pending") { done(rev); return; }
    window.SkinFlowLive.poll(`/api/review/revisions/${rev.id}/`, {
      every: 1000, immediate: true, render: (d) => { if (d.check_state === "pending") showPending(d); },
      until: (d) => d.check_state !== "pending", onEnd: done});
  }

  function showConflict(data) {
    const box = $("conflict");
    const theirs = data.current_caption || {};
    const differing = cfg.fields.filter((f) => (theirs[f] || "") !== caption()[f]);
    box.innerHTML = `<p class="error"></p><table><thead><tr><th>field</th><th>their version (v${data.current_version})</th>` +
      `<th>yours</th></tr></thead><tbody>${differing.map(() => "<tr><td></td><td class=\"theirs\"></td><td class=\"yours\"></td></tr>").join("")}</tbody></table>` +
      `<button type="button" id="take-theirs">Load their version</button> <button type="button" id="keep-mine">Keep mine on top of theirs</button>`;
    box.querySelector("p").textContent = data.detail;
    differing.forEach((f, i) => {
      const tr = box.querySelectorAll("tbody tr")[i];
      tr.cells[0].textContent = f; tr.cells[1].textContent = theirs[f] || ""; tr.cells[2].textContent = caption()[f];
    });
    box.hidden = false;
    box.scrollIntoView({block: "nearest"});
    $("take-theirs").onclick = () => {
      cfg.fields.forEach((f, j) => {
        if (f === "lesion_type") { selected = (theirs[f] || "").split(", ").filter(Boolean); paintChips(); }
        else { fields[j].value = theirs[f] || ""; autosize(fields[j]); }
      });
      version = data.current_version; box.hidden = true;
    };
    $("keep-mine").onclick = () => { version = data.current_version; box.hidden = true; flash("Now save again to put your version on top."); };
  }

  let saving = false;  // one save at a time: a held Alt+S must not send the same version twice
  async function save(thenNext = false) {
    if (saving) return;
    saving = true;
    $("conflict").hidden = true;
    try {
      const {status, data} = await call(`${api}revisions/`, "POST", {caption: caption(), base_version: version});
      if (status === 201) {
        clearErrors();
        version = data.version;
        flash(`Saved as v${data.version}; checking that the caption leads back to the label…`);
        await refresh();
        watchCheck(data, thenNext);
      } else if (status === 409 && data && data.current_version !== undefined) {
        showConflict(data);
      } else {
        const r = refusal(status, data, "Saving");
        $("flash").hidden = true;
        showErrors("Not saved.", r.detail, r.errors, "caption");
      }
    } finally {
      saving = false;
    }
  }

  async function skip() {
    const {status, data} = await call(`${api}skip/`, "POST");
    if (status === 204) goNext();
    else { const r = refusal(status, data, "Skipping"); showErrors("Not skipped.", r.detail, r.errors); }
  }

  function offerOverride(v) {
    $("btn-override").dataset.version = v;
    $("override-box").hidden = false;
  }
  async function override() {
    const reason = $("override-reason").value.trim();
    const {status, data} = await call(`${api}override/`, "POST", {version: Number($("btn-override").dataset.version), reason});
    if (status === 200) {
      clearInterval(beat); clearErrors(); $("override-box").hidden = true;
      await refresh(); offerUndo("Accepted as expert (override).");
    } else { const r = refusal(status, data, "The override"); showErrors("Not accepted.", r.detail, r.errors, "override"); }
  }

  // The reject box exists only while rejecting: Reject opens it on its reason, Escape or Cancel closes it.
  function askReject() {
    $("reject-box").hidden = false;
    $("reject-box").scrollIntoView({block: "nearest"});
    $("reject-reason").focus();
  }
  function closeReject() {
    if ($("reject-box").hidden) return;
    $("reject-box").hidden = true; clearFieldError("note"); $("err-note").hidden = true;
    $("btn-reject").focus();
  }
  async function reject() {
    const {status, data} = await call(`${api}reject/`, "POST", {reason: $("reject-reason").value, note: $("reject-note").value});
    if (status === 200) {
      clearInterval(beat); clearErrors(); $("reject-box").hidden = true;
      ["btn-save", "btn-accept", "btn-reject", "btn-skip"].forEach((id) => { $(id).disabled = true; });
      await refresh(); offerUndo("Rejected.");
    } else { const r = refusal(status, data, "Rejecting"); showErrors("Not rejected.", r.detail, r.errors, "reject"); }
  }

  // After a decision, the flash offers to take it back (the server decides whether that is still possible).
  async function offerUndo(text) {
    const el = flash(text, "ok");
    const {status, data} = await call("/api/review/samples/recent/");
    const last = status === 200 && data && data[0];
    if (!last || !last.can_undo || last.sample !== cfg.sampleId) return;
    const b = document.createElement("button");
    b.type = "button"; b.id = "btn-undo"; b.textContent = "Undo";
    b.addEventListener("click", async () => {
      if (b.disabled) return;
      b.disabled = true;  // one undo per click: a double click must not send a second one
      const res = await call("/api/review/samples/undo/", "POST", {event: last.id});
      if (res.status === 200) { leaving = true; window.location.reload(); }
      else { b.disabled = false; flash((res.data && res.data.detail) || `Undo failed (HTTP ${res.status})`, "error"); }
    });
    el.append(" ", b);
  }

  // Identifying content (face, tattoo, ...): any reviewer, any time, no claim needed; the server keeps the
  // sample out of every export and records who marked it.
  async function markIdentifying() {
    const box = $("identifying-check"), on = box.checked;
    const {status, data} = await call(`${api}identifying/`, "POST", {identifying: on, note: $("identifying-note").value});
    const line = $("identifying-status");
    if (status === 200) {
      box.checked = data.identifying_content;
      line.className = data.identifying_content ? "error" : "muted";
      line.textContent = data.identifying_content
        ? "Marked as identifying: kept out of training snapshots and evaluation test sets."
        : "Not marked: the sample can be exported again.";
      renderHistory(data.history);
    } else {
      box.checked = !on;
      flash((data && (data.detail || JSON.stringify(data))) || `Marking failed (${status})`, "error");
    }
  }
  $("identifying-check").addEventListener("change", markIdentifying);

  $("btn-save").addEventListener("click", () => save(false));
  $("btn-accept").addEventListener("click", () => save(true));
  $("btn-skip").addEventListener("click", skip);
  $("btn-reject").addEventListener("click", askReject);
  $("btn-reject-confirm").addEventListener("click", reject);
  $("btn-reject-cancel").addEventListener("click", closeReject);
  $("reject-note").addEventListener("input", () => { $("err-note").hidden = true; });
  $("btn-override").addEventListener("click", override);
  $("next-form").addEventListener("submit", () => { leaving = true; });

  // Shortcuts by physical key (KeyboardEvent.code): Option+S on a Mac types "ß", so e.key would never be "s".
  const SHORTCUTS = {
    KeyS: () => save(false), KeyA: () => save(true), KeyR: askReject, KeyX: skip, KeyN: goNext,
    ArrowDown: () => moveField(1), ArrowUp: () => moveField(-1),
  };
  const DECISIONS = ["KeyS", "KeyA", "KeyR", "KeyX"];
  function moveField(step) {
    const at = fields.findIndex((f) => f.contains(document.activeElement));
    const next = fields[Math.max(0, Math.min(fields.length - 1, at + step))];
    next.focus();
  }
  document.addEventListener("keydown", (e) => {
    if (e.code === "Escape" && !$("reject-box").hidden) { e.preventDefault(); closeReject(); return; }
    if (!e.altKey || e.ctrlKey || e.metaKey) return;
    const act = SHORTCUTS[e.code];
    if (!act) return;
    e.preventDefault();  // also keeps Option+S from typing "ß" into the field
    if (DECISIONS.includes(e.code) && $("btn-save").disabled) return;
    act();
  });

  // Keep the claim alive while the page is open and the sample still waits for review; the first beat
  // takes the claim when the page was opened on a free sample.
  function lostClaim(detail) {
    flash(detail, "error"); clearInterval(beat);
    ["btn-save", "btn-accept", "btn-reject", "btn-skip", "btn-override"].forEach((id) => { $(id).disabled = true; });
  }
  async function keepClaim() {
    const {status, data} = await call(`${api}heartbeat/`, "POST");
    if (status === 409) lostClaim(data.detail);
  }
  if (cfg.mine) {
    keepClaim();
    beat = setInterval(keepClaim, Math.max(10, cfg.leaseSeconds / 3) * 1000);
    // Closing the page (or leaving it other than for the next sample) hands the sample back at once instead
    // of holding it until the lease runs out. sendBeacon posts a form body: Django reads the CSRF token there.
    window.addEventListener("pagehide", () => {
      if (leaving) return;
      navigator.sendBeacon(`${api}release/`, new URLSearchParams({csrfmiddlewaretoken: csrf()}));
    });
    window.addEventListener("pageshow", (e) => { if (e.persisted) { leaving = false; keepClaim(); } });
  }
  if (fields[0] && !$("btn-save").disabled) fields[0].focus();
})();
