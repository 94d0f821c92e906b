// The booking page's keyboard flow (progressive: without script the form still works).
// - a searchable procedure picker: typing filters the list in the page (no request per
//   key or arrow); Enter or a click picks, and only then are the free slots fetched;
// - Alt+F (or f outside a text field): first free slot; Alt+N / Alt+P (n / p): next /
//   previous day; Enter on a slot books it;
// - after each partial update focus returns where the user was (same element id), or
//   to the first free slot when that was asked for.
(function () {
  "use strict";

  function typing(target) {
    return target && (target.tagName === "TEXTAREA" || target.tagName === "SELECT" ||
      (target.tagName === "INPUT" && !["radio", "checkbox", "button", "submit"].includes(target.type)));
  }

  function click(selector) {
    var element = document.querySelector(selector);
    if (element) { element.click(); return true; }
    return false;
  }

  function setUpPicker(root) {
    var picker = root.querySelector("[data-picker]");
    if (!picker || picker.dataset.ready) return;
    picker.dataset.ready = "1";
    var select = picker.querySelector("select");
    var input = picker.querySelector("input[type=search]");
    var list = picker.querySelector("[role=listbox]");
    picker.classList.add("enhanced");
    select.hidden = true;
    input.hidden = false;
    var options = Array.prototype.slice.call(list.querySelectorAll("[role=option]"));
    var active = -1;
    if (input.hasAttribute("autofocus")) input.focus();

    function shown() { return options.filter(function (o) { return !o.hidden; }); }
    function highlight(index) {
      var visible = shown();
      options.forEach(function (o) { o.setAttribute("aria-selected", "false"); });
      if (!visible.length) { active = -1; input.removeAttribute("aria-activedescendant"); return; }
      active = Math.max(0, Math.min(index, visible.length - 1));
      visible[active].setAttribute("aria-selected", "true");
      input.setAttribute("aria-activedescendant", visible[active].id);
      visible[active].scrollIntoView({ block: "nearest" });
    }
    function open() { list.hidden = false; input.setAttribute("aria-expanded", "true"); }
    function close() { list.hidden = true; input.setAttribute("aria-expanded", "false"); }
    function filter() {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      options.forEach(function (o) {
        var text = o.textContent.toLowerCase();
        o.hidden = !words.every(function (w) { return text.indexOf(w) >= 0; });
      });
      open();
      highlight(0);
    }
    function choose(option) {
      if (!option) return;
      input.value = option.textContent;
      close();
      if (select.value !== option.dataset.value) {
        select.value = option.dataset.value;
        select.dispatchEvent(new Event("change", { bubbles: true }));
      }
    }
    // Only a pick fetches the slots: the text field's own change never reaches htmx.
    input.addEventListener("change", function (event) { event.stopPropagation(); });
    input.addEventListener("input", filter);
    input.addEventListener("focus", function () { if (!select.value) { filter(); } });
    input.addEventListener("keydown", function (event) {
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      if (event.key === "ArrowDown") { event.preventDefault(); open(); highlight(active + 1); }
      else if (event.key === "ArrowUp") { event.preventDefault(); open(); highlight(active - 1); }
      else if (event.key === "Enter") { event.preventDefault(); if (!list.hidden) choose(shown()[active]); }
      else if (event.key === "Escape") { close(); }
    });
    list.addEventListener("mousedown", function (event) {
      var option = event.target.closest("[role=option]");
      if (option) { event.preventDefault(); choose(option); }
    });
    input.addEventListener("blur", close);
  }

  var refocus = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var active = document.activeElement;
    refocus = {
      id: active && active.id,
      first: !!(event.detail.elt && event.detail.elt.id === "first-free"),
    };
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    setUpPicker(document);
    if (!refocus) return;
    var target = refocus.first ? document.querySelector("[data-autofocus]") : null;
    if (!target && refocus.id) target = document.getElementById(refocus.id);
    if (!target && refocus.id === "procedure-search") target = document.querySelector("#procedure-search");
    if (target) target.focus();
    refocus = null;
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key === "Enter" && target.name === "slot" && target.type === "radio") {
      event.preventDefault();
      target.checked = true;
      var form = target.form;
      var book = form && form.querySelector("button[name=book]");
      if (form) { form.requestSubmit(book || undefined); }
      return;
    }
    if (event.ctrlKey || event.metaKey) return;
    var key = event.key.toLowerCase();
    var plain = !event.altKey && !typing(target);
    var chord = event.altKey;
    if (!(plain || chord)) return;
    var code = event.code;
    var done = false;
    var link = plain && document.querySelector('a[data-shortcut="' + key + '"]');
    if (link) { link.click(); event.preventDefault(); return; }
    if (key === "f" || code === "KeyF") done = click("#first-free");
    else if (key === "n" || code === "KeyN") done = click("button[name=move][value=next]");
    else if (key === "p" || code === "KeyP") done = click("button[name=move][value=previous]");
    if (done) event.preventDefault();
  });

  document.addEventListener("DOMContentLoaded", function () {
    setUpPicker(document);
    var first = document.querySelector("[data-autofocus]");
    if (first) first.focus();
  });
})();
