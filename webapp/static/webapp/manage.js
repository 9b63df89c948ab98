// Behaviours of the administration pages (/manage/), declared with data- attributes (the
// Content-Security-Policy refuses inline handlers):
//   <form data-busy-text="Testing…">   on submit, its buttons are disabled and say this (a test call may
//                                       take up to 20 s; a second click would start a second call)
//   <form data-confirm="Sure?">        asks before submitting
//   [data-typed-password]              shown only while the form's password_mode radio is "type"
//   <code data-select-all>             a click selects the whole text (a generated password, to copy)
(function () {
  "use strict";
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.dataset.confirm)) e.preventDefault();
    });
  });
  document.querySelectorAll("form[data-busy-text]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (e.defaultPrevented) return;
      form.querySelectorAll("button").forEach(function (b) {
        b.textContent = form.dataset.busyText;
        b.setAttribute("aria-busy", "true");
        // Disabled after this event: a disabled button would not submit its form.
        window.setTimeout(function () { b.disabled = true; }, 0);
      });
    });
  });
  document.querySelectorAll("[data-typed-password]").forEach(function (box) {
    var form = box.closest("form");
    if (!form) return;
    function sync() {
      var chosen = form.querySelector('input[name="password_mode"]:checked');
      box.hidden = !(chosen && chosen.value === "type");
    }
    form.querySelectorAll('input[name="password_mode"]').forEach(function (r) { r.addEventListener("change", sync); });
    sync();
  });
  document.querySelectorAll("[data-select-all]").forEach(function (el) {
    el.addEventListener("click", function () {
      var range = document.createRange();
      range.selectNodeContents(el);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
    });
  });
})();
