// Evaluation run page: poll the run's progress until it finishes, then reload to show the metrics.
// A static file rather than an inline block, so that the page works under a CSP without 'unsafe-inline'.
(function () {
  var box = document.getElementById("progress");
  if (!box) return;
  var finished = ["done", "partially_failed", "failed"];
  if (finished.indexOf(box.dataset.status) >= 0) return;
  var timer = setInterval(function () {
    fetch(box.dataset.url, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (p) {
      document.getElementById("status").textContent = p.status;
      document.getElementById("inferred").textContent = p.inferred;
      document.getElementById("judged").textContent = p.judgements;
      if (finished.indexOf(p.status) >= 0) { clearInterval(timer); location.reload(); }
    });
  }, 2000);
})();
