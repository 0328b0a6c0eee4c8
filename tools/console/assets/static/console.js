// Live updates: re-fetch the page every few seconds and swap the element marked
// data-live, so requests filed or decided on any instance appear without reload.
(function () {
  var el = document.querySelector('[data-live]');
  if (!el) return;
  setInterval(function () {
    fetch(el.getAttribute('data-live'), {credentials: 'same-origin'}).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (t) {
      if (!t) return;
      var doc = new DOMParser().parseFromString(t, 'text/html');
      var fresh = doc.getElementById(el.id);
      if (fresh) el.replaceChildren.apply(el, Array.from(fresh.childNodes));
    });
  }, 2000);
})();
