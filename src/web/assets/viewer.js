// The audit log viewer works without this script; it only makes a few things quicker.
(function () {
  "use strict";
  // The time range: the custom dates matter only for "custom".
  var range = document.getElementById("range");
  var custom = document.querySelectorAll("[data-custom-range]");
  function sync() {
    var on = !range || range.value === "" || range.value === "custom";
    for (var i = 0; i < custom.length; i++) {
      custom[i].hidden = !on;
    }
  }
  if (range) {
    range.addEventListener("change", sync);
    sync();
  }
  // Offer the browser's own zone when the page shows UTC.
  var tz = document.getElementById("tz");
  if (tz && !tz.value && window.Intl && Intl.DateTimeFormat) {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone) {
      tz.placeholder = zone;
    }
  }
})();
