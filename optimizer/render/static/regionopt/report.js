/*
 * regionopt report page (MIT licence, part of regionopt): language switch,
 * sortable tables, table filter and chart switch. Plain DOM, no library.
 * It only moves existing elements and reads data-* attributes; it never
 * turns text into HTML.
 */
(function () {
  'use strict';
  var doc = document.documentElement;

  // ---------------------------------------------------------------- language
  function setLang(lang) {
    if (lang !== 'en' && lang !== 'zh') return;
    doc.setAttribute('lang', lang);
    Array.prototype.forEach.call(document.querySelectorAll('.lang-switch button'), function (b) {
      b.classList.toggle('on', b.getAttribute('data-lang') === lang);
      b.setAttribute('aria-pressed', b.getAttribute('data-lang') === lang ? 'true' : 'false');
    });
    Array.prototype.forEach.call(document.querySelectorAll('option[data-en]'), function (o) {
      o.textContent = o.getAttribute(lang === 'zh' ? 'data-zh' : 'data-en');
    });
    // The maps are separate pages: tell them through their URL fragment.
    Array.prototype.forEach.call(document.querySelectorAll('iframe.map'), function (f) {
      var src = f.getAttribute('src'), want = src.replace(/#.*$/, '') + '#lang=' + lang;
      if (src !== want) f.setAttribute('src', want);
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll('.lang-switch button'), function (b) {
    b.addEventListener('click', function () { setLang(b.getAttribute('data-lang')); });
  });
  var m = /(?:^|[#&])lang=(en|zh)/.exec(window.location.hash || '');
  setLang(m ? m[1] : doc.getAttribute('lang'));

  // ---------------------------------------------------------------- sortable tables
  function cellValue(row, idx, numeric) {
    var cell = row.cells[idx];
    if (!cell) return numeric ? -Infinity : '';
    var v = cell.hasAttribute('data-v') ? cell.getAttribute('data-v') : cell.textContent.trim();
    if (!numeric) return v;
    var x = parseFloat(v);
    return isNaN(x) ? -Infinity : x;
  }
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(heads, function (th, idx) {
      if (!th.hasAttribute('data-sort')) return;
      th.tabIndex = 0;
      th.classList.add('sort');
      function sort() {
        var numeric = th.getAttribute('data-sort') === 'num';
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = cellValue(a, idx, numeric), y = cellValue(b, idx, numeric);
          var c = numeric ? x - y : String(x).localeCompare(String(y), doc.getAttribute('lang') === 'zh' ? 'zh' : 'en');
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener('click', sort);
      th.addEventListener('keydown', function (e) { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); sort(); } });
    });
  });

  // ---------------------------------------------------------------- filters and chart switches
  Array.prototype.forEach.call(document.querySelectorAll('select[data-filter]'), function (sel) {
    var table = document.getElementById(sel.getAttribute('data-filter'));
    function apply() {
      Array.prototype.forEach.call(table.tBodies[0].rows, function (r) { r.hidden = r.getAttribute('data-key') !== sel.value; });
    }
    sel.addEventListener('change', apply);
    apply();
  });
  Array.prototype.forEach.call(document.querySelectorAll('select[data-switch]'), function (sel) {
    var cls = sel.getAttribute('data-switch');
    function apply() {
      Array.prototype.forEach.call(document.querySelectorAll('.' + cls), function (d) { d.hidden = d.getAttribute('data-key') !== sel.value; });
    }
    sel.addEventListener('change', apply);
    apply();
  });
  doc.setAttribute('data-report-ready', '1');
})();
