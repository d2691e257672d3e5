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

  doc.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !(form instanceof HTMLFormElement)) return;
    if (form.closest("[data-vote]")) vote(event, form);
    else if (form.hasAttribute("data-comment-form")) comment(event, form);
  });

  ready(function () {
    Array.prototype.forEach.call(doc.querySelectorAll("form.avatar-upload"), setupAvatarUpload);
    Array.prototype.forEach.call(doc.querySelectorAll(".flash"), setupFlash);
    /* Screen readers listen to a live region that is there before it speaks. */
    if (doc.querySelector("form[data-comment-form]")) liveRegion();

    /* After a failed submit, bring the first invalid field into view. */
    var invalid = doc.querySelector('[aria-invalid="true"]');
    if (invalid && !doc.querySelector("[autofocus]")) {
      invalid.focus({ preventScroll: true });
      invalid.scrollIntoView({ block: "center" });
    }
  });
})();
