// Live updates without reload, under a CSP that allows no inline script: an
// element marked data-watch names a JSON endpoint and carries data-state. Every
// two seconds the script polls the endpoint; when the state it computes differs
// (a request filed or decided on any instance), it fetches the page again and
// swaps in the fresh element. Nothing the user is typing elsewhere is touched.
(function () {
  var el = document.querySelector('[data-watch]');
  if (!el) return;
  function state(j) {
    if (Array.isArray(j)) return j.map(function (r) { return r.id + ' '; }).join('');
    return j.status;
  }
  function refresh() {
    fetch(location.href, {credentials: 'same-origin'}).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (t) {
      if (!t) return;
      var fresh = new DOMParser().parseFromString(t, 'text/html').getElementById(el.id);
      if (!fresh) return;
      el.replaceChildren.apply(el, Array.from(fresh.childNodes));
      el.setAttribute('data-state', fresh.getAttribute('data-state'));
    });
  }
  setInterval(function () {
    fetch(el.getAttribute('data-watch'), {credentials: 'same-origin'}).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (j) {
      if (j !== null && state(j) !== el.getAttribute('data-state')) refresh();
    }).catch(function () {});
  }, 2000);
})();
