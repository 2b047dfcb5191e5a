/* A calendar for the date inputs (`data-datepicker`, the `date_input` macro in _forms.html).
 *
 * Self-written and served from /static (the pages run under a strict CSP: no inline script or style, no CDN).
 * Without JS the text input stays as it is: the date is typed (DD.MM.RRRR in Polish, DD/MM/YYYY in English).
 * With JS a button after the input opens a month grid in the page's language (its words from <body data-calendar>),
 * Monday first.
 * Keyboard: arrows move a day or a week, PageUp/PageDown a month (with Shift a year), Home/End the start or end of
 * the week, Enter or Space picks the day, Escape closes and goes back to the button.
 */
(function () {
  "use strict";

  // The words come from the page (`<body data-calendar>`, rendered from the gateway's catalog in the page's language,
  // web.py CALENDAR_TEXTS): months alone and in a date, weekdays short and in full, labels, the date separator.
  var T = null;
  function words() {
    try { return JSON.parse(document.body.getAttribute("data-calendar") || "null"); } catch (e) { return null; }
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function ymd(y, m, d) { return new Date(Date.UTC(y, m, d)); }  // UTC dates: no time zone or DST surprises
  function sameDay(a, b) { return a && b && a.getTime() === b.getTime(); }
  function addDays(date, n) { return ymd(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + n); }
  function addMonths(date, n) {
    var y = date.getUTCFullYear(), m = date.getUTCMonth() + n, d = date.getUTCDate();
    var last = ymd(y, m + 1, 0).getUTCDate();
    return ymd(y, m, Math.min(d, last));
  }
  function weekday(date) { return (date.getUTCDay() + 6) % 7; }  // Monday 0 … Sunday 6

  function parse(text) {
    text = (text || "").trim();
    var m = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(text);
    if (m) { return valid(+m[1], +m[2], +m[3]); }
    m = /^(\d{1,2})[.\-\/ ](\d{1,2})[.\-\/ ](\d{4})$/.exec(text);
    return m ? valid(+m[3], +m[2], +m[1]) : null;
  }
  function valid(y, m, d) {
    var date = ymd(y, m - 1, d);
    return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d ? date : null;
  }
  function format(date) {
    return pad(date.getUTCDate()) + T.separator + pad(date.getUTCMonth() + 1) + T.separator + date.getUTCFullYear();
  }
  function spoken(date) {
    return T.dayNames[weekday(date)] + ", " + date.getUTCDate() + " " + T.monthsOf[date.getUTCMonth()] + " " +
      date.getUTCFullYear();
  }
  function today() {
    return parse(document.body.getAttribute("data-today") || "") ||
      (function (n) { return ymd(n.getFullYear(), n.getMonth(), n.getDate()); })(new Date());
  }
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function icon() {  // a small calendar drawn in SVG (no emoji font needed), hidden from screen readers
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 16 16");
    svg.setAttribute("width", "16");
    svg.setAttribute("height", "16");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    [["rect", {x: "1.5", y: "2.5", width: "13", height: "12", rx: "1.5", fill: "none", stroke: "currentColor"}],
     ["path", {d: "M1.5 6.5h13M5 1v3M11 1v3", stroke: "currentColor", fill: "none"}],
     ["rect", {x: "4", y: "8.5", width: "2", height: "2", fill: "currentColor"}],
     ["rect", {x: "7", y: "8.5", width: "2", height: "2", fill: "currentColor"}],
     ["rect", {x: "10", y: "8.5", width: "2", height: "2", fill: "currentColor"}],
     ["rect", {x: "4", y: "11.5", width: "2", height: "2", fill: "currentColor"}]].forEach(function (part) {
      var node = document.createElementNS(ns, part[0]);
      Object.keys(part[1]).forEach(function (k) { node.setAttribute(k, part[1][k]); });
      svg.appendChild(node);
    });
    return svg;
  }

  var counter = 0;

  function attach(input) {
    var id = "datepicker-" + (++counter);
    var row = el("span", {"class": "datepicker-row"});
    input.parentNode.insertBefore(row, input);
    row.appendChild(input);
    var toggle = el("button", {type: "button", "class": "datepicker-toggle", "aria-haspopup": "dialog",
                               "aria-expanded": "false", "aria-controls": id, "aria-label": T.open,
                               title: T.open});
    toggle.appendChild(icon());
    row.appendChild(toggle);
    var popup = el("div", {id: id, "class": "datepicker", role: "dialog", "aria-label": T.dialog, hidden: ""});
    row.appendChild(popup);
    var shown = null, focused = null, selected = null;

    function render() {
      popup.textContent = "";
      var head = el("div", {"class": "datepicker-head"});
      var prev = el("button", {type: "button", "class": "datepicker-nav", "aria-label": T.previous,
                               "data-move": "-1"}, "‹");
      var title = el("span", {"class": "datepicker-title", "aria-live": "polite", id: id + "-title"},
                     T.months[shown.getUTCMonth()] + " " + shown.getUTCFullYear());
      var next = el("button", {type: "button", "class": "datepicker-nav", "aria-label": T.next,
                               "data-move": "1"}, "›");
      head.appendChild(prev); head.appendChild(title); head.appendChild(next);
      popup.appendChild(head);
      var grid = el("table", {role: "grid", "aria-labelledby": id + "-title", "class": "datepicker-grid"});
      var tr = el("tr");
      T.days.forEach(function (day, i) {
        var th = el("th", {scope: "col", abbr: T.dayNames[i]});
        th.appendChild(el("span", {title: T.dayNames[i]}, day));
        tr.appendChild(th);
      });
      var thead = el("thead"); thead.appendChild(tr); grid.appendChild(thead);
      var body = el("tbody");
      var first = ymd(shown.getUTCFullYear(), shown.getUTCMonth(), 1);
      var day = addDays(first, -weekday(first));
      var now = today();
      for (var week = 0; week < 6; week++) {
        tr = el("tr");
        for (var i = 0; i < 7; i++) {
          var td = el("td", {role: "gridcell"});
          if (day.getUTCMonth() === shown.getUTCMonth()) {
            var button = el("button", {type: "button", "class": "datepicker-day", tabindex: "-1",
                                       "data-date": day.toISOString().slice(0, 10), "aria-label": spoken(day)},
                            String(day.getUTCDate()));
            if (sameDay(day, selected)) { button.setAttribute("aria-pressed", "true"); }
            if (sameDay(day, now)) { button.setAttribute("aria-current", "date"); }
            if (sameDay(day, focused)) { button.setAttribute("tabindex", "0"); }
            td.appendChild(button);
          }
          tr.appendChild(td);
          day = addDays(day, 1);
        }
        body.appendChild(tr);
      }
      grid.appendChild(body);
      popup.appendChild(grid);
      var close = el("button", {type: "button", "class": "link datepicker-close"}, T.close);
      popup.appendChild(close);
    }

    function focusDay() {
      var button = popup.querySelector('[data-date="' + focused.toISOString().slice(0, 10) + '"]');
      if (button) { button.focus(); }
    }
    function moveTo(date) {
      focused = date;
      if (date.getUTCMonth() !== shown.getUTCMonth() || date.getUTCFullYear() !== shown.getUTCFullYear()) {
        shown = ymd(date.getUTCFullYear(), date.getUTCMonth(), 1);
      }
      render();
      focusDay();
    }
    function open() {
      selected = parse(input.value);
      focused = selected || today();
      shown = ymd(focused.getUTCFullYear(), focused.getUTCMonth(), 1);
      render();
      popup.hidden = false;
      toggle.setAttribute("aria-expanded", "true");
      focusDay();
    }
    function close(focusBack) {
      if (popup.hidden) { return; }
      popup.hidden = true;
      toggle.setAttribute("aria-expanded", "false");
      if (focusBack) { toggle.focus(); }
    }
    function pick(date) {
      input.value = format(date);
      input.dispatchEvent(new Event("input", {bubbles: true}));
      input.dispatchEvent(new Event("change", {bubbles: true}));
      close(false);
      input.focus();
    }

    toggle.addEventListener("click", function (event) {
      event.preventDefault();
      if (popup.hidden) { open(); } else { close(true); }
    });
    popup.addEventListener("click", function (event) {
      event.preventDefault();  // inside a <label>: no click passes on to the input
      var target = event.target.closest("button");
      if (!target) { return; }
      if (target.hasAttribute("data-date")) { pick(parse(target.getAttribute("data-date"))); }
      else if (target.hasAttribute("data-move")) {
        var move = +target.getAttribute("data-move");
        focused = addMonths(focused, move);
        shown = ymd(focused.getUTCFullYear(), focused.getUTCMonth(), 1);
        render();
        popup.querySelector('[data-move="' + move + '"]').focus();
      } else if (target.classList.contains("datepicker-close")) { close(true); }
    });
    popup.addEventListener("keydown", function (event) {
      var key = event.key;
      if (key === "Escape") { event.preventDefault(); close(true); return; }
      if (!event.target.hasAttribute("data-date")) { return; }
      var moves = {ArrowLeft: -1, ArrowRight: 1, ArrowUp: -7, ArrowDown: 7};
      if (key in moves) { moveTo(addDays(focused, moves[key])); }
      else if (key === "PageUp" || key === "PageDown") {
        moveTo(addMonths(focused, (key === "PageUp" ? -1 : 1) * (event.shiftKey ? 12 : 1)));
      } else if (key === "Home") { moveTo(addDays(focused, -weekday(focused))); }
      else if (key === "End") { moveTo(addDays(focused, 6 - weekday(focused))); }
      else if (key === "Enter" || key === " ") { pick(focused); }
      else { return; }
      event.preventDefault();
    });
    document.addEventListener("click", function (event) {
      if (!row.contains(event.target)) { close(false); }
    });
    popup.addEventListener("focusout", function (event) {
      if (event.relatedTarget && !row.contains(event.relatedTarget)) { close(false); }
    });
  }

  function start() {
    T = words();
    if (!T) { return; }  // no words on the page: the date is typed, as without JS
    Array.prototype.forEach.call(document.querySelectorAll("input[data-datepicker]"), attach);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
}());
