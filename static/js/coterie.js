/* Coterie default theme: small progressive enhancements.
   Every page works without this file; it only makes things nicer:
   - forms with data-confirm ask before they submit;
   - the header menus (details/summary) close on Escape, outside clicks,
     and when another one opens;
   - the avatar file input previews the chosen picture and warns early
     about files that are too large;
   - after a failed submit, the first invalid field gets the focus;
   - flash messages can be dismissed. */
(function () {
  "use strict";

  var doc = document;
  doc.documentElement.classList.add("js");

  function ready(fn) {
    if (doc.readyState === "loading") doc.addEventListener("DOMContentLoaded", fn);
    else fn();
  }

  /* Ask before submitting forms marked with data-confirm. */
  doc.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) event.preventDefault();
  });

  /* Header menus. */
  function menus() {
    return Array.prototype.slice.call(doc.querySelectorAll("details[data-menu]"));
  }

  function closeMenus(except) {
    menus().forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }

  doc.addEventListener("toggle", function (event) {
    var menu = event.target;
    if (menu.matches && menu.matches("details[data-menu]") && menu.open) closeMenus(menu);
  }, true);

  doc.addEventListener("click", function (event) {
    var inside = event.target.closest && event.target.closest("details[data-menu]");
    closeMenus(inside);
  });

  doc.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    menus().forEach(function (menu) {
      if (!menu.open) return;
      menu.removeAttribute("open");
      var summary = menu.querySelector("summary");
      if (summary && menu.contains(doc.activeElement)) summary.focus();
    });
  });

  /* Avatar upload: preview and size check. */
  function setupAvatarUpload(form) {
    var input = form.querySelector('input[type="file"]');
    var preview = doc.querySelector(".avatar-preview");
    var holder = form.closest("[data-max-mb]");
    var maxMb = holder ? parseFloat(holder.getAttribute("data-max-mb")) : NaN;
    if (!input) return;

    var original = preview ? preview.getAttribute("src") : null;
    var reader = null;
    var message = doc.createElement("p");
    message.className = "field-error";
    message.id = (input.id || "file") + "-client-error";
    message.hidden = true;
    input.parentNode.appendChild(message);

    function describe(on) {
      var ids = (input.getAttribute("aria-describedby") || "").split(" ").filter(function (id) {
        return id && id !== message.id;
      });
      if (on) ids.push(message.id);
      if (ids.length) input.setAttribute("aria-describedby", ids.join(" "));
      else input.removeAttribute("aria-describedby");
    }

    function restore() {
      if (preview && original !== null) {
        preview.src = original;
        preview.alt = "Your current avatar";
      }
    }

    input.addEventListener("change", function () {
      var file = input.files && input.files[0];
      var problem = "";
      if (file && maxMb > 0 && file.size > maxMb * 1024 * 1024) {
        problem = "That file is larger than " + maxMb + " MB. Please choose a smaller one.";
      } else if (file && file.type && !/^image\/(jpeg|png|webp|gif)$/.test(file.type)) {
        problem = "Please choose a JPEG, PNG, WebP or GIF image.";
      }
      input.setCustomValidity(problem);
      message.textContent = problem;
      message.hidden = !problem;
      describe(!!problem);
      if (problem) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");

      if (!preview) return;
      if (reader) reader.abort();
      reader = null;
      if (!file || problem || !window.FileReader) {
        restore();
        return;
      }
      /* A data: URL, which the Content-Security-Policy allows for images
         (blob: URLs it does not). */
      reader = new FileReader();
      reader.addEventListener("load", function () {
        preview.src = String(reader.result);
        preview.alt = "Preview of your new avatar";
      });
      reader.readAsDataURL(file);
    });

    if (preview) {
      /* A picture the browser cannot show (e.g. an unusual format): go back. */
      preview.addEventListener("error", function () {
        if (original !== null && preview.getAttribute("src") !== original) restore();
      });
    }
  }

  /* Flash messages: a close button. */
  function setupFlash(flash) {
    var button = doc.createElement("button");
    button.type = "button";
    button.className = "flash__close";
    button.setAttribute("aria-label", "Dismiss message");
    button.textContent = "\u00D7";
    button.addEventListener("click", function () {
      var wrap = flash.closest(".flash-wrap") || flash;
      wrap.parentNode.removeChild(wrap);
    });
    flash.appendChild(button);
  }

  ready(function () {
    Array.prototype.forEach.call(doc.querySelectorAll("form.avatar-upload"), setupAvatarUpload);
    Array.prototype.forEach.call(doc.querySelectorAll(".flash"), setupFlash);

    /* After a failed submit, bring the first invalid field into view. */
    var invalid = doc.querySelector('[aria-invalid="true"]');
    if (invalid && !doc.querySelector("[autofocus]")) {
      invalid.focus({ preventScroll: true });
      invalid.scrollIntoView({ block: "center" });
    }
  });
})();
