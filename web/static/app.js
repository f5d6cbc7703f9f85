// Small behaviours without inline script (our CSP allows only files from this site).
document.addEventListener("DOMContentLoaded", function () {
  // Filters: a changed date/select submits the htmx form so the list updates in place.
  document.querySelectorAll("form[data-autosubmit] select, form[data-autosubmit] input[type=date]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.requestSubmit(); });
  });
});
