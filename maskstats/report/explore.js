// maskstats report: tooltips, sortable tables and the mask browser. Inlined into index.html
// (no network, no library); the page reads the same without it.
(function () {
  "use strict";

  // ---------------------------------------------------------------- tooltips
  var tip = document.createElement("div");
  tip.id = "tip";
  tip.setAttribute("role", "status");
  document.body.appendChild(tip);
  var shownFor = null;

  function show(target, x, y) {
    tip.textContent = target.getAttribute("data-tip");
    tip.style.display = "block";
    var room = document.documentElement.clientWidth;
    var width = tip.offsetWidth;
    var left = Math.min(Math.max(4, x + 12), room - width - 4);
    var top = y + 16;
    if (top + tip.offsetHeight > window.innerHeight - 4) top = y - tip.offsetHeight - 10;
    tip.style.left = left + "px";
    tip.style.top = Math.max(4, top) + "px";
    shownFor = target;
  }

  function hide() {
    tip.style.display = "none";
    shownFor = null;
  }

  // An SVG <title> is the tooltip without JavaScript; with it, ours replaces it (written
  // once in the page, as the title).
  document.querySelectorAll("svg title").forEach(function (t) {
    var parent = t.parentNode;
    if (parent.tagName.toLowerCase() === "svg") return;
    if (!parent.hasAttribute("data-tip")) parent.setAttribute("data-tip", t.textContent);
    t.remove();
  });

  document.addEventListener("mouseover", function (event) {
    var target = event.target.closest && event.target.closest("[data-tip]");
    if (target) show(target, event.clientX, event.clientY);
    else if (shownFor) hide();
  });
  document.addEventListener("mousemove", function (event) {
    if (shownFor) show(shownFor, event.clientX, event.clientY);
  });
  // Phones have no hover: a tap shows the value.
  document.addEventListener("click", function (event) {
    var target = event.target.closest && event.target.closest("[data-tip]");
    if (target) {
      var box = target.getBoundingClientRect();
      show(target, box.left + box.width / 2, box.top + box.height / 2);
    } else if (shownFor) hide();
  });
  document.addEventListener("focusin", function (event) {
    var target = event.target.closest && event.target.closest("[data-tip]");
    if (target) {
      var box = target.getBoundingClientRect();
      show(target, box.left, box.bottom);
    }
  });
  window.addEventListener("scroll", hide, { passive: true });

  // ---------------------------------------------------------------- sortable tables
  function cellValue(row, index) {
    var cell = row.children[index];
    if (!cell) return "";
    var number = cell.getAttribute("data-v");
    if (number !== null && number !== "") return parseFloat(number);
    return cell.textContent.trim();
  }

  function sortBy(table, index, header) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    rows.forEach(function (row, k) { row.dataset.order = row.dataset.order || k; });
    rows.sort(function (a, b) {
      var x = cellValue(a, index), y = cellValue(b, index);
      var blankX = x === "" || (typeof x === "number" && isNaN(x));
      var blankY = y === "" || (typeof y === "number" && isNaN(y));
      if (blankX !== blankY) return blankX ? 1 : -1; // blanks last, either way
      var order = 0;
      if (typeof x === "number" && typeof y === "number") order = x - y;
      else order = String(x).localeCompare(String(y));
      if (order === 0) return a.dataset.order - b.dataset.order;
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    table.querySelectorAll("thead th").forEach(function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }

  document.querySelectorAll("table.sortable").forEach(function (table) {
    table.querySelectorAll("thead th").forEach(function (th, index) {
      th.tabIndex = 0;
      th.title = "sort by this column";
      th.addEventListener("click", function () { sortBy(table, index, th); });
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sortBy(table, index, th);
        }
      });
    });
  });

  // ---------------------------------------------------------------- mask browser
  var data = document.getElementById("mask-data");
  var browser = document.getElementById("browser");
  if (!data || !browser) return;
  var info = JSON.parse(data.textContent);
  var strategySelect = browser.querySelector("#browse-strategy");
  var ratioSelect = browser.querySelector("#browse-ratio");
  var maskButtons = browser.querySelector("#browse-masks");
  var grid = browser.querySelector("#browse-grid");
  var note = browser.querySelector("#browse-note");
  var cells = grid.querySelectorAll("rect");
  var strategies = [];
  info.settings.forEach(function (s) {
    if (strategies.indexOf(s.strategy) < 0) strategies.push(s.strategy);
  });
  var state = { strategy: info.settings[0].strategy, ratio: info.settings[0].ratio, mask: 0 };

  // null (NaN in the report: no masked patch, no distance) reads "n/a".
  function defined(v) { return v !== null && isFinite(v); }
  function fixed(v, unit) { return defined(v) ? v.toFixed(2) + unit : "n/a"; }
  function pct(v) { return defined(v) ? (100 * v).toFixed(0) + "%" : "n/a"; }

  // Log-spaced from vmin to vmax, as the page's first drawing (views.colour_index).
  function colour(value) {
    var stops = info.colours;
    var share = info.vmax > info.vmin ?
      Math.log(Math.max(value, info.vmin) / info.vmin) / Math.log(info.vmax / info.vmin) : 0;
    return stops[Math.round(Math.min(Math.max(share, 0), 1) * (stops.length - 1))];
  }

  function settingsOf(strategy) {
    return info.settings.filter(function (s) { return s.strategy === strategy; });
  }

  function current() {
    var found = settingsOf(state.strategy).filter(function (s) { return s.ratio === state.ratio; });
    return found[0] || settingsOf(state.strategy)[0];
  }

  function fillRatios() {
    ratioSelect.innerHTML = "";
    var options = settingsOf(state.strategy);
    var best = options[0];
    options.forEach(function (s) {
      if (Math.abs(s.ratio - state.ratio) < Math.abs(best.ratio - state.ratio)) best = s;
      var option = document.createElement("option");
      option.value = String(s.ratio);
      option.textContent = String(s.ratio);
      ratioSelect.appendChild(option);
    });
    state.ratio = best.ratio; // keep the nearest ratio when the strategy changes
    ratioSelect.value = String(best.ratio);
  }

  function fillMasks(setting) {
    maskButtons.innerHTML = "";
    if (state.mask >= setting.masks.length) state.mask = 0;
    setting.masks.forEach(function (_, k) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = "mask " + (k + 1);
      button.setAttribute("aria-pressed", String(k === state.mask));
      button.addEventListener("click", function () { state.mask = k; render(); });
      maskButtons.appendChild(button);
    });
  }

  function render() {
    var setting = current();
    fillMasks(setting);
    var mask = setting.masks[state.mask];
    var width = info.grid[1];
    mask.v.forEach(function (v, k) {
      var cell = cells[k];
      var where = "row " + (Math.floor(k / width) + 1) + ", column " + (k % width + 1);
      if (v === -1) {
        cell.setAttribute("fill", info.visible);
        cell.setAttribute("data-tip", where + ": visible");
      } else if (v === -2) {
        cell.setAttribute("fill", info.undefinedColour);
        cell.setAttribute("data-tip", where + ": masked, no visible pixel in the mask");
      } else {
        var p2 = v / 100;
        var word = p2 < info.easy ? " (easy)" : p2 > info.hard ? " (hard)" : "";
        cell.setAttribute("fill", colour(p2));
        cell.setAttribute("data-tip", where + ": P²Dist " + p2.toFixed(2) + " patch" + word);
      }
    });
    var m = setting.mean;
    note.textContent =
      setting.strategy + " masks at mask ratio " + setting.ratio + ", mask " + (state.mask + 1) +
      " of the " + setting.n + " the report measured: AvgDist " + fixed(mask.avgdist, " px") +
      ", " + pct(mask.share) + " masked, " + pct(mask.easy) + " of masked patches easy, " +
      pct(mask.hard) + " hard (this setting's means: AvgDist " + fixed(m.avgdist, " px") +
      ", " + pct(m.easy) + " easy, " + pct(m.hard) + " hard).";
    grid.setAttribute("aria-label", note.textContent);
  }

  strategies.forEach(function (name) {
    var option = document.createElement("option");
    option.value = name;
    option.textContent = name;
    strategySelect.appendChild(option);
  });
  strategySelect.addEventListener("change", function () {
    state.strategy = strategySelect.value;
    fillRatios();
    render();
  });
  ratioSelect.addEventListener("change", function () {
    state.ratio = parseFloat(ratioSelect.value);
    render();
  });
  strategySelect.value = state.strategy;
  fillRatios();
  browser.querySelectorAll(".needs-js").forEach(function (el) { el.hidden = false; });
  render();
})();
