// Training run page: the metric table, chart, rollout samples, checkpoints and log follow the run's progress
// JSON (GET /api/training/runs/<id>/progress/) through the shared helper webapp/live.js; the page is never
// reloaded, so a click on Cancel is never lost to a refresh.
(function () {
  "use strict";
  var root = document.getElementById("run-live");
  if (!root || !window.SkinFlowLive) return;

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function num(value, digits) {
    if (value === null || value === undefined) return "—";
    // As the server renders it (Django's floatformat:"-N"): whole numbers bare, others with N decimals.
    return Number.isInteger(value) ? String(value) : value.toFixed(digits);
  }

  function renderMetrics(points) {
    var body = document.querySelector("#metrics tbody");
    if (!body || !points.length) return;
    var columns = body.dataset.columns.split(",");
    body.textContent = "";
    points.forEach(function (p) {
      var tr = el("tr");
      tr.appendChild(el("td", p.step));
      columns.forEach(function (name) { tr.appendChild(el("td", name in p ? num(p[name], 4) : "", "num")); });
      body.appendChild(tr);
    });
  }

  var chosenOpen = {};  // step -> open, for the steps whose fold the reader clicked

  function renderRollouts(groups) {
    var box = document.getElementById("rollouts");
    if (!box || !groups.length) return;
    box.textContent = "";
    groups.forEach(function (g, i) {
      var details = el("details", null, "rollout-step"), step = String(g.step);
      details.dataset.step = step;
      // The latest step is expanded and the older ones folded, unless the reader opened or closed one.
      details.open = chosenOpen.hasOwnProperty(step) ? chosenOpen[step] : i === 0;
      var summary = el("summary", "step " + g.step + " · rewards " + g.rewards.map(function (r) { return num(r, 3); }).join(", "));
      summary.addEventListener("click", function () { chosenOpen[step] = !details.open; });
      details.appendChild(summary);
      var table = el("table", null, "training rollouts"), head = el("tr"), body = el("tbody");
      ["#", "reward", "completion", "reference"].forEach(function (h) { head.appendChild(el("th", h)); });
      var thead = el("thead"); thead.appendChild(head); table.appendChild(thead);
      g.samples.forEach(function (s, j) {
        var tr = el("tr"), pos = el("td", s.position);
        if (s.sample_id) { pos.appendChild(el("br")); pos.appendChild(el("small", "sample " + s.sample_id, "muted")); }
        tr.appendChild(pos);
        tr.appendChild(el("td", num(s.reward, 3), "num"));
        var c = el("td"); c.appendChild(el("pre", s.completion, "rollout-text")); tr.appendChild(c);
        var r = el("td");
        // One reference per sample: the group's completions of one prompt share it.
        if (j > 0 && g.samples[j - 1].sample_id === s.sample_id && g.samples[j - 1].reference === s.reference) {
          r.appendChild(el("span", "same as above", "muted"));
        } else {
          r.appendChild(el("pre", s.reference, "rollout-text"));
        }
        tr.appendChild(r);
        body.appendChild(tr);
      });
      table.appendChild(body);
      details.appendChild(table);
      if (g.samples.length) details.appendChild(el("p", "prompt (end): " + g.samples[0].prompt.slice(-300), "muted rollout-prompt"));
      box.appendChild(details);
    });
  }

  function renderCheckpoints(rows) {
    var body = document.querySelector("#checkpoints tbody");
    if (!body || !rows.length) return;
    body.textContent = "";
    rows.forEach(function (c) {
      var tr = el("tr");
      tr.appendChild(el("td", c.step));
      tr.appendChild(el("td", c.path, "mono"));
      tr.appendChild(el("td", c.is_final ? "final" : ""));
      var td = el("td"), a = el("a", "open · download · evaluate");
      a.href = c.url;
      td.appendChild(a);
      tr.appendChild(td);
      body.appendChild(tr);
    });
  }

  SkinFlowLive.onUpdate(root, function (data) {
    var state = document.getElementById("run-state");
    if (state) state.className = "state state-" + data.state;
    renderMetrics(data.points || []);
    renderRollouts(data.rollouts || []);
    renderCheckpoints(data.checkpoints || []);
    var log = document.getElementById("run-log");
    if (log && data.log) {
      var atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
      log.textContent = data.log;
      if (atBottom) log.scrollTop = log.scrollHeight;
    }
    var chart = document.getElementById("run-chart");
    // The chart URL carries the step and state: a new one means the chart changed, so fetch it again.
    if (chart && data.chart_url && chart.getAttribute("src") !== data.chart_url) chart.src = data.chart_url;
    if (chart && data.step > 0 && chart.hidden) {  // the first logged step: axes with something on them
      chart.hidden = false;
      var empty = document.getElementById("run-chart-empty");
      if (empty) empty.hidden = true;
    }
    if (data.is_terminal) {
      document.querySelectorAll("[data-live-hide-when-terminal]").forEach(function (n) { n.hidden = true; });
    }
  });
})();
