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
  const shown = (key) => { const el = document.getElementById("q-" + key); return !el || !el.hidden; };
  const holds = (cond) => {
    if (cond.all) return cond.all.every(holds);
    if (cond.any) return cond.any.some(holds);
    if (cond.not) return !holds(cond.not);
    if (!("question" in cond)) return false;
    if (!shown(cond.question)) return false;
    const value = answerOf(cond.question);
    const answered = Array.isArray(value) ? value.length > 0 : value !== undefined && value !== "";
    if ("answered" in cond) return answered === Boolean(cond.answered);
    if ("equals" in cond) return value === cond.equals;
    if ("in" in cond) return cond.in.includes(value);
    if ("includes" in cond) return Array.isArray(value) && value.includes(cond.includes);
    return false;
  };
  const refreshConditions = () => {
    document.querySelectorAll("[data-show-if]").forEach((block) => {
      block.hidden = !holds(JSON.parse(block.dataset.showIf));
    });
  };

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
  let inFlight = false;
  const saved = localStorage.getItem(draftKey);
  if (saved) {
    try {
      const draft = JSON.parse(saved);
      if (draft.revision === revision.value) {
        restore(draft.values);
        status.textContent = "Restored answers typed in this browser that had not reached the server yet.";
        schedule();
      } else {
        localStorage.removeItem(draftKey);
      }
    } catch (e) { localStorage.removeItem(draftKey); }
  }
  refreshConditions();

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(save, 1200);
  }
  async function save() {
    if (inFlight) { schedule(); return; }
    inFlight = true;
    const body = new FormData(form);
    for (const el of fields()) if (el.type === "file") body.delete(el.name);
    // Unchecked checkboxes send nothing; say which multiple-choice questions are on the page.
    status.textContent = "Saving…";
    try {
      const response = await fetch(window.location.pathname, {
        method: "POST", body, headers: { "X-Autosave": "1" }, credentials: "same-origin",
      });
      const reply = await response.json();
      if (response.ok) {
        revision.value = reply.revision;
        localStorage.removeItem(draftKey);
        status.textContent = `All changes saved at ${reply.saved_at}.`;
        (reply.progress || []).forEach((s) => {
          const badge = document.querySelector(`[data-progress="${s.key}"]`);
          if (badge) badge.textContent = `${s.answered}/${s.shown}`;
        });
        document.querySelectorAll(".question .invalid-feedback.js-error").forEach((el) => el.remove());
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
    } finally {
      inFlight = false;
    }
  }
  const changed = (event) => {
    if (!event.target.name || !event.target.name.startsWith("q-") || event.target.type === "file") return;
    localStorage.setItem(draftKey, JSON.stringify({ revision: revision.value, values: snapshot() }));
    refreshConditions();
    schedule();
  };
  document.addEventListener("input", changed);
  document.addEventListener("change", changed);
  form.addEventListener("submit", () => { clearTimeout(timer); localStorage.removeItem(draftKey); });
});
