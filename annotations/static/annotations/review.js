// The review page: image zoom/pan, keyboard shortcuts, saving with versions (409 on a stale save),
// polling the consistency re-check, the override, the claim heartbeat (and its release when the page
// closes), and the live history.
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

  function flash(text, kind = "info") {
    const el = $("flash");
    el.textContent = text; el.className = `msg ${kind}`; el.hidden = false;
  }

  // --- image viewer ------------------------------------------------------------------------------
  const viewer = $("viewer"), img = $("viewer-img");
  let scale = 1, x = 0, y = 0;
  function apply() { if (img) img.style.transform = `translate(${x}px, ${y}px) scale(${scale})`; }
  function fit() {
    if (!img || !img.naturalWidth) return;
    scale = Math.min(viewer.clientWidth / img.naturalWidth, viewer.clientHeight / img.naturalHeight, 1);
    x = (viewer.clientWidth - img.naturalWidth * scale) / 2; y = (viewer.clientHeight - img.naturalHeight * scale) / 2;
    apply();
  }
  function zoom(factor, cx = viewer.clientWidth / 2, cy = viewer.clientHeight / 2) {
    const next = Math.min(8, Math.max(0.05, scale * factor));
    x = cx - (cx - x) * (next / scale); y = cy - (cy - y) * (next / scale); scale = next; apply();
  }
  if (img) {
    img.addEventListener("load", fit);
    if (img.complete) fit();
    viewer.addEventListener("wheel", (e) => {
      e.preventDefault();
      const r = viewer.getBoundingClientRect();
      zoom(e.deltaY < 0 ? 1.2 : 1 / 1.2, e.clientX - r.left, e.clientY - r.top);
    }, {passive: false});
    let drag = null;
    viewer.addEventListener("mousedown", (e) => { drag = {sx: e.clientX - x, sy: e.clientY - y}; viewer.focus(); });
    window.addEventListener("mousemove", (e) => { if (drag) { x = e.clientX - drag.sx; y = e.clientY - drag.sy; apply(); } });
    window.addEventListener("mouseup", () => { drag = null; });
    viewer.addEventListener("keydown", (e) => {
      if (e.key === "+" || e.key === "=") zoom(1.2);
      else if (e.key === "-") zoom(1 / 1.2);
      else if (e.key === "0") fit();
    });
    document.querySelectorAll("[data-zoom]").forEach((b) => b.addEventListener("click", () => {
      const z = b.dataset.zoom;
      if (z === "in") zoom(1.2); else if (z === "out") zoom(1 / 1.2); else if (z === "fit") fit();
      else { scale = 1; x = 0; y = 0; apply(); }
    }));
  }

  // --- caption form --------------------------------------------------------------------------------
  const fields = cfg.fields.map((f) => $(`f-${f}`));
  const caption = () => Object.fromEntries(cfg.fields.map((f, i) => [f, fields[i].value]));
  function autosize(t) { t.style.height = "auto"; t.style.height = `${t.scrollHeight + 2}px`; }
  fields.forEach((t) => { autosize(t); t.addEventListener("input", () => autosize(t)); });

  function renderHistory(events) {
    const list = $("history");
    list.innerHTML = "";
    for (const e of events) {
      const li = document.createElement("li");
      const d = e.detail || {};
      li.innerHTML = `<time>${e.created_at.replace("T", " ").slice(0, 19)}</time> <b></b>`;
      li.querySelector("b").textContent = e.kind_display;
      let tail = e.actor ? ` by ${e.actor}` : "";
      if (d.version) tail += ` · v${d.version}`;
      if (d.changed && d.changed.length) tail += ` · changed ${d.changed.join(", ")}`;
      if (d.reason) tail += ` · ${d.reason}`;
      if (d.note) tail += ` · ${d.note}`;
      li.append(document.createTextNode(tail));
      list.append(li);
    }
  }

  async function refresh() {
    const {status, data} = await call(api);
    if (status !== 200) return null;
    version = data.caption_version;
    $("caption-version").textContent = version;
    $("sample-state").textContent = data.state.replace("_", " ");
    renderHistory(data.events);
    return data;
  }

  function showCheck(rev) {
    const el = $("check-status");
    el.className = `check ${rev.check_state}`;
    let text = `Re-check of v${rev.version}: ${rev.check_state === "pending" ? "checking…" : rev.check_state}`;
    if (rev.diagnoses && rev.diagnoses.length) text += ` — inferred: ${rev.diagnoses.join(", ")} (${rev.judge_category})`;
    if (rev.check_error) text += ` — ${rev.check_error}`;
    el.textContent = text;
  }

  async function pollCheck(rev, thenNext) {
    for (let i = 0; i < 120 && rev.check_state === "pending"; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      const {status, data} = await call(`/api/review/revisions/${rev.id}/`);
      if (status === 200) rev = data;
      showCheck(rev);
    }
    await refresh();
    if (rev.check_state === "consistent") {
      clearInterval(beat);
      $("override-box").hidden = true;
      flash("The caption leads back to the label: accepted.", "ok");
      if (thenNext) goNext();
    } else if (rev.check_state === "inconsistent" || rev.check_state === "error") {
      offerOverride(rev.version);
      flash((rev.check_state === "error" ? "The re-check could not run." : "The caption does not lead back to the label yet — see the inferred diagnosis above.") +
        " Revise and save again, or accept it as expert with a reason.", "error");
    }
  }

  function showConflict(data) {
    const box = $("conflict");
    const theirs = data.current_caption || {};
    const rows = cfg.fields.filter((f) => (theirs[f] || "") !== caption()[f])
      .map((f) => `<tr><td>${f}</td><td class="theirs"></td><td class="yours"></td></tr>`).join("");
    box.innerHTML = `<p class="error"></p><table><thead><tr><th>field</th><th>their version (v${data.current_version})</th>` +
      `<th>yours</th></tr></thead><tbody>${rows}</tbody></table>` +
      `<button type="button" id="take-theirs">Load their version</button> <button type="button" id="keep-mine">Keep mine on top of theirs</button>`;
    box.querySelector("p").textContent = data.detail;
    let i = 0;
    cfg.fields.filter((f) => (theirs[f] || "") !== caption()[f]).forEach((f) => {
      const tr = box.querySelectorAll("tbody tr")[i++];
      tr.querySelector(".theirs").textContent = theirs[f] || "";
      tr.querySelector(".yours").textContent = caption()[f];
    });
    box.hidden = false;
    $("take-theirs").onclick = () => { cfg.fields.forEach((f, j) => { fields[j].value = theirs[f] || ""; autosize(fields[j]); });
      version = data.current_version; box.hidden = true; };
    $("keep-mine").onclick = () => { version = data.current_version; box.hidden = true; flash("Now save again to put your version on top."); };
  }

  async function save(thenNext = false) {
    $("conflict").hidden = true;
    const {status, data} = await call(`${api}revisions/`, "POST", {caption: caption(), base_version: version});
    if (status === 201) {
      version = data.version;
      flash(`Saved as v${data.version}; checking that the caption leads back to the label…`);
      showCheck(data);
      await refresh();
      pollCheck(data, thenNext);
    } else if (status === 409 && data.current_version !== undefined) {
      showConflict(data);
    } else {
      flash((data && (data.detail || JSON.stringify(data))) || `Save failed (${status})`, "error");
    }
  }

  async function skip() {
    const {status, data} = await call(`${api}skip/`, "POST");
    if (status === 204) goNext();
    else flash((data && data.detail) || `Skip failed (${status})`, "error");
  }

  function offerOverride(v) {
    $("btn-override").dataset.version = v;
    $("override-box").hidden = false;
  }
  async function override() {
    const reason = $("override-reason").value.trim();
    if (!reason) { flash("Say why you accept this caption although the re-check disagrees.", "error"); $("override-reason").focus(); return; }
    const {status, data} = await call(`${api}override/`, "POST", {version: Number($("btn-override").dataset.version), reason});
    if (status === 200) { clearInterval(beat); $("override-box").hidden = true; flash("Accepted as expert (override).", "ok"); await refresh(); }
    else flash((data && data.detail) || `Override failed (${status})`, "error");
  }

  function askReject() { $("reject-box").hidden = false; $("reject-reason").focus(); }
  async function reject() {
    const {status, data} = await call(`${api}reject/`, "POST", {reason: $("reject-reason").value, note: $("reject-note").value});
    if (status === 200) { clearInterval(beat); flash("Rejected.", "ok"); await refresh(); $("reject-box").hidden = true; }
    else flash((data && data.detail) || `Reject failed (${status})`, "error");
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
      renderHistory(data.events);
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
  $("btn-override").addEventListener("click", override);
  $("next-form").addEventListener("submit", () => { leaving = true; });

  document.addEventListener("keydown", (e) => {
    if (!e.altKey) return;
    const k = e.key.toLowerCase();
    const at = fields.indexOf(document.activeElement);
    const act = {
      s: () => save(false), a: () => save(true), r: askReject, x: skip, n: goNext,
      arrowdown: () => fields[Math.min(fields.length - 1, at + 1)].focus(),
      arrowup: () => fields[Math.max(0, at - 1)].focus(),
    }[k];
    if (act && !($("btn-save").disabled && "sarx".includes(k))) { e.preventDefault(); act(); }
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
