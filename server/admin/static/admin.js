/* Page behaviour asked for with data- attributes: the admin pages' Content-Security-Policy
   allows scripts from this origin only, so no onclick= / onsubmit= / javascript: in templates.
     <button data-print>             prints the page
     <a data-back>                   goes back one page
     <button data-confirm="…">       asks before the click submits
     <form data-confirm="…">         asks before the form is submitted */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) { return; }
    if (target.closest("[data-print]")) {
      event.preventDefault();
      window.print();
      return;
    }
    if (target.closest("a[data-back]")) {
      event.preventDefault();
      window.history.back();
      return;
    }
    var button = target.closest("button[data-confirm], input[data-confirm]");
    if (button && !window.confirm(button.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.hasAttribute("data-confirm") &&
        !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });
}());
