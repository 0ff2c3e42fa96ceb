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

  function init() {
    var tables = document.querySelectorAll("table.sortable");
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
