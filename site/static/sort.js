/* Sortable tables without a server: a <button> in each <th> sorts its column.
   Buttons are native, so click, Enter and Space all work; aria-sort follows.
   Numbers sort on data-value; text on data-value or the cell's text. Cells
   without a value stay at the bottom in both directions. */
(function () {
  "use strict";

  function key(row, index, numeric) {
    var cell = row.cells[index];
    if (!cell) { return null; }
    var raw = cell.getAttribute("data-value");
    if (numeric) {
      if (raw === null || raw === "") { return null; }
      var n = parseFloat(raw);
      return isNaN(n) ? null : n;
    }
    var text = (raw !== null ? raw : cell.textContent).trim().toLowerCase();
    return text === "" ? null : text;
  }

  function sortBy(table, th, button) {
    var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
    var index = headers.indexOf(th);
    var numeric = button.getAttribute("data-type") === "number";
    var current = th.getAttribute("aria-sort");
    var direction;
    if (current === "ascending") { direction = "descending"; }
    else if (current === "descending") { direction = "ascending"; }
    else { direction = button.getAttribute("data-first") || "ascending"; }
    var sign = direction === "ascending" ? 1 : -1;

    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).map(function (row, i) {
      return { row: row, key: key(row, index, numeric), i: i };
    });
    rows.sort(function (a, b) {
      if (a.key === null || b.key === null) {
        if (a.key === b.key) { return a.i - b.i; }
        return a.key === null ? 1 : -1;
      }
      if (a.key < b.key) { return -sign; }
      if (a.key > b.key) { return sign; }
      return a.i - b.i; // stable: equal keys keep their current order
    });
    var fragment = document.createDocumentFragment();
    rows.forEach(function (item) { fragment.appendChild(item.row); });
    body.appendChild(fragment);

    headers.forEach(function (h) { if (h !== th) { h.removeAttribute("aria-sort"); } });
    th.setAttribute("aria-sort", direction);
    var status = document.querySelector(".sr-status");
    if (status) { status.textContent = "Sorted by " + button.textContent.trim() + ", " + direction + "."; }
  }

  // The caption's hint names the columns outside the table's scroll box, so a reader at any width
  // knows more metrics lie to the right (or left) instead of finding a cut-off column.
  function columnName(th) {
    var button = th.querySelector("button");
    return (button || th).textContent.replace(/\s+/g, " ").trim();
  }

  function updateHint(table) {
    var hint = document.querySelector("[data-more-columns='" + table.id + "']");
    var wrap = table.parentNode;
    if (!hint || !wrap) { return; }
    var box = wrap.getBoundingClientRect();
    var left = box.left + wrap.clientLeft, right = left + wrap.clientWidth;
    var before = [], after = [];
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      var r = th.getBoundingClientRect();
      if (r.width === 0) { return; }  // a column the layout hides (the team column on a phone)
      if (r.right > right + 1) { after.push(columnName(th)); }
      else if (r.left < left - 1) { before.push(columnName(th)); }
    });
    var parts = [];
    if (after.length) { parts.push("More columns to the right: " + after.join(", ")); }
    if (before.length) { parts.push("to the left: " + before.join(", ")); }
    if (parts.length) {
      hint.textContent = parts.join("; ") + " (scroll the table sideways).";
      hint.setAttribute("data-state", "more");
    } else {
      hint.textContent = "";
      hint.setAttribute("data-state", "none");
    }
  }

  function watchOverflow(table) {
    var pending = false;
    function later() {
      if (pending) { return; }
      pending = true;
      window.requestAnimationFrame(function () { pending = false; updateHint(table); });
    }
    updateHint(table);
    window.addEventListener("resize", later);
    if (table.parentNode) { table.parentNode.addEventListener("scroll", later); }
  }

  function init() {
    var tables = document.querySelectorAll("table.sortable");
    Array.prototype.forEach.call(tables, watchOverflow);
    Array.prototype.forEach.call(tables, function (table) {
      var buttons = table.querySelectorAll("thead th button");
      Array.prototype.forEach.call(buttons, function (button) {
        button.addEventListener("click", function () { sortBy(table, button.parentNode, button); });
      });
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); }
  else { init(); }
}());
