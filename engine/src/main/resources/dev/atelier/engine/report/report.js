// Marks every image with whether the browser could load it (data-loaded, data-natural-width,
// data-natural-height) and puts a visible note beside each one that failed, so a reader sees a
// broken picture at once and a test can read the result from the DOM. It runs on the window's
// load event, which comes after every image has loaded or failed; it does not wait for anything
// else, so a headless browser's DOM dump always has its result.
(function () {
  "use strict";
  window.addEventListener("load", function () {
    var images = document.images, failed = 0;
    for (var i = 0; i < images.length; i++) {
      var img = images[i];
      var ok = img.complete && img.naturalWidth > 0 && img.naturalHeight > 0;
      img.dataset.loaded = ok ? "true" : "false";
      img.dataset.naturalWidth = String(img.naturalWidth);
      img.dataset.naturalHeight = String(img.naturalHeight);
      if (!ok) {
        failed++;
        var note = document.createElement("span");
        note.className = "img-failed";
        note.textContent = "image failed: " + (img.dataset.file || img.alt || "?");
        img.insertAdjacentElement("afterend", note);
      }
    }
    document.body.dataset.imagesChecked = String(images.length);
    document.body.dataset.imagesFailed = String(failed);
    if (failed > 0) {
      document.body.classList.add("has-failed-images");
    }
  });
})();
