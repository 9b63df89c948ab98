// Drafting run page: counts, throughput, ETA, grouped errors and the table of samples follow the run live,
// through the one live-update helper (webapp/static/webapp/live.js), without reloading the page.
//
// The table is updated row by row: the page sends the tokens (id.state.attempts) of the rows it shows, the
// server sends only rows that changed or are new on the page, and unchanged rows (and their thumbnails) stay.
(function () {
  "use strict";
  var root = document.getElementById("run-live");
  if (!root || root.dataset.active !== "1") return;  // a run that had ended when the page was made: nothing moves
  var tbody = document.querySelector("#run-jobs tbody");
  var search = new URLSearchParams(location.search);
  var base = root.dataset.progressUrl + "?";
  ["state", "page"].forEach(function (key) {
    if (search.get(key)) base += encodeURIComponent(key) + "=" + encodeURIComponent(search.get(key)) + "&";
  });

  function tokens() {
    return Array.prototype.map.call(tbody.querySelectorAll("tr[data-token]"), function (tr) {
      return tr.dataset.token;
    }).join(",");
  }
  // live.js polls a fixed address; its fetch() turns the address into text on every request, so an object
  // whose toString() adds the current tokens makes each poll say which rows the page already has.
  var url = {toString: function () { return base + "have=" + encodeURIComponent(tokens()); }};

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function buildRow(row) {
    var tr = el("tr");
    tr.dataset.job = row.id;
    var thumb = el("td", "thumb"), link = el("a");
    link.href = row.sample_url;
    if (row.thumbnail_url) {
      var img = el("img");
      img.loading = "lazy";
      img.src = row.thumbnail_url;
      img.alt = row.label;
      link.appendChild(img);
    } else {
      link.className = "noimg";
      link.textContent = row.image_hidden ? "identifying · hidden" : "no image";
    }
    thumb.appendChild(link);
    var sample = el("td"), a = el("a", "", "#" + row.sample_id);
    a.href = row.sample_url;
    sample.appendChild(a);
    sample.appendChild(document.createTextNode(" "));
    sample.appendChild(el("span", "muted", row.external_id.length > 40 ? row.external_id.slice(0, 39) + "…" : row.external_id));
    tr.appendChild(thumb);
    tr.appendChild(sample);
    tr.appendChild(el("td", "", row.label));
    var state = el("td");
    state.appendChild(el("span", "jobstate"));
    tr.appendChild(state);
    tr.appendChild(el("td", "num"));
    tr.appendChild(el("td", "reason"));
    return tr;
  }

  function fillRow(tr, row) {
    tr.dataset.token = row.token;
    var cells = tr.children, badge = cells[3].firstElementChild;
    badge.className = "jobstate jobstate-" + row.state;
    badge.textContent = row.state_display;
    cells[4].textContent = String(row.attempts);
    cells[5].textContent = row.reason;
    cells[5].className = "reason" + (row.state === "failed" ? " error" : "");
  }

  function renderRows(data) {
    var existing = {};
    Array.prototype.forEach.call(tbody.querySelectorAll("tr[data-job]"), function (tr) { existing[tr.dataset.job] = tr; });
    data.rows.forEach(function (row) {
      var tr = existing[row.id] || buildRow(row);
      fillRow(tr, row);
      existing[row.id] = tr;
    });
    // The page's rows in the server's order; rows that left the page (another state, another page) go.
    var keep = {};
    data.page.ids.forEach(function (id) {
      var tr = existing[id];
      if (!tr) return;
      keep[id] = true;
      tbody.appendChild(tr);
    });
    Object.keys(existing).forEach(function (id) { if (!keep[id] && existing[id].parentNode) existing[id].remove(); });
    document.getElementById("run-jobs-empty").hidden = data.page.ids.length > 0;
  }

  function renderErrors(data) {
    var list = document.getElementById("run-errors");
    list.replaceChildren();
    data.errors.forEach(function (g) {
      var li = el("li");
      li.appendChild(el("b", "", g.count + (g.count === 1 ? " sample" : " samples")));
      li.appendChild(document.createTextNode(": "));
      li.appendChild(el("span", "error", g.error));
      if (g.sample_url) {
        var a = el("a", "muted", "e.g. #" + g.sample_id);
        a.href = g.sample_url;
        li.appendChild(document.createTextNode(" "));
        li.appendChild(a);
      }
      list.appendChild(li);
    });
  }

  var state = document.getElementById("run-state");
  SkinFlowLive.poll(url, {
    every: 2000,
    status: root.querySelector("[data-live-status]"),
    until: function (data) { return !data.active; },
    render: function (data) {
      SkinFlowLive.bind(root, data);
      state.className = "state state-" + data.state;
      renderRows(data);
      renderErrors(data);
    },
  });
})();
