// Today's board: bring the exam the room is on into view, on load and after each refresh.
(function () {
  "use strict";
  function show() {
    var row = document.getElementById("current-exam");
    if (row) row.scrollIntoView({ block: "center" });
  }
  document.addEventListener("DOMContentLoaded", show);
  document.addEventListener("htmx:afterSettle", show);
})();
