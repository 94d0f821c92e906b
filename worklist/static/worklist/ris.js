// The pages' few behaviours, from a file: the Content-Security-Policy allows no inline
// script, event handler attribute or eval (htmx's allowEval is off in base.html).
"use strict";

// <button data-print>: print the page.
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-print]")) {
    window.print();
  }
});

// An element polling with hx-trigger="every Ns" and data-poll-seconds asks only while
// the page is visible (a trigger filter would need eval).
document.addEventListener("htmx:beforeRequest", function (event) {
  var element = event.detail.elt;
  var polling = element && element.hasAttribute && element.hasAttribute("data-poll-seconds");
  if (polling && document.visibilityState !== "visible") {
    event.preventDefault();
  }
});
