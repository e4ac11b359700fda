// Progressive enhancements only: every page works without this file.
document.addEventListener("DOMContentLoaded", () => {
  // Move keyboard focus to the error summary so screen readers announce it.
  const summary = document.getElementById("form-errors");
  if (summary) summary.focus();

  // Filters submit as you change them (the Apply button stays for keyboard and no-JS use).
  document.querySelectorAll("form[data-autosubmit] select").forEach((el) => {
    el.addEventListener("change", () => el.form.requestSubmit());
  });
});
