// Live progress on a campaign's page while it is being sent: polls the JSON API every second and
// updates the counts; reloads the page once nothing is open any more (the rows then show it).
// Without JavaScript the page refreshes itself every 5 s instead (<noscript> in the layout).
(function () {
  'use strict';
  var box = document.getElementById('progress');
  if (!box || box.getAttribute('data-live') !== '1') return;
  var id = box.getAttribute('data-campaign');
  var set = function (elId, v) {
    var el = document.getElementById(elId);
    if (el) el.textContent = String(v);
  };
  var tick = function () {
    fetch('/api/campaigns/' + encodeURIComponent(id) + '/progress', { credentials: 'same-origin', headers: { accept: 'application/json' } })
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      })
      .then(function (p) {
        set('sent-count', p.sent);
        set('total-count', p.total);
        set('failed-count', p.failed);
        set('open-count', p.open);
        set('campaign-state', p.campaignState);
        var bar = document.getElementById('progress-bar');
        if (bar) {
          bar.max = Math.max(p.total, 1);
          bar.value = p.sent;
        }
        if (p.open === 0 || p.campaignState !== 'sending') {
          setTimeout(function () { location.reload(); }, 500);
          return;
        }
        setTimeout(tick, 1000);
      })
      .catch(function () {
        setTimeout(tick, 3000);
      });
  };
  setTimeout(tick, 500);
})();
