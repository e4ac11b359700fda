// Assessment sections: save as you type, keep a copy in this browser until the server has it,
// show conditional questions, add table rows. The form works without any of this.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("answers");
  if (!form) return;
  const status = document.getElementById("autosave-status");
  const revision = document.getElementById("revision");
  const draftKey = form.dataset.draftKey;
  const fields = () => Array.from(form.elements).filter((el) => el.name && el.name.startsWith("q-"));

  // Conditional questions ----------------------------------------------------------------------
  const answerOf = (key) => {
    const els = fields().filter((el) => el.name === "q-" + key);
    if (!els.length) return undefined;
    if (els[0].type === "checkbox") return els.filter((el) => el.checked).map((el) => el.value);
    if (els[0].type === "radio") { const c = els.find((el) => el.checked); return c ? c.value : ""; }
    return els[0].value;
  };
  const onPage = (key) => Boolean(document.getElementById("q-" + key));
  const shown = (key) => { const el = document.getElementById("q-" + key); return !el || !el.hidden; };
  // true, false, or null when it depends on a question on another page: the server decided
  // those when it drew this page, so their state is kept.
  const holds = (cond) => {
    if (cond.all) {
      const parts = cond.all.map(holds);
      return parts.includes(false) ? false : parts.includes(null) ? null : true;
    }
    if (cond.any) {
      const parts = cond.any.map(holds);
      return parts.includes(true) ? true : parts.includes(null) ? null : false;
    }
    if (cond.not) { const inner = holds(cond.not); return inner === null ? null : !inner; }
    if (!("question" in cond)) return null;
    if (!onPage(cond.question)) return null;
    if (!shown(cond.question)) return false;
    const value = answerOf(cond.question);
    // No control to read (a read-only page shows answers as text): the server decided.
    if (value === undefined) return null;
    const answered = Array.isArray(value) ? value.length > 0 : value !== undefined && value !== "";
    if ("answered" in cond) return answered === Boolean(cond.answered);
    if ("equals" in cond) return value === cond.equals;
    if ("in" in cond) return cond.in.includes(value);
    if ("includes" in cond) return Array.isArray(value) && value.includes(cond.includes);
    return false;
  };
  const refreshConditions = () => {
    document.querySelectorAll("[data-show-if]").forEach((block) => {
      const result = holds(JSON.parse(block.dataset.showIf));
      if (result !== null) block.hidden = !result;
    });
  };

  // "None of these" and the like stand alone: ticking one clears the others, and back.
  document.addEventListener("change", (event) => {
    const box = event.target;
    if (box.type !== "checkbox" || !box.checked || !box.name.startsWith("q-")) return;
    const group = fields().filter((el) => el.name === box.name && el !== box);
    group.forEach((el) => {
      if (box.hasAttribute("data-exclusive") || el.hasAttribute("data-exclusive")) el.checked = false;
    });
  });

  // The overall rating of a risk row, from the template's matrix, as likelihood and severity change.
  document.addEventListener("change", (event) => {
    const name = event.target.name || "";
    if (!/-(likelihood|severity)$/.test(name)) return;
    const table = event.target.closest("[data-matrix]");
    const row = event.target.closest("[data-row]");
    if (!table || !row) return;
    const pick = (suffix) => (row.querySelector(`select[name$="-${suffix}"]`) || {}).value;
    const rating = (JSON.parse(table.dataset.matrix)[pick("likelihood")] || {})[pick("severity")];
    const badge = row.querySelector("[data-overall]");
    badge.className = `badge badge-rating-${rating || "none"}`;
    badge.textContent = rating ? rating[0].toUpperCase() + rating.slice(1) : "—";
  });

  // Adding rows to risk tables and evidence lists ------------------------------------------------
  document.querySelectorAll("[data-add-row]").forEach((button) => {
    button.addEventListener("click", () => {
      const container = document.querySelector(`[data-rows="${button.dataset.addRow}"]`);
      const rows = container.querySelectorAll("[data-row]");
      const last = rows[rows.length - 1];
      const next = rows.length;
      const copy = last.cloneNode(true);
      const prefix = button.dataset.addRow + "-";
      copy.querySelectorAll("[name],[id],[for]").forEach((el) => {
        ["name", "id", "for"].forEach((attr) => {
          const v = el.getAttribute(attr);
          if (v && v.startsWith(prefix)) el.setAttribute(attr, v.replace(/^(.*?-)(\d+)(-.*)$/, `$1${next}$3`));
        });
        if (el.tagName === "LABEL") el.textContent = el.textContent.replace(/\d+$/, String(next + 1));
        if (el.tagName === "SELECT") el.selectedIndex = 0;
        else if (el.type === "checkbox") el.checked = false;
        else if ("value" in el && el.type !== "hidden") el.value = "";
      });
      last.parentNode.appendChild(copy);
      const first = copy.querySelector("textarea,input:not([type=hidden]),select");
      if (first) first.focus();
    });
  });

  if (!form.hasAttribute("data-autosave")) { refreshConditions(); return; }

  // A copy in this browser, kept until the server confirms it has the answers ------------------
  const snapshot = () => {
    const data = {};
    fields().forEach((el) => {
      if (el.type === "file") return;
      if (el.type === "checkbox" || el.type === "radio") { if (el.checked) (data[el.name] ||= []).push(el.value); }
      else data[el.name] = el.value;
    });
    return data;
  };
  const restore = (data) => {
    fields().forEach((el) => {
      if (el.type === "file" || !(el.name in data) && el.type !== "checkbox" && el.type !== "radio") return;
      if (el.type === "checkbox" || el.type === "radio") el.checked = (data[el.name] || []).includes(el.value);
      else el.value = data[el.name];
    });
  };
  let timer = null;
  let current = null; // the save under way, if any
  let edits = 0; // changes typed so far; a save only clears the copy if none came since
  let submitting = false;
  // The answers as the server last had them, so a copy can tell what the person changed.
  let baseline = snapshot();
  const keep = (extra = {}) => localStorage.setItem(draftKey, JSON.stringify(
    { revision: revision.value, values: snapshot(), base: baseline, ...extra }));
  const changedIn = (draft) => {
    const names = new Set([...Object.keys(draft.values || {}), ...Object.keys(draft.base || {})]);
    const changed = {};
    names.forEach((n) => {
      if (JSON.stringify(draft.values[n]) !== JSON.stringify((draft.base || {})[n])) {
        changed[n] = draft.values[n] === undefined ? [] : draft.values[n];
      }
    });
    return changed;
  };
  const restoreOnly = (values) => {
    fields().forEach((el) => {
      if (el.type === "file" || !(el.name in values)) return;
      if (el.type === "checkbox" || el.type === "radio") el.checked = (values[el.name] || []).includes(el.value);
      else el.value = values[el.name];
    });
  };
  const saved = localStorage.getItem(draftKey);
  if (saved) {
    try {
      const draft = JSON.parse(saved);
      const confirmed = new URLSearchParams(window.location.search).get("saved") || form.dataset.savedNonce;
      if (draft.submitted && draft.submitted === confirmed) {
        // The Save button posted these and this page is the server's answer to it: saved,
        // or shown back with what was wrong.
        localStorage.removeItem(draftKey);
      } else if (draft.revision === revision.value) {
        restore(draft.values);
        status.textContent = "Restored answers typed in this browser that had not reached the server yet.";
        schedule();
      } else {
        // Someone saved since: never drop the copy silently; offer back only what this
        // person changed, so a colleague's newer answers elsewhere on the page stay.
        const mine = changedIn(draft);
        if (Object.keys(mine).length) {
          status.textContent = "Answers you typed here earlier did not reach the server, and the assessment has changed since. ";
          const button = document.createElement("button");
          button.type = "button";
          button.className = "btn btn-sm btn-outline-primary";
          button.textContent = "Bring back my unsaved answers";
          button.addEventListener("click", () => {
            restoreOnly(mine);
            refreshConditions();
            keep();
            status.textContent = "Your earlier answers are back in the form; the rest is as it is now.";
            schedule();
          });
          status.appendChild(button);
        } else {
          localStorage.removeItem(draftKey);
        }
      }
    } catch (e) { localStorage.removeItem(draftKey); }
  }
  refreshConditions();

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(save, 1200);
  }
  function save() {
    if (current) { schedule(); return current; }
    current = send().finally(() => { current = null; });
    return current;
  }
  async function send() {
    const startedAt = edits;
    const sent = snapshot();
    const body = new FormData(form);
    for (const el of fields()) if (el.type === "file") body.delete(el.name);
    status.classList.remove("text-danger");
    status.textContent = "Saving…";
    try {
      const response = await fetch(window.location.pathname, {
        method: "POST", body, headers: { "X-Autosave": "1" }, credentials: "same-origin",
      });
      const reply = await response.json();
      clearTimeout(retry);
      retry = null;
      if (response.ok) {
        revision.value = reply.revision;
        baseline = sent;
        if (edits === startedAt) localStorage.removeItem(draftKey);
        else keep();
        status.textContent = `All changes saved at ${reply.saved_at}.`;
        (reply.progress || []).forEach((s) => {
          const badge = document.querySelector(`[data-progress="${s.key}"]`);
          if (badge) badge.textContent = `${s.answered}/${s.shown}`;
        });
      } else if (response.status === 409) {
        const names = reply.conflict.map((c) => `${c.label} (by ${c.by || "someone"})`).join("; ");
        status.textContent = `Not saved: someone else saved this assessment meanwhile (${names}). Press Save to see their changes next to yours; your answers stay here.`;
        status.classList.add("text-danger");
      } else if (response.status === 400 && reply.errors) {
        status.textContent = "Not saved yet: " + Object.values(reply.errors).join(" ");
      } else {
        status.textContent = "Not saved: the server answered " + response.status + ". Your answers stay in this browser.";
      }
    } catch (e) {
      status.textContent = "Offline: your answers are kept in this browser and will be saved when you are back.";
      retryLater();
    }
  }
  // After a failed save: try again when the browser says the network is back, and every
  // few seconds meanwhile (the "online" event does not fire when only the server was away).
  let retry = null;
  function retryLater() {
    clearTimeout(retry);
    retry = setTimeout(save, 5000);
  }
  window.addEventListener("online", () => { if (retry) { clearTimeout(retry); retry = null; save(); } });
  const changed = (event) => {
    if (!event.target.name || !event.target.name.startsWith("q-") || event.target.type === "file") return;
    edits += 1;
    keep();
    refreshConditions();
    schedule();
  };
  document.addEventListener("input", changed);
  document.addEventListener("change", changed);
  form.addEventListener("submit", (event) => {
    clearTimeout(timer);
    if (submitting) { event.preventDefault(); return; }
    submitting = true;
    // Buttons go grey once this submission has left (a disabled button would drop its own
    // name, "next", from the very submission it started).
    setTimeout(() => {
      document.querySelectorAll('button[form="answers"]').forEach((b) => { b.disabled = true; });
    }, 0);
    const nonce = Math.random().toString(36).slice(2, 12);
    let field = form.querySelector('input[name="draft_nonce"]');
    if (!field) {
      field = document.createElement("input");
      field.type = "hidden";
      field.name = "draft_nonce";
      form.appendChild(field);
    }
    field.value = nonce;
    keep({ submitted: nonce });
    if (current) {
      // Wait for the save under way, so this one carries the revision it produced and is
      // not refused as someone else's change.
      event.preventDefault();
      const submitter = event.submitter;
      current.then(() => {
        if (submitter && submitter.name) {
          const extra = document.createElement("input");
          extra.type = "hidden";
          extra.name = submitter.name;
          extra.value = submitter.value;
          form.appendChild(extra);
        }
        form.submit();
      });
    }
  });
});
