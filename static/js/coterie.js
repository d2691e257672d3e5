/* Coterie default theme: small progressive enhancements.
   Every page works without this file; it only makes things nicer:
   - forms with data-confirm ask before they submit;
   - the header menus (details/summary) close on Escape, outside clicks,
     and when another one opens;
   - the avatar file input previews the chosen picture and warns early
     about files that are too large;
   - after a failed submit, the first invalid field gets the focus;
   - flash messages can be dismissed;
   - votes are cast in place, and the score updates without a reload;
   - comments and replies post in place, appear in the thread, take the
     focus and are announced.
   - photo uploads show a progress bar while the files are sent, and
     errors in place.
   Votes and comments fall back to an ordinary form submit whenever the
   server answers something unexpected. */
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

  /* A polite live region for announcements (created once, kept empty
     until there is something to say). */
  var live = null;
  function liveRegion() {
    if (!live) {
      live = doc.createElement("div");
      live.className = "visually-hidden live-region";
      live.setAttribute("role", "status");
      live.setAttribute("aria-live", "polite");
      doc.body.appendChild(live);
    }
    return live;
  }
  function announce(text) {
    liveRegion().textContent = "";
    /* A moment later, so the change is noticed even for the same text. */
    window.setTimeout(function () { live.textContent = text; }, 120);
  }

  function csrfToken(form) {
    var input = form.querySelector('input[name="csrf_token"]');
    return input ? input.value : "";
  }

  /* Submits `form` the ordinary way, as if `button` had been clicked,
     without passing through the handlers below again. */
  function submitNormally(form, button) {
    if (button && button.name) {
      var carry = doc.createElement("input");
      carry.type = "hidden";
      carry.name = button.name;
      carry.value = button.value;
      form.appendChild(carry);
    }
    HTMLFormElement.prototype.submit.call(form);
  }

  function post(form, body) {
    return window.fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrfToken(form) },
      body: body
    });
  }

  /* Votes: each .vote form posts value 1, -1 or 0 from the clicked button. */
  function showVote(form, tally) {
    var score = form.querySelector(".score");
    var up = form.querySelector(".vote__button--up");
    var down = form.querySelector(".vote__button--down");
    var mine = Number(tally.mine) || 0;
    if (score && String(score.textContent) !== String(tally.score)) {
      score.textContent = String(tally.score);
      score.classList.remove("is-changed");
      void score.offsetWidth; /* restart the little animation */
      score.classList.add("is-changed");
    }
    if (up) {
      up.classList.toggle("is-active", mine === 1);
      up.setAttribute("aria-pressed", mine === 1 ? "true" : "false");
      up.value = mine === 1 ? "0" : "1";
    }
    if (down) {
      down.classList.toggle("is-active", mine === -1);
      down.setAttribute("aria-pressed", mine === -1 ? "true" : "false");
      down.value = mine === -1 ? "0" : "-1";
    }
  }

  function vote(event, form) {
    var button = event.submitter;
    if (!button || button.name !== "value" || !window.fetch || !window.URLSearchParams) return;
    event.preventDefault();
    if (form.getAttribute("aria-busy") === "true") return;
    var body = new URLSearchParams(new FormData(form));
    body.set("value", button.value);
    form.setAttribute("aria-busy", "true");
    post(form, body)
      .then(function (response) {
        if (!response.ok) throw new Error("vote " + response.status);
        return response.json();
      })
      .then(function (tally) {
        form.removeAttribute("aria-busy");
        showVote(form, tally);
      })
      .catch(function () {
        form.removeAttribute("aria-busy");
        submitNormally(form, button);
      });
  }

  /* Comments: forms marked data-comment-form post in place. */
  function formMessage(form, text) {
    var message = form.querySelector(".comment-form__error");
    var field = form.querySelector("textarea");
    if (!text) {
      if (message) message.parentNode.removeChild(message);
      if (field) {
        field.removeAttribute("aria-invalid");
        var rest = (field.getAttribute("aria-describedby") || "").split(" ").filter(function (id) {
          return id && (!message || id !== message.id);
        });
        if (rest.length) field.setAttribute("aria-describedby", rest.join(" "));
        else field.removeAttribute("aria-describedby");
      }
      return;
    }
    if (!message) {
      message = doc.createElement("p");
      message.className = "field-error comment-form__error";
      message.id = (field && field.id ? field.id : "comment") + "-error";
      message.setAttribute("role", "alert");
      var actions = form.querySelector(".form-actions");
      form.insertBefore(message, actions || null);
    }
    message.textContent = text;
    if (field) {
      field.setAttribute("aria-invalid", "true");
      var ids = (field.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      if (ids.indexOf(message.id) < 0) ids.push(message.id);
      field.setAttribute("aria-describedby", ids.join(" "));
      field.focus();
    }
  }

  function updateCount(delta) {
    var title = doc.getElementById("comments-title");
    if (!title) return;
    var n = parseInt(title.textContent, 10);
    if (isNaN(n)) return;
    n += delta;
    title.textContent = n + (n === 1 ? " comment" : " comments");
  }

  function insertComment(form, html) {
    var holder = doc.createElement("div");
    holder.innerHTML = String(html).trim();
    var item = holder.querySelector("li.comment");
    if (!item) return null;
    var parentInput = form.querySelector('input[name="parent"]');
    var parent = parentInput && parentInput.value ? doc.getElementById("comment-" + parentInput.value) : null;
    if (parent) {
      var replies = null;
      for (var i = 0; i < parent.children.length; i++) {
        if (parent.children[i].matches("ol.comments--replies")) replies = parent.children[i];
      }
      if (!replies) {
        replies = doc.createElement("ol");
        replies.className = "comments comments--replies";
        replies.setAttribute("role", "list");
        var more = null;
        for (var j = 0; j < parent.children.length; j++) {
          if (parent.children[j].matches(".comment__more")) more = parent.children[j];
        }
        parent.insertBefore(replies, more);
      }
      replies.appendChild(item);
    } else {
      var thread = form.closest(".thread");
      var list = (thread && thread.querySelector("ol[data-comments]")) || doc.querySelector("ol[data-comments]");
      if (!list) return null;
      if (list.getAttribute("data-sort") === "new") list.insertBefore(item, list.firstChild);
      else list.appendChild(item);
    }
    return item;
  }

  function comment(event, form) {
    if (!window.fetch || !window.URLSearchParams) return;
    event.preventDefault();
    if (form.getAttribute("aria-busy") === "true") return;
    var field = form.querySelector("textarea");
    if (field && !field.value.trim()) {
      /* The server would say the same; no need to ask it. */
      formMessage(form, "Write something first.");
      return;
    }
    var button = event.submitter || form.querySelector('button[type="submit"]');
    var body = new URLSearchParams(new FormData(form));
    form.setAttribute("aria-busy", "true");
    if (button) button.disabled = true;
    function done() {
      form.removeAttribute("aria-busy");
      if (button) button.disabled = false;
    }
    var posted = null;
    post(form, body)
      .then(function (response) {
        if (response.status === 422) {
          return response.json().then(function (answer) {
            done();
            formMessage(form, answer && answer.error ? answer.error : "That comment could not be posted.");
          });
        }
        if (!response.ok) throw new Error("comment " + response.status);
        return response.json().then(function (answer) {
          posted = answer.id;
          var item = insertComment(form, answer.html);
          if (!item) {
            /* Posted, but this page has no place for it: show it on its own. */
            window.location.assign("/comments/" + encodeURIComponent(answer.id));
            return;
          }
          done();
          formMessage(form, "");
          if (field) field.value = "";
          var reply = form.closest("details");
          if (reply) reply.open = false;
          updateCount(1);
          item.classList.add("is-new");
          item.setAttribute("tabindex", "-1");
          item.focus({ preventScroll: true });
          var still = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
          item.scrollIntoView({ block: "center", behavior: still ? "auto" : "smooth" });
          announce(reply ? "Your reply is posted." : "Your comment is posted.");
        });
      })
      .catch(function () {
        done();
        /* Never post twice: once the server has the comment, go and see it. */
        if (posted) window.location.assign("/comments/" + encodeURIComponent(posted));
        else submitNormally(form, null);
      });
  }

  /* Photo uploads: the same multipart form, sent with XMLHttpRequest,
     which (unlike fetch) reports how much of the body has gone. */
  function formatBytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1024 * 1024) return Math.round(n / 1024) + " KB";
    return (n / (1024 * 1024)).toFixed(1) + " MB";
  }

  var UPLOAD_FAILED = {
    0: "The upload did not get through. Check your connection and try again.",
    413: "That is more than the site takes in one upload. Try fewer or smaller files.",
    429: "You have uploaded a lot just now. Please wait a few minutes and try again."
  };

  /* What went wrong, in the words of the server's error page when it has some. */
  function uploadFailure(xhr, page) {
    if (UPLOAD_FAILED[xhr.status]) return UPLOAD_FAILED[xhr.status];
    var said = page && page.querySelector(".error-page .lead");
    var text = said ? said.textContent.trim() : "";
    return text || "The upload did not go through (error " + xhr.status + "). Please try again.";
  }

  /* The form as the server re-rendered it with its errors takes the place
     of this one. Files chosen stay chosen unless a file was the problem. */
  function showRefusal(form, fresh) {
    var next = doc.importNode(fresh, true);
    var before = form.querySelector('input[type="file"]');
    var after = next.querySelector('input[type="file"]');
    var fileRefused = after && after.getAttribute("aria-invalid") === "true";
    form.parentNode.replaceChild(next, form);
    if (before && after && !fileRefused && before.files && before.files.length) {
      try { after.files = before.files; } catch (e) { /* an older browser: choose again */ }
    }
    var invalid = next.querySelector('[aria-invalid="true"]');
    var message = next.querySelector(".field-error, .form-error:not([hidden])");
    if (invalid) {
      invalid.focus({ preventScroll: true });
      invalid.scrollIntoView({ block: "center" });
    }
    announce("Not uploaded. " + (message ? message.textContent.trim() : "Please check the form."));
  }

  function upload(event, form) {
    var panel = form.querySelector("[data-upload-progress]");
    if (!panel || !window.XMLHttpRequest || !window.FormData || !window.DOMParser) return;
    event.preventDefault();
    if (form.getAttribute("aria-busy") === "true") return;
    var bar = panel.querySelector("progress");
    var label = panel.querySelector("[data-upload-label]");
    var percent = panel.querySelector("[data-upload-percent]");
    var sent = panel.querySelector("[data-upload-bytes]");
    var cancel = panel.querySelector("[data-upload-cancel]");
    var failure = form.querySelector("[data-upload-error]");
    var button = form.querySelector('button[type="submit"]');
    var xhr = new XMLHttpRequest();
    var quarter = 0;
    var total = 0;

    function busy(on) {
      if (on) form.setAttribute("aria-busy", "true");
      else form.removeAttribute("aria-busy");
      if (button) button.disabled = on;
      panel.hidden = !on;
      if (cancel) cancel.hidden = !on;
    }
    function show(loaded) {
      bar.max = total;
      bar.value = loaded;
      var p = Math.min(100, Math.floor((loaded * 100) / total));
      bar.textContent = p + "%";
      percent.textContent = p + "%";
      sent.textContent = formatBytes(loaded) + " of " + formatBytes(total) + " sent";
      /* Say the quarters aloud, not every step. */
      if (Math.floor(p / 25) > quarter && p < 100) {
        quarter = Math.floor(p / 25);
        announce(p + "% sent.");
      }
    }
    function fail(text) {
      busy(false);
      if (failure) {
        failure.textContent = text;
        failure.hidden = false;
      } else {
        announce(text);
      }
      if (button) button.focus();
    }

    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable && e.total > 0) {
        total = e.total;
        show(e.loaded);
      } else {
        bar.removeAttribute("value");
      }
    });
    xhr.upload.addEventListener("load", function () {
      if (total) show(total);
      else bar.value = bar.max;
      label.textContent = "Preparing your photos";
      if (cancel) cancel.hidden = true;
      announce("All sent. Preparing your photos.");
    });
    xhr.addEventListener("load", function () {
      var type = xhr.getResponseHeader("Content-Type") || "";
      if (xhr.status === 200 && type.indexOf("application/json") === 0) {
        var answer = null;
        try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = null; }
        if (answer && answer.location) {
          window.location.assign(answer.location);
          return;
        }
      }
      /* A redirect the request followed itself: go where it led. */
      if (xhr.status === 200 && xhr.responseURL && xhr.responseURL !== form.action) {
        window.location.assign(xhr.responseURL);
        return;
      }
      var page = type.indexOf("text/html") === 0 ? new DOMParser().parseFromString(xhr.responseText, "text/html") : null;
      var fresh = xhr.status === 422 && page ? page.querySelector("form.photo-upload") : null;
      if (fresh) showRefusal(form, fresh);
      else fail(uploadFailure(xhr, page));
    });
    xhr.addEventListener("error", function () { fail(UPLOAD_FAILED[0]); });
    xhr.addEventListener("abort", function () {
      busy(false);
      announce("Upload cancelled.");
      if (button) button.focus();
    });
    if (cancel) {
      cancel.onclick = function () { xhr.abort(); };
    }

    var body = new FormData(form);
    if (failure) failure.hidden = true;
    label.textContent = "Uploading";
    bar.max = 100;
    bar.value = 0;
    percent.textContent = "0%";
    sent.textContent = "";
    busy(true);
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json, text/html;q=0.9");
    xhr.setRequestHeader("X-CSRF-Token", csrfToken(form));
    xhr.send(body);
    var files = form.querySelector('input[type="file"]');
    var count = files && files.files ? files.files.length : 0;
    announce("Uploading " + (count === 1 ? "1 file." : count + " files."));
  }

  /* Files chosen anew: the refusal of the last ones no longer applies. */
  doc.addEventListener("change", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches('form.photo-upload input[type="file"]')) return;
    var error = input.id ? doc.getElementById(input.id + "-error") : null;
    if (error) error.parentNode.removeChild(error);
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
    var field = input.closest(".field");
    if (field) field.classList.remove("field--invalid");
  });

  doc.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !(form instanceof HTMLFormElement)) return;
    if (form.closest("[data-vote]")) vote(event, form);
    else if (form.hasAttribute("data-comment-form")) comment(event, form);
    else if (form.classList.contains("photo-upload")) upload(event, form);
  });

  ready(function () {
    Array.prototype.forEach.call(doc.querySelectorAll("form.avatar-upload"), setupAvatarUpload);
    Array.prototype.forEach.call(doc.querySelectorAll(".flash"), setupFlash);
    /* Screen readers listen to a live region that is there before it speaks. */
    if (doc.querySelector("form[data-comment-form], form.photo-upload")) liveRegion();

    /* After a failed submit, bring the first invalid field into view. */
    var invalid = doc.querySelector('[aria-invalid="true"]');
    if (invalid && !doc.querySelector("[autofocus]")) {
      invalid.focus({ preventScroll: true });
      invalid.scrollIntoView({ block: "center" });
    }
  });
})();
