// Drafting run page: poll the run until it leaves the active states (moved out of the template for the CSP).
(function poll() {
  const box = document.getElementById("run-state"), state = box.textContent;
  if (state !== "queued" && state !== "running") return;  // the display names of the two active states
  setTimeout(async () => {
    const r = await fetch(box.dataset.url, {credentials: "same-origin"});
    if (r.ok) {
      const run = await r.json(), p = run.progress;
      document.getElementById("run-state").textContent = run.state.replace("_", " ");
      if (run.state !== "queued" && run.state !== "running") { location.reload(); return; }
      const bar = document.getElementById("run-progress"); bar.max = p.total; bar.value = p.done;
      document.getElementById("run-counts").textContent = `${p.done}/${p.total} done · ${p.accepted} accepted · ${p.needs_expert} need an expert · ${p.failed} failed · ${p.attempts} attempts · ${p.prompt_tokens}+${p.completion_tokens} tokens`;
    }
    poll();
  }, 2000);
})();
