// Evaluation pages: the heatmaps' size control and the full-size view (no inline script or style: CSP).
//   <input type=range data-zoom-size="#table">   sets --heat (px) on the table, so every heatmap in it follows
//   <a href="full.png" data-lightbox>             opens the picture full size over the page; a click or Esc closes
(function () {
  "use strict";
  document.querySelectorAll("input[data-zoom-size]").forEach(function (input) {
    var target = document.querySelector(input.dataset.zoomSize);
    var out = document.getElementById(input.id + "-value");
    function apply() {
      if (target) target.style.setProperty("--heat", input.value + "px");
      if (out) out.textContent = input.value + " px";
    }
    input.addEventListener("input", apply);
    apply();
  });

  var box = null;
  function close() {
    if (box) { box.remove(); box = null; }
  }
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") close(); });
  document.querySelectorAll("a[data-lightbox]").forEach(function (link) {
    link.addEventListener("click", function (e) {
      if (e.ctrlKey || e.metaKey || e.shiftKey) return;  // a new tab, as the user asked
      e.preventDefault();
      close();
      box = document.createElement("div");
      box.className = "lightbox";
      box.setAttribute("role", "dialog");
      box.setAttribute("aria-label", "full-size image");
      var img = document.createElement("img");
      img.src = link.href;
      img.alt = (link.querySelector("img") || {}).alt || "";
      var btn = document.createElement("button");
      btn.className = "close";
      btn.type = "button";
      btn.textContent = "×";
      btn.setAttribute("aria-label", "close");
      box.appendChild(img);
      box.appendChild(btn);
      box.addEventListener("click", close);
      document.body.appendChild(box);
    });
  });
})();
