// Small behaviours every page may use, declared in the HTML with data- attributes instead of inline
// handlers (onclick=..., style=...), which the Content-Security-Policy refuses:
//   <select data-autosubmit>           submits its form when the choice changes
//   <input type=checkbox data-check-all="NAME">  ticks or clears every checkbox named NAME in its form
//   <span data-width="42">             a bar 42 % wide (set through the CSSOM, which CSP allows)
//   <form|button data-alt-n>           Alt+N submits that form or presses that button
(function () {
  "use strict";
  document.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { if (el.form) el.form.submit(); });
  });
  document.querySelectorAll("input[data-check-all]").forEach(function (box) {
    box.addEventListener("click", function () {
      var scope = box.form || document;
      scope.querySelectorAll('input[type=checkbox][name="' + box.dataset.checkAll + '"]').forEach(function (c) {
        c.checked = box.checked;
      });
    });
  });
  document.querySelectorAll("[data-width]").forEach(function (el) {
    var pct = parseFloat(el.dataset.width);
    if (!isNaN(pct)) el.style.width = Math.max(0, Math.min(100, pct)) + "%";
  });
  var altN = document.querySelector("[data-alt-n]");
  if (altN) {
    document.addEventListener("keydown", function (e) {
      // The physical key, not the character: macOS Option+N types "˜" (a dead key), so e.key is never "n".
      if (!e.altKey || e.ctrlKey || e.metaKey || e.code !== "KeyN") return;
      e.preventDefault();
      if (altN.tagName === "FORM") altN.requestSubmit(); else altN.click();
    });
  }
})();
