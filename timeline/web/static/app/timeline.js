// The sliders: move the world date (as_of) or what the store knew (known_at), and the page
// asks the server for the timeline body on that basis, without reloading. The URL follows,
// so it is always a permalink.
"use strict";
(function () {
  const form = document.querySelector("form.sliders");
  if (!form) return;
  const stream = form.dataset.stream;
  const start = new Date(form.dataset.start + "T00:00:00Z");
  const instants = (form.dataset.instants || "").split(" ").filter(Boolean);
  const asOf = document.getElementById("as-of");
  const knownAt = document.getElementById("known-at");
  const asOfOut = document.getElementById("as-of-value");
  const knownOut = document.getElementById("known-at-value");
  const since = document.getElementById("since");
  const body = document.getElementById("timeline-body");
  let asked = 0;

  function day() {
    const d = new Date(start.getTime() + Number(asOf.value) * 86400000);
    return d.toISOString().slice(0, 10);
  }
  function known() {
    const i = Number(knownAt.value);
    return i >= instants.length - 1 ? null : instants[i];
  }
  function query() {
    const q = new URLSearchParams({ as_of: day() });
    const k = known();
    if (k) q.set("known_at", k);
    if (since.value) q.set("since", since.value);
    return q;
  }
  async function refresh() {
    const q = query();
    asOfOut.textContent = q.get("as_of");
    asOf.setAttribute("aria-valuetext", q.get("as_of"));
    knownOut.textContent = known() || "now";
    knownAt.setAttribute("aria-valuetext", known() || "now");
    const mine = ++asked;
    const url = "/partnerships/" + stream + "/timeline?" + q.toString();
    const answer = await fetch(url + "&part=body", { headers: { Accept: "text/html" } });
    if (mine !== asked || !answer.ok) return; // a later move already asked again
    body.innerHTML = await answer.text();
    history.replaceState(null, "", url);
    document.getElementById("permalink").setAttribute("href", url);
    q.delete("since");
    document.getElementById("json").setAttribute("href", "/partnerships/" + stream + "?" + q);
  }
  asOf.addEventListener("input", refresh);
  knownAt.addEventListener("input", refresh);
  since.addEventListener("change", refresh);
})();
