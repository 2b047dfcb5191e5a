/* The menu's "Administracja" group (<details data-menu> in base.html): a disclosure list that opens and closes by
 * itself without JS (click, Enter or Space on its summary). With JS it also closes as a dropdown does: on Escape
 * (focus goes back to the summary), on a click elsewhere, and when focus leaves it.
 */
(function () {
  "use strict";

  function groups() { return document.querySelectorAll("details[data-menu]"); }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    groups().forEach(function (group) {
      if (group.open && group.contains(document.activeElement)) {
        group.open = false;
        group.querySelector("summary").focus();
        event.preventDefault();
      }
    });
  });

  document.addEventListener("click", function (event) {
    groups().forEach(function (group) {
      if (group.open && !group.contains(event.target)) { group.open = false; }
    });
  });

  document.addEventListener("focusin", function (event) {
    groups().forEach(function (group) {
      if (group.open && !group.contains(event.target)) { group.open = false; }
    });
  });
})();
