// The trace view's behaviour: open the span named in the URL's fragment
// (/trace/<id>#<span id>), expand or collapse every span, and reload the
// search form when its service changes (to list that service's operations).
"use strict";

function openNamedSpan() {
  const id = decodeURIComponent(location.hash.slice(1));
  const span = id && document.getElementById(id);
  if (span && span.tagName === "DETAILS") {
    span.open = true;
    span.scrollIntoView({ block: "center" });
  }
}

function setAll(open) {
  for (const span of document.querySelectorAll("details.span")) span.open = open;
}

document.addEventListener("DOMContentLoaded", () => {
  openNamedSpan();
  window.addEventListener("hashchange", openNamedSpan);
  const expand = document.getElementById("expand");
  const collapse = document.getElementById("collapse");
  if (expand) expand.addEventListener("click", () => setAll(true));
  if (collapse) collapse.addEventListener("click", () => setAll(false));
  const service = document.getElementById("service");
  if (service) {
    service.addEventListener("change", () => {
      service.form.elements.operation.value = "";
      service.form.submit();
    });
  }
});
