// The one live-update helper (issue 13, item 7): every page that shows progress polls its JSON through this.
//
// Declarative use, no page script needed:
//   <section data-live-url="/api/x/1/progress/" data-live-every="2000"
//            data-live-until="state=succeeded,failed,cancelled" data-live-reload-on-end>
//     <b data-live-text="state"></b>                      textContent from a dotted path of the JSON
//     <progress data-live-value="progress.done" data-live-max="progress.total"></progress>
//     <span class="bar" data-live-width="progress.percent"></span>   a bar that many % wide
//     <p data-live-show="warning" hidden>…<span data-live-text="warning"></span></p>  shown while truthy
//     <small data-live-status></small>                    "updated 10:42:07" or "connection lost, retrying in 8 s"
//   </section>
// A page with its own rendering registers a renderer on the same element:
//   SkinFlowLive.onUpdate(section, function (data) { ... });      called after the declarative bindings
//   SkinFlowLive.onEnd(section, function (data) { ... });         called once when `until` holds
// or polls without markup:  SkinFlowLive.poll(url, {every, render, until, onEnd, status}); `url` may be a
// function, called before each request (a page whose filters change what it asks for).
//
// Why polling and not server-sent events: the embedded default runs Django's development server and gunicorn's
// sync workers, where a held-open stream would pin a worker per open page. Polling pauses while the tab is
// hidden, backs off on errors (up to 30 s) and never stacks requests (the next poll is scheduled only after the
// previous answer), so a page left open all night costs one small request every few seconds.
(function () {
  "use strict";

  function lookup(data, path) {
    if (!path) return data;
    return path.split(".").reduce(function (obj, key) {
      return obj === null || obj === undefined ? undefined : obj[key];
    }, data);
  }

  function show(value) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "number" && !Number.isInteger(value)) return String(Math.round(value * 1000) / 1000);
    return String(value);
  }

  // "state=succeeded,failed" -> true when data.state is one of them; "done" -> true when data.done is truthy.
  function parseUntil(spec) {
    if (!spec) return function () { return false; };
    var eq = spec.indexOf("=");
    if (eq < 0) return function (data) { return Boolean(lookup(data, spec)); };
    var path = spec.slice(0, eq), values = spec.slice(eq + 1).split(",");
    return function (data) { return values.indexOf(String(lookup(data, path))) >= 0; };
  }

  function bind(root, data) {
    root.querySelectorAll("[data-live-text]").forEach(function (el) {
      el.textContent = show(lookup(data, el.dataset.liveText));
    });
    root.querySelectorAll("[data-live-value]").forEach(function (el) {
      var max = el.dataset.liveMax ? Number(lookup(data, el.dataset.liveMax)) : NaN;
      if (!isNaN(max) && max > 0) el.max = max;
      var value = Number(lookup(data, el.dataset.liveValue));
      if (!isNaN(value)) el.value = value;
    });
    root.querySelectorAll("[data-live-width]").forEach(function (el) {
      var pct = Number(lookup(data, el.dataset.liveWidth));
      if (!isNaN(pct)) el.style.width = Math.max(0, Math.min(100, pct)) + "%";
    });
    root.querySelectorAll("[data-live-show]").forEach(function (el) {
      el.hidden = !lookup(data, el.dataset.liveShow);
    });
  }

  function clock() {
    var d = new Date();
    return [d.getHours(), d.getMinutes(), d.getSeconds()].map(function (n) { return String(n).padStart(2, "0"); }).join(":");
  }

  function poll(url, opts) {
    opts = opts || {};
    var every = opts.every || 2000, delay = every, stopped = false, timer = null;
    var until = opts.until || function () { return false; };
    function status(text, bad) {
      if (!opts.status) return;
      opts.status.textContent = text;
      opts.status.classList.toggle("error", Boolean(bad));
    }
    function schedule(ms) {
      if (stopped) return;
      timer = setTimeout(tick, ms);
    }
    function tick() {
      timer = null;
      if (document.hidden) { schedule(every); return; }  // resumed by visibilitychange below
      fetch(typeof url === "function" ? url() : String(url), {credentials: "same-origin", headers: {Accept: "application/json"}}).then(function (r) {
        if (r.status === 401 || r.status === 403) throw new Error("signed out: reload the page to log in again");
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      }).then(function (data) {
        delay = every;
        if (opts.render) opts.render(data);
        status("updated " + clock(), false);
        if (until(data)) {
          stopped = true;
          status("finished " + clock(), false);
          if (opts.onEnd) opts.onEnd(data);
          return;
        }
        schedule(every);
      }).catch(function (err) {
        delay = Math.min(delay * 2, 30000);
        status("connection lost (" + err.message + "), retrying in " + Math.round(delay / 1000) + " s", true);
        schedule(delay);
      });
    }
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && !stopped && timer === null) tick();
    });
    schedule(opts.immediate ? 0 : every);
    return {stop: function () { stopped = true; if (timer) clearTimeout(timer); }};
  }

  var renderers = new WeakMap(), enders = new WeakMap();
  function register(map, el, fn) {
    var list = map.get(el) || [];
    list.push(fn);
    map.set(el, list);
  }

  function start(root) {
    var until = parseUntil(root.dataset.liveUntil);
    var initial = root.dataset.liveState;  // a page already finished when rendered does not poll at all
    if (initial && until(JSON.parse(initial))) return;
    poll(root.dataset.liveUrl, {
      every: Number(root.dataset.liveEvery) || 2000,
      immediate: root.hasAttribute("data-live-immediate"),
      status: root.querySelector("[data-live-status]"),
      until: until,
      render: function (data) {
        bind(root, data);
        (renderers.get(root) || []).forEach(function (fn) { fn(data); });
      },
      onEnd: function (data) {
        (enders.get(root) || []).forEach(function (fn) { fn(data); });
        if (root.hasAttribute("data-live-reload-on-end")) setTimeout(function () { location.reload(); }, 300);
      },
    });
  }

  window.SkinFlowLive = {
    poll: poll,
    bind: bind,
    lookup: lookup,
    onUpdate: function (el, fn) { register(renderers, el, fn); },
    onEnd: function (el, fn) { register(enders, el, fn); },
  };
  // Started after every deferred page script has registered its renderers (DOMContentLoaded follows them).
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-url]").forEach(start);
  });
})();
