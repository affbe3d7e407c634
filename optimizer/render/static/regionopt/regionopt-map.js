/*
 * regionopt coverage-gap maps (MIT licence, part of regionopt).
 *
 * Draws window.REGIONOPT_DATA (written by optimizer/maps.py into map_data.js)
 * on Leaflet maps created by folium: a choropleth of admin units (coverage
 * rate or standards status), demand points (covered / partly / uncovered),
 * existing and new facilities, group outlines, a control panel and a legend.
 *
 * Every string from the data is inserted with textContent (never innerHTML),
 * so names such as "<img src=x onerror=...>" show as text and run nothing.
 *
 * All vector layers of a map share ONE canvas renderer: thousands of demand
 * points cost no DOM nodes, and mouse hit-testing works across all layers
 * (stacked canvases would hide the lower ones from the mouse).
 */
(function () {
  'use strict';

  var R = (window.regionopt = window.regionopt || {});
  R.maps = R.maps || [];
  var D = null; // the data, decoded once per page
  var state = null; // shared by every map of the page (dual maps stay in step)
  var listeners = [];

  // ------------------------------------------------------------------ texts
  var I18N = {
    en: {
      before: 'Before', after: 'After', indicator: 'Show', coverage: 'Coverage rate', standards: 'Standards status',
      type: 'Facility type', allTypes: 'All types', familyAll: '(all types)', areas: 'Areas',
      main: 'Counties', upper: 'Cities', layers: 'Layers', demand: 'Demand points', upperOutline: 'City boundaries',
      facilities: 'Facilities', existing: 'existing', newFac: 'new (plan)', covered: 'covered', partly: 'partly covered',
      uncovered: 'not covered', noPop: 'nobody of this group', noStd: 'no standard', met: 'met', newlyMet: 'newly met',
      notMet: 'not met', rate: 'coverage', population: 'people', of: 'of', standardsLine: 'standards met',
      legend: 'Legend', sizePop: 'dot size ~ population', assumedNote:
        'Existing facilities are an ILLUSTRATIVE baseline built from rules (source = "assumed"), not an inventory.',
      source: 'source', assumedSource: 'assumed - illustrative baseline, not a real facility', planned: 'planned (new)',
      cost: 'cost', capacity: 'capacity', unlimited: 'unlimited', newlyCovered: 'people newly covered',
      site: 'site', county: 'county', city: 'city', yuan: 'yuan', language: 'Language', demandPoint: 'Demand point', nearestFac: 'nearest facility', none: 'none in reach',
      residents: 'residents', groupPop: 'people served by this type here', status: 'status', levelWord: 'level',
      gcj: 'Layers shifted to GCJ-02 to match Amap tiles.',
      reach: 'People out of reach', change: 'Change (after - before)', names: 'Names of cities and counties',
      outOfReach: 'out of reach', changeLine: 'change', pts: 'points', newlyReached: 'newly within reach',
      lostReach: 'no longer within reach', noChange: 'no change', reachNote: 'people not within the service standard',
      pooledNote: 'several types: person-services',
      access: 'Accessibility (E2SFCA)', accessLine: 'accessibility', per1000: 'per 1,000 people',
      accessNote: 'supply (capacity, or facilities) per 1,000 people within the catchment, E2SFCA',
      accessPick: 'choose one facility type to see accessibility',
      accessDots: 'dots: each demand point, in the same classes'
    },
    zh: {
      before: '规划前', after: '规划后', indicator: '显示', coverage: '覆盖率', standards: '配置标准达标情况',
      type: '设施类型', allTypes: '全部类型', familyAll: '（全部类型）', areas: '区域',
      main: '区县', upper: '地市', layers: '图层', demand: '需求点', upperOutline: '地市边界',
      facilities: '设施', existing: '现有', newFac: '新建（规划）', covered: '已覆盖', partly: '部分覆盖',
      uncovered: '未覆盖', noPop: '无该类服务人群', noStd: '无标准', met: '已达标', newlyMet: '新达标',
      notMet: '未达标', rate: '覆盖率', population: '人', of: '/', standardsLine: '达标项',
      legend: '图例', sizePop: '点的大小 ~ 人口', assumedNote:
        '现有设施为按规则生成的示意性基线（source = "assumed"），并非实际设施清单。',
      source: '来源', assumedSource: 'assumed - 示意性基线，非真实设施', planned: '规划新建',
      cost: '造价', capacity: '容量', unlimited: '不限', newlyCovered: '新覆盖人口',
      site: '点位', county: '区县', city: '地市', yuan: '元', language: '语言', demandPoint: '需求点', nearestFac: '最近设施', none: '可达范围内无',
      residents: '常住人口', groupPop: '该类型服务人群', status: '状态', levelWord: '级别',
      gcj: '图层已转换为 GCJ-02 坐标以匹配高德底图。',
      reach: '服务范围外人口', change: '变化（规划后 − 规划前）', names: '地市和区县名称',
      outOfReach: '服务范围外', changeLine: '变化', pts: '个百分点', newlyReached: '新纳入服务范围',
      lostReach: '不再在服务范围内', noChange: '无变化', reachNote: '未在服务标准范围内的人口',
      pooledNote: '多类型合计：人次',
      access: '可达性（E2SFCA）', accessLine: '可达性', per1000: '每千人',
      accessNote: '服务范围内每千人拥有的供给（容量或设施数），E2SFCA',
      accessPick: '请选择单一设施类型以查看可达性',
      accessDots: '点：各需求点，同一分级'
    }
  };
  function t(key) {
    var lang = (state && state.lang) || 'en';
    return (I18N[lang] && I18N[lang][key]) || I18N.en[key] || key;
  }

  // ------------------------------------------------------------------ colours
  var RATE_COLOURS = ['#ffffcc', '#a1dab4', '#41b6c4', '#2c7fb8', '#253494'];
  var NO_DATA = '#d9d9d9';
  var STD_COLOURS = { met: '#4575b4', newly: '#1a9850', not: '#d73027', none: '#f0f0f0' };
  var DEMAND_COLOURS = { 3: '#ffffff', 2: '#fdc086', 1: '#e31a1c' };
  // People out of reach: sequential reds; change: diverging red (worse) / blue (better).
  var REACH_COLOURS = ['#fee5d9', '#fcae91', '#fb6a4a', '#de2d26', '#a50f15'];
  var REACH_ZERO = '#f7f7f7';
  var CHANGE_COLOURS = ['#b2182b', '#ef8a62', '#fddbc7', '#f7f7f7', '#d1e5f0', '#67a9cf', '#2166ac'];
  var CHANGE_STEPS = [0.0005, 0.02, 0.10]; // |after - before| in rate: ~0, < 2, < 10, >= 10 points
  var GAIN_COLOUR = '#1a9850', LOSS_COLOUR = '#d73027';
  var INDICATORS = ['coverage', 'standards', 'reach', 'change', 'access'];
  // Accessibility (E2SFCA supply per 1,000 people): sequential blues, higher is better.
  var ACCESS_COLOURS = ['#eff3ff', '#bdd7e7', '#6baed6', '#3182bd', '#08519c'];

  /** Per unit [before, after] supply-to-demand ratios of a single type (null for a family or all types). */
  function accessRows(key) {
    return (D.access && D.access.units[key]) || null;
  }
  /** Upper class bounds (per 1,000 people) of the accessibility classes: five equal steps up to a round
   *  maximum over the units on show, the same before and after. */
  function accessBreaks(key) {
    var rows = accessRows(key) || [], top = 0, main = state.areas === 'upper' ? 0 : 1;
    rows.forEach(function (r, i) {
      if (r && (D.units.main[i] === 1 ? 1 : 0) === main) top = Math.max(top, 1000 * (r[0] || 0), 1000 * (r[1] || 0));
    });
    top = niceCeil(top);
    return [top / 5, 2 * top / 5, 3 * top / 5, 4 * top / 5, top];
  }
  function accessColour(v, breaks) {
    if (v === null || v === undefined || isNaN(v)) return NO_DATA;
    var x = 1000 * v;
    if (x <= 0) return REACH_ZERO;
    for (var k = 0; k < breaks.length; k++) if (x <= breaks[k]) return ACCESS_COLOURS[k];
    return ACCESS_COLOURS[ACCESS_COLOURS.length - 1];
  }
  /** Per demand point ratios of a single type, state 0 (before) or 1 (after), decoded once from
   *  integers times 10^e (null for a family or all types). */
  function demandAccess(key, k) {
    var rec = D.access && D.access.demand[key];
    if (!rec) return null;
    var cacheKey = 'access|' + key + '|' + k;
    if (!D.codeCache[cacheKey]) {
      var f = Math.pow(10, rec.e);
      D.codeCache[cacheKey] = rec.v[k].map(function (x) { return x === null ? null : x * f; });
    }
    return D.codeCache[cacheKey];
  }
  /** A ratio per 1,000 people, 4 significant digits (the CSVs hold the ratio per person). */
  function per1000(v) {
    return v === null || v === undefined || isNaN(v) ? '–' : String(Number((1000 * v).toPrecision(4)));
  }

  function niceCeil(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v))), m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }
  /** Upper class bounds of the out-of-reach classes for a key: the same before and after, over the
   *  units on show (counties, or cities: a city's count would swamp its counties' classes). */
  function reachBreaks(key) {
    var rows = D.reach[key] || [], top = 0, main = state.areas === 'upper' ? 0 : 1;
    rows.forEach(function (r, i) { if (r && (D.units.main[i] === 1 ? 1 : 0) === main) top = Math.max(top, r[0], r[1]); });
    top = niceCeil(top);
    return [top / 16, top / 8, top / 4, top / 2, top];
  }
  function reachColour(v, breaks) {
    if (v === null || v === undefined || isNaN(v)) return NO_DATA;
    if (v <= 0) return REACH_ZERO;
    for (var k = 0; k < breaks.length; k++) if (v <= breaks[k]) return REACH_COLOURS[k];
    return REACH_COLOURS[REACH_COLOURS.length - 1];
  }
  function changeClass(d) {
    if (d === null || d === undefined || isNaN(d)) return -1;
    var a = Math.abs(d), k = a < CHANGE_STEPS[0] ? 0 : a < CHANGE_STEPS[1] ? 1 : a < CHANGE_STEPS[2] ? 2 : 3;
    return 3 + (d < 0 ? -k : k);
  }
  function changeColour(d) {
    var c = changeClass(d);
    return c < 0 ? NO_DATA : CHANGE_COLOURS[c];
  }
  function indicatorLabel(ind) {
    return ind === 'standards' ? t('standards') : ind === 'reach' ? t('reach') : ind === 'change' ? t('change') :
      ind === 'access' ? t('access') : t('coverage');
  }

  function rateColour(v) {
    if (v === null || v === undefined || isNaN(v)) return NO_DATA;
    var k = Math.min(RATE_COLOURS.length - 1, Math.floor(v * RATE_COLOURS.length - 1e-9));
    return RATE_COLOURS[Math.max(0, k)];
  }
  function stdClass(rec, show) {
    if (!rec || !rec[0]) return 'none';
    if (rec[1] === rec[0]) return 'met';
    if (show === 'after' && rec[2] === rec[0]) return 'newly';
    return 'not';
  }

  // ------------------------------------------------------------------ DOM helpers (text only)
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svgEl(tag, attrs) {
    var e = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    return e;
  }
  function pct(v) {
    return v === null || v === undefined || isNaN(v) ? '–' : (v * 100).toFixed(1) + '%';
  }
  function fmt(v) {
    if (v === null || v === undefined || isNaN(v)) return '–';
    return Math.round(v).toLocaleString('en-US');
  }
  function money(v) {
    if (v === null || v === undefined) return '–';
    if (state.lang === 'zh') return v >= 1e8 ? (v / 1e8).toFixed(2) + ' 亿元' : v >= 1e4 ? (v / 1e4).toFixed(0) + ' 万元' : fmt(v) + ' 元';
    return v >= 1e9 ? (v / 1e9).toFixed(2) + ' billion yuan' : v >= 1e6 ? (v / 1e6).toFixed(1) + ' million yuan' : fmt(v) + ' yuan';
  }
  function twoNames(zh, en) {
    // Local (Chinese) name first, English after, each only once.
    if (!en || en === zh) return zh || en || '';
    if (!zh) return en;
    return state.lang === 'zh' ? zh + ' · ' + en : en + ' · ' + zh;
  }

  // ------------------------------------------------------------------ decoding
  function decodeRing(r, s) {
    var out = new Array(r.length / 2), x = 0, y = 0;
    for (var i = 0, j = 0; i < r.length; i += 2, j++) {
      x += r[i]; y += r[i + 1];
      out[j] = L.latLng(y / s, x / s);
    }
    return out;
  }
  function decodePoints(dx, dy, s) {
    var out = new Array(dx.length), x = 0, y = 0;
    for (var i = 0; i < dx.length; i++) {
      x += dx[i]; y += dy[i];
      out[i] = L.latLng(y / s, x / s);
    }
    return out;
  }

  function hashParams() {
    var out = {};
    (window.location.hash || '').replace(/^#/, '').split('&').forEach(function (kv) {
      var p = kv.split('=');
      if (p[0]) out[decodeURIComponent(p[0])] = decodeURIComponent(p[1] || '');
    });
    return out;
  }

  function prepare() {
    if (D) return;
    var raw = window.REGIONOPT_DATA;
    if (!raw) throw new Error('regionopt: map_data.js did not load');
    D = raw;
    var s = D.scale;
    D.unitLatLngs = D.units.geom.map(function (polys) {
      return polys.map(function (rings) { return rings.map(function (r) { return decodeRing(r, s); }); });
    });
    D.demandLatLngs = decodePoints(D.demand.x, D.demand.y, s);
    D.facLatLngs = decodePoints(D.facilities.x, D.facilities.y, s);
    D.typeIndex = {};
    D.types.forEach(function (tp, i) { D.typeIndex[tp.id] = i; });
    D.familyById = {};
    D.families.forEach(function (f) { D.familyById[f.id] = f; });
    var allPop = D.demand.pop.all, maxPop = 1;
    for (var i = 0; i < allPop.length; i++) if (allPop[i] > maxPop) maxPop = allPop[i];
    D.demandRadius = allPop.map(function (p) { return 1.5 + 4.5 * Math.sqrt(Math.max(p, 0) / maxPop); });
    D.codeCache = {};
    var params = hashParams();
    var layers = { demand: true, upperOutline: true, groups: {}, families: {},
      // City and county names help a reader find places on the offline map (tiles carry their own names).
      names: params.names ? params.names !== '0' : !D.basemap || D.basemap === 'none' };
    D.groups.forEach(function (g, i) { layers.groups[g.id] = i === 0; });
    D.families.forEach(function (f) { layers.families[f.id] = true; });
    state = {
      lang: params.lang === 'zh' || params.lang === 'en' ? params.lang : D.lang || 'en',
      indicator: INDICATORS.indexOf(params.indicator) >= 0 ? params.indicator : 'coverage',
      key: params.key && keyTypes(params.key).length ? params.key : 'all',
      show: params.show === 'before' ? 'before' : 'after',
      areas: 'main',
      layers: layers,
      demandRenderer: params.render === 'svg' ? 'svg' : 'canvas'
    };
    window.addEventListener('hashchange', function () {
      var p = hashParams();
      if ((p.lang === 'zh' || p.lang === 'en') && p.lang !== state.lang) setState({ lang: p.lang });
    });
  }

  function keyTypes(key) {
    if (key === 'all') return D.types.map(function (tp, i) { return i; });
    if (key.indexOf('family:') === 0) {
      var f = key.slice(7), out = [];
      D.types.forEach(function (tp, i) { if (tp.family === f) out.push(i); });
      return out;
    }
    return D.typeIndex.hasOwnProperty(key) ? [D.typeIndex[key]] : [];
  }
  function keyLabel(key) {
    if (key === 'all') return t('allTypes');
    if (key.indexOf('family:') === 0) {
      var f = D.familyById[key.slice(7)];
      return (state.lang === 'zh' ? f.name_zh : f.name_en) + ' ' + t('familyAll');
    }
    var tp = D.types[D.typeIndex[key]];
    return twoNames(tp.name_zh, tp.name_en);
  }

  /** Per-point code for a key and state: 0 nobody, 1 uncovered, 2 partly, 3 covered. */
  function demandCodes(key, show) {
    var cacheKey = key + '|' + show;
    if (D.codeCache[cacheKey]) return D.codeCache[cacheKey];
    var idx = keyTypes(key), n = D.demand.n, out = new Uint8Array(n), k = show === 'before' ? 0 : 1;
    var strings = idx.map(function (i) { return D.demand.status[D.types[i].id][k]; });
    for (var p = 0; p < n; p++) {
      var any = false, all = true, seen = false;
      for (var j = 0; j < strings.length; j++) {
        var c = strings[j].charCodeAt(p) - 48;
        if (c === 0) continue;
        seen = true;
        if (c === 3) any = true;
        else { all = false; if (c === 2) any = true; }
      }
      out[p] = !seen ? 0 : all ? 3 : any ? 2 : 1;
    }
    D.codeCache[cacheKey] = out;
    return out;
  }

  function setState(patch) {
    for (var k in patch) if (Object.prototype.hasOwnProperty.call(patch, k)) state[k] = patch[k];
    listeners.forEach(function (fn) { fn(patch); });
  }

  // ------------------------------------------------------------------ facility symbols on canvas
  var ShapeMarker = null;
  function defineShapeMarker() {
    if (ShapeMarker) return;
    // Each symbol (shape, colours, letter, size) is drawn once into a small
    // sprite and then stamped with drawImage: setting a font and filling text
    // for thousands of markers on every redraw cost most of the load time.
    L.Canvas.include({
      _updateShapeMarker: function (layer) {
        if (!this._drawing || layer._empty()) return;
        var p = layer._point, sprite = symbolSprite(layer.options, Math.max(Math.round(layer._radius), 1));
        this._ctx.globalAlpha = 1;
        this._ctx.drawImage(sprite.canvas, p.x - sprite.half, p.y - sprite.half, sprite.size, sprite.size);
      }
    });
    ShapeMarker = L.CircleMarker.extend({
      options: { shape: 'circle', letter: '', textColor: '#000' },
      _project: function () {
        this._point = this._map.latLngToLayerPoint(this._latlng).add(this._offset || [0, 0]);
        this._updateBounds();
      },
      _updateBounds: function () {
        var r = this._radius * 1.3 + this._clickTolerance();
        this._pxBounds = new L.Bounds(this._point.subtract([r, r]), this._point.add([r, r]));
      },
      _updatePath: function () { this._renderer._updateShapeMarker(this); }
    });
  }
  var sprites = {};
  function symbolSprite(o, r) {
    var key = [o.shape, o.color, o.fillColor, o.textColor, o.letter, r, o.weight].join('|');
    if (sprites[key]) return sprites[key];
    var ratio = window.devicePixelRatio || 1, half = Math.ceil(r * 1.35 + o.weight + 1), size = 2 * half;
    var c = document.createElement('canvas');
    c.width = c.height = Math.ceil(size * ratio);
    var ctx = c.getContext('2d');
    ctx.scale(ratio, ratio);
    ctx.beginPath();
    shapePath(ctx, o.shape, half, half, r);
    ctx.fillStyle = o.fillColor; ctx.fill();
    ctx.lineWidth = o.weight; ctx.strokeStyle = o.color; ctx.lineJoin = 'round'; ctx.stroke();
    if (o.letter && r >= 4) {
      ctx.fillStyle = o.textColor;
      ctx.font = 'bold ' + Math.round(r * (o.letter.length > 1 ? 0.95 : 1.25)) + 'px sans-serif';
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.fillText(o.letter, half, half + (o.shape === 'triangle' ? r * 0.25 : 0.5));
    }
    return (sprites[key] = { canvas: c, half: half, size: size });
  }
  function shapePath(ctx, shape, x, y, r) {
    var k, a;
    switch (shape) {
      case 'square': ctx.rect(x - r * 0.9, y - r * 0.9, r * 1.8, r * 1.8); break;
      case 'triangle':
        ctx.moveTo(x, y - r * 1.2); ctx.lineTo(x + r * 1.1, y + r * 0.8); ctx.lineTo(x - r * 1.1, y + r * 0.8); ctx.closePath(); break;
      case 'diamond':
        ctx.moveTo(x, y - r * 1.2); ctx.lineTo(x + r * 1.2, y); ctx.lineTo(x, y + r * 1.2); ctx.lineTo(x - r * 1.2, y); ctx.closePath(); break;
      case 'hexagon':
        for (k = 0; k < 6; k++) { a = Math.PI / 3 * k; ctx[k ? 'lineTo' : 'moveTo'](x + r * 1.1 * Math.cos(a), y + r * 1.1 * Math.sin(a)); }
        ctx.closePath(); break;
      case 'star':
        for (k = 0; k < 10; k++) {
          a = Math.PI / 5 * k - Math.PI / 2; var rr = k % 2 ? r * 0.6 : r * 1.3;
          ctx[k ? 'lineTo' : 'moveTo'](x + rr * Math.cos(a), y + rr * Math.sin(a));
        }
        ctx.closePath(); break;
      default: ctx.arc(x, y, r, 0, Math.PI * 2, false);
    }
  }
  function svgShape(shape, colour, fill, letter, textColour, size) {
    var s = size || 18, c = s / 2, r = s * 0.32;
    var svg = svgEl('svg', { width: s, height: s, viewBox: '0 0 ' + s + ' ' + s, 'class': 'ro-sym' });
    var d;
    switch (shape) {
      case 'square': d = svgEl('rect', { x: c - r * 0.9, y: c - r * 0.9, width: r * 1.8, height: r * 1.8 }); break;
      case 'triangle': d = svgEl('polygon', { points: [c, c - r * 1.2, c + r * 1.1, c + r * 0.8, c - r * 1.1, c + r * 0.8].join(' ') }); break;
      case 'diamond': d = svgEl('polygon', { points: [c, c - r * 1.2, c + r * 1.2, c, c, c + r * 1.2, c - r * 1.2, c].join(' ') }); break;
      default: d = svgEl('circle', { cx: c, cy: c, r: r });
    }
    d.setAttribute('fill', fill);
    d.setAttribute('stroke', colour);
    d.setAttribute('stroke-width', 1.5);
    svg.appendChild(d);
    if (letter) {
      var tx = svgEl('text', { x: c, y: c + r * 0.45, 'text-anchor': 'middle', 'font-size': r * 1.3, 'font-weight': 'bold', fill: textColour });
      tx.textContent = letter;
      svg.appendChild(tx);
    }
    return svg;
  }

  // ------------------------------------------------------------------ one map
  function MapView(map, opts) {
    this.map = map;
    this.role = opts.role;
    this.opts = opts;
    // One canvas for every vector layer, also for layers added later by
    // others (Leaflet.Sync's cursor): a second canvas on top would swallow the
    // mouse events of this one.
    this.renderer = L.canvas({ padding: 0.5 });
    map.options.renderer = this.renderer;
    this.layers = {};
    this.build();
  }

  MapView.prototype.show = function () {
    return this.role === 'toggle' ? state.show : this.role;
  };

  /** Level of detail for the current zoom: how large demand dots may be, whether symbols show letters. */
  MapView.prototype.lod = function () {
    var map = this.map, zoom = map.getZoom(), lat = map.getCenter().lat;
    var metresPerPixel = 40075016.686 * Math.cos((lat * Math.PI) / 180) / Math.pow(2, zoom + 8);
    var spacingPx = (D.demand.spacing_m || 3000) / metresPerPixel;
    // Dots never cover more than ~40% of the gap to their neighbours, so the
    // choropleth stays readable at province scale and dots grow when zooming in.
    var cap = Math.max(0.8, 0.42 * spacingPx);
    return { dotScale: Math.min(1, cap / 6), detail: zoom >= 9 };
  };

  MapView.prototype.applyZoom = function () {
    var lod = this.lod(), markers = this.demandMarkers;
    if (lod.dotScale !== this._dotScale) {
      this._dotScale = lod.dotScale;
      // Set sizes directly: this runs on 'zoomend', and the renderer re-projects
      // and redraws every marker on the 'moveend' that follows anyway
      // (setRadius would project each of ~17,000 markers a second time).
      for (var i = 0; i < markers.length; i++) {
        var r = D.demandRadius[i] * lod.dotScale;
        markers[i].options.weight = r < 2.5 ? 0 : 0.6;
        markers[i].options.radius = markers[i]._radius = r;
      }
    }
    if (lod.detail !== this._detail) {
      this._detail = lod.detail;
      this.updateFacilities();
      this.restack();
    }
  };

  MapView.prototype.build = function () {
    var self = this, map = this.map, rd = this.renderer;
    if (!D.basemap || D.basemap === 'none') L.DomUtil.addClass(map.getContainer(), 'ro-nobase');

    function polygons(filter, style) {
      var g = L.featureGroup();
      D.unitLatLngs.forEach(function (ll, i) {
        if (!filter(i) || !ll.length) return;
        var poly = L.polygon(ll, L.extend({ renderer: rd }, style));
        poly._ro = i;
        g.addLayer(poly);
      });
      return g;
    }
    var choro = { weight: 0.7, color: '#555', opacity: 0.9, fillOpacity: 0.75 };
    this.layers.main = polygons(function (i) { return D.units.main[i] === 1; }, choro);
    this.layers.upper = polygons(function (i) { return D.units.main[i] !== 1; }, choro);
    this.layers.upperOutline = polygons(function (i) { return D.units.main[i] !== 1; },
      { weight: 2, color: '#222', opacity: 0.8, fill: false, interactive: false });
    this.layers.groups = {};
    D.groups.forEach(function (g) {
      var set = {};
      g.units.forEach(function (i) { set[i] = true; });
      self.layers.groups[g.id] = polygons(function (i) { return set[i] && D.units.main[i] === 1; },
        { weight: 2.6, color: '#111', opacity: 1, dashArray: '6 4', fill: false, interactive: false });
    });
    [this.layers.main, this.layers.upper].forEach(function (g) {
      g.bindTooltip(function (layer) { return self.unitTooltip(layer._ro); }, { sticky: true, className: 'ro-tip' });
    });

    // Demand points: circle markers on the shared canvas (or SVG when benchmarking).
    var drd = state.demandRenderer === 'svg' ? L.svg() : rd;
    var dem = (this.layers.demand = L.featureGroup());
    this.demandMarkers = D.demandLatLngs.map(function (ll, i) {
      var m = L.circleMarker(ll, { renderer: drd, radius: D.demandRadius[i], weight: 0.6, color: '#333', opacity: 0.8, fillOpacity: 0.9 });
      m._ro = i;
      return m;
    });
    dem.bindTooltip(function (layer) { return self.demandTooltip(layer._ro); }, { className: 'ro-tip', direction: 'top' });
    // Clicking a point keeps the same facts open (travel to the nearest facility before and after) as a popup.
    dem.bindPopup(function (layer) { return self.demandTooltip(layer._ro); }, { maxWidth: 320 });

    // Facilities: created once; which ones are on the map depends on the selection.
    defineShapeMarker();
    var F = D.facilities;
    this.layers.facilities = L.featureGroup();
    this.facMarkers = D.facLatLngs.map(function (ll, i) {
      var tp = D.types[F.type[i]], fam = D.familyById[tp.family], isNew = F['new'][i] === 1;
      var m = new ShapeMarker(ll, {
        renderer: rd, radius: isNew ? 8 : 6, shape: fam.shape, letter: tp.letter,
        color: isNew ? '#000' : fam.color, weight: isNew ? 1.6 : 1.4, opacity: 1,
        fillColor: isNew ? fam.color : '#fff', fillOpacity: 1, textColor: isNew ? '#fff' : fam.color
      });
      m._ro = i;
      return m;
    });
    this.layers.facilities.bindPopup(function (layer) { return self.facilityPopup(layer._ro); }, { maxWidth: 320 });
    this.layers.facilities.bindTooltip(function (layer) { return self.facilityTooltip(layer._ro); }, { className: 'ro-tip', direction: 'top' });

    this.buildNames();

    if (D.attribution) map.attributionControl.addAttribution(escapeText(D.attribution));
    map.attributionControl.addAttribution('regionopt');

    if (this.opts.panel !== false) this.addPanel();
    this.addLabel();
    if (this.opts.legend !== false) this.addLegend();
    // Leave room for the panel (right) and the legend (left) when the map is wide enough to spare it.
    var pad = this.role === 'toggle' && map.getSize().x > 1000 ? 260 : 0;
    // Without animation: the map starts at folium's zoom_start, and an animated fit (Leaflet animates a
    // change of up to 4 zoom levels, e.g. 7 -> 11 on a small region) would end with a 'zoomend' that
    // snaps the view back to the fitted zoom, undoing any zoom step taken meanwhile on either synced map
    // (Leaflet.Sync re-broadcasts that zoomend); the level of detail below would also be computed for
    // the start zoom instead of the fitted one.
    map.fitBounds(D.bounds, { paddingBottomRight: [pad, 0], paddingTopLeft: [pad, 0], animate: false });
    this._dotScale = null;
    this._detail = this.lod().detail;
    this.applyZoom();
    this.refresh({ all: true });
    map.on('zoomend', function () { self.applyZoom(); self.updateNames(); });
    map.on('resize', function () { self.fitLegend(); });
    listeners.push(function (patch) { self.refresh(patch); });
  };

  /** Name labels of the mapped units (DOM text, never HTML): cities always, counties from zoom 8. */
  MapView.prototype.buildNames = function () {
    var s = D.scale;
    this.layers.names = L.layerGroup();
    this.nameMarkers = (D.labels || []).map(function (xy, i) {
      var span = el('span', 'ro-name-text');
      var icon = L.divIcon({ className: 'ro-name ' + (D.units.main[i] === 1 ? 'ro-name-main' : 'ro-name-upper'),
        html: span, iconSize: null });
      var m = L.marker(L.latLng(xy[1] / s, xy[0] / s), { icon: icon, interactive: false, keyboard: false });
      m._ro = i;
      m._span = span;
      return m;
    });
    this.hasUpper = D.units.main.some(function (v) { return v !== 1; });
    this.updateNames();
  };
  MapView.prototype.updateNames = function () {
    var map = this.map, layer = this.layers.names, U = D.units;
    if (!layer) return;
    var on = !!state.layers.names, countiesToo = !this.hasUpper || map.getZoom() >= 8;
    this.nameMarkers.forEach(function (m) {
      var i = m._ro, isMain = U.main[i] === 1;
      var want = on && (isMain ? (state.areas === 'main' && countiesToo) : true);
      if (want) {
        var text = state.lang === 'zh' ? U.name[i] || U.name_en[i] : U.name_en[i] || U.name[i];
        if (m._span.textContent !== text) m._span.textContent = text;
        if (!layer.hasLayer(m)) layer.addLayer(m);
      } else if (layer.hasLayer(m)) layer.removeLayer(m);
    });
    toggle(map, layer, on);
  };

  function escapeText(s) {
    var d = document.createElement('div');
    d.textContent = s;
    return d.innerHTML;
  }

  MapView.prototype.refresh = function (patch) {
    patch = patch || {};
    var map = this.map, L_ = this.layers;
    var areasOn = state.areas === 'upper' ? L_.upper : L_.main, areasOff = state.areas === 'upper' ? L_.main : L_.upper;
    if (map.hasLayer(areasOff)) map.removeLayer(areasOff);
    if (!map.hasLayer(areasOn)) map.addLayer(areasOn);
    this.styleUnits(areasOn);
    toggle(map, L_.upperOutline, state.areas === 'main' && state.layers.upperOutline && L_.upperOutline.getLayers().length > 0);
    for (var g in L_.groups) toggle(map, L_.groups[g], !!state.layers.groups[g]);
    this.updateDemand();
    this.updateFacilities();
    this.updateNames();
    this.restack();
    if (this.panel) this.renderPanel();
    if (this.legend) this.renderLegend();
    if (this.label) this.renderLabel();
    this.fitLegend();
  };

  /**
   * The legend (bottom left) never hides a control: its height is capped so it
   * stays below the zoom buttons and map label (top left) and, on a map too
   * narrow to keep them apart, below the layer panel (top right).
   */
  MapView.prototype.fitLegend = function () {
    // Every map of the page (this one may not be registered yet while it is being built).
    var views = R.maps.indexOf(this) < 0 ? R.maps.concat([this]) : R.maps;
    views.forEach(function (v) {
      if (!v.legend) return;
      var box = v.legend, c = v.map.getContainer(), cr = c.getBoundingClientRect();
      box.style.maxHeight = '';
      var top = cr.top;
      c.querySelectorAll('.leaflet-top.leaflet-left .leaflet-control').forEach(function (e) {
        top = Math.max(top, e.getBoundingClientRect().bottom);
      });
      var lr = box.getBoundingClientRect();
      views.forEach(function (w) {
        if (!w.panel || w.map.getContainer() !== c) return;
        var pr = w.panel.getBoundingClientRect();
        if (lr.right > pr.left - 8 && lr.left < pr.right + 8) top = Math.max(top, pr.bottom);
      });
      box.style.maxHeight = Math.max(36, Math.floor(lr.bottom - top - 10)) + 'px';
    });
  };

  /** One canvas, drawn in order: areas, outlines, demand, facilities on top. */
  MapView.prototype.restack = function () {
    var map = this.map, L_ = this.layers;
    [L_.upperOutline].concat(Object.keys(L_.groups).map(function (k) { return L_.groups[k]; }), [L_.demand, L_.facilities])
      .forEach(function (layer) { if (map.hasLayer(layer)) layer.bringToFront(); });
  };

  function toggle(map, layer, on) {
    if (on && !map.hasLayer(layer)) map.addLayer(layer);
    if (!on && map.hasLayer(layer)) map.removeLayer(layer);
  }

  MapView.prototype.styleUnits = function (group) {
    var show = this.show(), key = state.key;
    var rates = D.rates[key], std = D.std[key], reach = (D.reach || {})[key] || [], breaks = reachBreaks(key);
    var acc = accessRows(key) || [], accBreaks = accessBreaks(key);
    group.eachLayer(function (poly) {
      var i = poly._ro, fill;
      if (state.indicator === 'standards') fill = STD_COLOURS[stdClass(std[i], show)];
      else if (state.indicator === 'access') fill = acc[i] ? accessColour(acc[i][show === 'before' ? 0 : 1], accBreaks) : NO_DATA;
      else if (state.indicator === 'reach') fill = reach[i] ? reachColour(reach[i][show === 'before' ? 0 : 1], breaks) : NO_DATA;
      else if (state.indicator === 'change') fill = rates[i] ? changeColour(rates[i][1] - rates[i][0]) : NO_DATA;
      else fill = rates[i] ? rateColour(rates[i][show === 'before' ? 0 : 1]) : NO_DATA;
      poly.setStyle({ fillColor: fill });
    });
  };

  MapView.prototype.updateDemand = function () {
    var map = this.map, layer = this.layers.demand;
    if (!state.layers.demand) { toggle(map, layer, false); return; }
    var codes = demandCodes(state.key, this.show()), markers = this.demandMarkers, ind = state.indicator;
    var before = ind === 'change' ? demandCodes(state.key, 'before') : null, after = ind === 'change' ? demandCodes(state.key, 'after') : null;
    var dAcc = ind === 'access' ? demandAccess(state.key, this.show() === 'before' ? 0 : 1) : null;
    var dBreaks = ind === 'access' ? accessBreaks(state.key) : null;
    // Restyle in place; only points whose group is empty for the selection
    // (nobody to serve) leave the layer. Re-adding ~17,000 markers would cost
    // far more than recolouring them. "Out of reach" keeps only the people not
    // (fully) served; "change" only the points whose status the plan changed.
    for (var i = 0; i < markers.length; i++) {
      var m = markers[i], colour = null;
      if (ind === 'change') colour = after[i] > before[i] ? GAIN_COLOUR : after[i] < before[i] && after[i] !== 0 ? LOSS_COLOUR : null;
      else if (ind === 'access') colour = dAcc && codes[i] !== 0 ? accessColour(dAcc[i], dBreaks) : null;
      else if (ind === 'reach') colour = codes[i] === 1 || codes[i] === 2 ? DEMAND_COLOURS[codes[i]] : null;
      else colour = codes[i] !== 0 ? DEMAND_COLOURS[codes[i]] : null;
      var want = colour !== null;
      if (want) {
        if (m.options.fillColor !== colour) {
          if (m._map) m.setStyle({ fillColor: colour });
          else m.options.fillColor = colour;
        }
        if (!layer.hasLayer(m)) layer.addLayer(m);
      } else if (layer.hasLayer(m)) layer.removeLayer(m);
    }
    if (!map.hasLayer(layer)) map.addLayer(layer);
  };

  MapView.prototype.updateFacilities = function () {
    var F = D.facilities, show = this.show(), typesOn = {}, map = this.map, layer = this.layers.facilities;
    keyTypes(state.key).forEach(function (i) { typesOn[i] = true; });
    var visible = [], perLoc = {};
    for (var i = 0; i < this.facMarkers.length; i++) {
      var tp = D.types[F.type[i]];
      if (!typesOn[F.type[i]] || !state.layers.families[tp.family]) continue;
      if (F['new'][i] === 1 && show !== 'after') continue;
      visible.push(i);
      perLoc[F.loc[i]] = (perLoc[F.loc[i]] || 0) + 1;
    }
    // Zoomed out: small symbols, no letters, stacked. Zoomed in: lettered
    // symbols, and facilities sharing a spot (e.g. every venue at a county
    // seat) fanned out in a ring.
    var detail = this._detail, slot = {};
    if (map.hasLayer(layer)) map.removeLayer(layer);
    layer.clearLayers();
    for (var v = 0; v < visible.length; v++) {
      var k = visible[v], n = perLoc[F.loc[k]], s = (slot[F.loc[k]] = (slot[F.loc[k]] || 0) + 1) - 1;
      var m = this.facMarkers[k], isNew = F['new'][k] === 1;
      m.options.radius = m._radius = detail ? (isNew ? 8 : 6) : isNew ? 5 : 1.8;
      if (detail && n > 1) {
        var rad = 7 + 1.6 * n, a = (2 * Math.PI * s) / n - Math.PI / 2;
        m._offset = L.point(rad * Math.cos(a), rad * Math.sin(a));
      } else m._offset = L.point(0, 0);
      layer.addLayer(m);
    }
    map.addLayer(layer);
  };

  // ------------------------------------------------------------------ tooltips and popups (DOM, text only)
  MapView.prototype.unitTooltip = function (i) {
    var U = D.units, box = el('div', 'ro-tipbox');
    box.appendChild(el('div', 'ro-tip-title', twoNames(U.name[i], U.name_en[i])));
    box.appendChild(el('div', 'ro-tip-sub', U.level[i] + ' · ' + keyLabel(state.key)));
    var r = D.rates[state.key][i];
    if (r) {
      box.appendChild(el('div', null, t('rate') + ': ' + t('before') + ' ' + pct(r[0]) + ' → ' + t('after') + ' ' + pct(r[1])));
      box.appendChild(el('div', 'ro-tip-sub', fmt(r[2]) + ' ' + t('population')));
    } else box.appendChild(el('div', null, t('noPop')));
    var o = (D.reach || {})[state.key] ? D.reach[state.key][i] : null;
    if (o) box.appendChild(el('div', null, t('outOfReach') + ': ' + t('before') + ' ' + fmt(o[0]) + ' → ' + t('after') + ' ' + fmt(o[1])));
    if (r) box.appendChild(el('div', null, t('changeLine') + ': ' + ((r[1] - r[0]) >= 0 ? '+' : '') + ((r[1] - r[0]) * 100).toFixed(1) + ' ' + t('pts')));
    var ac = accessRows(state.key);
    if (ac && ac[i]) {
      box.appendChild(el('div', 'ro-access', t('accessLine') + ': ' + t('before') + ' ' + per1000(ac[i][0]) + ' → ' + t('after') + ' ' +
        per1000(ac[i][1]) + ' ' + t('per1000')));
    }
    var s = D.std[state.key][i];
    if (s && s[0]) {
      box.appendChild(el('div', null, t('standardsLine') + ': ' + t('before') + ' ' + s[1] + ' ' + t('of') + ' ' + s[0] +
        ' → ' + t('after') + ' ' + s[2] + ' ' + t('of') + ' ' + s[0]));
    }
    D.groups.forEach(function (g) {
      if (g.units.indexOf(i) >= 0) box.appendChild(el('div', 'ro-badge', state.lang === 'zh' ? g.name_zh : g.name_en));
    });
    return box;
  };

  MapView.prototype.demandTooltip = function (i) {
    var box = el('div', 'ro-tipbox'), show = this.show();
    box.appendChild(el('div', 'ro-tip-title', t('demandPoint')));
    box.appendChild(el('div', null, fmt(D.demand.pop.all[i]) + ' ' + t('residents')));
    var idx = keyTypes(state.key);
    if (idx.length === 1) {
      var tp = D.types[idx[0]];
      if (tp.group !== 'all') box.appendChild(el('div', null, fmt(D.demand.pop[tp.group][i]) + ' ' + t('groupPop') + ' (' + tp.group + ')'));
      var near = D.demand.near && D.demand.near[tp.id];
      if (near) {  // time (or km) to the nearest facility of the type, with the impedance the plan used
        var nv = function (v) { return v === null || v === undefined ? t('none') : v + ' ' + near.unit; };
        box.appendChild(el('div', 'ro-near', t('nearestFac') + ': ' + nv(near.before[i]) + (show === 'before' ? '' : ' → ' + nv(near.after[i]))));
      }
    }
    var da0 = demandAccess(state.key, 0), da1 = demandAccess(state.key, 1);
    if (da0) box.appendChild(el('div', 'ro-access', t('accessLine') + ': ' + per1000(da0[i]) + (show === 'before' ? '' : ' → ' + per1000(da1[i])) + ' ' + t('per1000')));
    var b = demandCodes(state.key, 'before')[i], a = demandCodes(state.key, 'after')[i];
    var word = { 0: t('noPop'), 1: t('uncovered'), 2: t('partly'), 3: t('covered') };
    box.appendChild(el('div', null, keyLabel(state.key)));
    box.appendChild(el('div', null, t('before') + ': ' + word[b] + (show === 'before' ? '' : ' → ' + t('after') + ': ' + word[a])));
    return box;
  };

  MapView.prototype.facilityTooltip = function (i) {
    var F = D.facilities, tp = D.types[F.type[i]];
    return el('div', 'ro-tipbox', (F.name[i] ? F.name[i] + ' · ' : '') + twoNames(tp.name_zh, tp.name_en));
  };

  MapView.prototype.facilityPopup = function (i) {
    var F = D.facilities, tp = D.types[F.type[i]], fam = D.familyById[tp.family], isNew = F['new'][i] === 1;
    var box = el('div', 'ro-popup');
    box.appendChild(el('div', 'ro-tip-title', F.name[i] || twoNames(tp.name_zh, tp.name_en)));
    var dl = el('dl');
    function row(k, v) { dl.appendChild(el('dt', null, k)); dl.appendChild(el('dd', null, v)); }
    row(t('type'), twoNames(tp.name_zh, tp.name_en) + ' (' + (state.lang === 'zh' ? fam.name_zh : fam.name_en) + ')');
    row(t('status'), isNew ? t('newFac') : t('existing'));
    if (!isNew) row(t('source'), F.source[i] === 'assumed' ? t('assumedSource') : F.source[i]);
    if (isNew) {
      row(t('cost'), money(F.cost[i]));
      row(t('newlyCovered'), fmt(F.newly[i]));
      if (F.site[i]) row(t('site'), F.site[i]);
      if (F.county[i]) row(t('county'), F.county[i]);
      if (F.city[i]) row(t('city'), F.city[i]);
    }
    row(t('capacity'), F.cap[i] === null ? t('unlimited') : fmt(F.cap[i]));
    box.appendChild(dl);
    if (!isNew && F.source[i] === 'assumed') box.appendChild(el('p', 'ro-note', t('assumedNote')));
    return box;
  };

  // ------------------------------------------------------------------ controls
  MapView.prototype.addLabel = function () {
    var self = this;
    var Label = L.Control.extend({
      onAdd: function () { self.label = el('div', 'ro-label'); return self.label; }
    });
    this.map.addControl(new Label({ position: 'topleft' }));
  };
  MapView.prototype.renderLabel = function () {
    this.label.textContent = (this.show() === 'before' ? t('before') : t('after')) + ' · ' +
      indicatorLabel(state.indicator) + ' · ' + keyLabel(state.key);
    this.label.setAttribute('data-show', this.show());
  };

  MapView.prototype.addPanel = function () {
    var self = this;
    var Panel = L.Control.extend({
      onAdd: function () {
        var div = el('div', 'ro-panel leaflet-bar');
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        self.panel = div;
        return div;
      }
    });
    this.map.addControl(new Panel({ position: 'topright' }));
  };

  MapView.prototype.renderPanel = function () {
    var self = this, div = this.panel;
    while (div.firstChild) div.removeChild(div.firstChild);
    var details = el('details');
    details.open = this.panelOpen !== false;
    details.addEventListener('toggle', function () { self.panelOpen = details.open; self.fitLegend(); });
    var summary = el('summary', 'ro-panel-title', D.title_zh && state.lang === 'zh' ? D.title_zh : D.title || D.scenario);
    details.appendChild(summary);

    // Language
    var langRow = el('div', 'ro-row ro-lang');
    [['en', 'English'], ['zh', '中文']].forEach(function (l) {
      var b = el('button', state.lang === l[0] ? 'ro-on' : '', l[1]);
      b.type = 'button';
      b.setAttribute('data-lang', l[0]);
      b.addEventListener('click', function () { setState({ lang: l[0] }); });
      langRow.appendChild(b);
    });
    details.appendChild(langRow);

    // Indicator
    var ind = el('select', 'ro-indicator');
    INDICATORS.map(function (k) { return [k, indicatorLabel(k)]; }).forEach(function (o) {
      var op = el('option', null, o[1]); op.value = o[0]; op.selected = state.indicator === o[0]; ind.appendChild(op);
    });
    ind.addEventListener('change', function () { setState({ indicator: ind.value }); });
    details.appendChild(labelled(t('indicator'), ind));

    // Type / family
    var sel = el('select', 'ro-key');
    var op = el('option', null, t('allTypes')); op.value = 'all'; sel.appendChild(op);
    D.families.forEach(function (f) {
      var og = el('optgroup'); og.label = state.lang === 'zh' ? f.name_zh : f.name_en;
      var o = el('option', null, (state.lang === 'zh' ? f.name_zh : f.name_en) + ' ' + t('familyAll')); o.value = 'family:' + f.id; og.appendChild(o);
      D.types.forEach(function (tp) {
        if (tp.family !== f.id) return;
        var o2 = el('option', null, tp.letter + '  ' + twoNames(tp.name_zh, tp.name_en)); o2.value = tp.id; og.appendChild(o2);
      });
      sel.appendChild(og);
    });
    sel.value = state.key;
    sel.addEventListener('change', function () { setState({ key: sel.value }); });
    details.appendChild(labelled(t('type'), sel));

    // Before / after (single map only)
    if (this.role === 'toggle') {
      var seg = el('div', 'ro-row ro-seg');
      ['before', 'after'].forEach(function (s) {
        var b = el('button', state.show === s ? 'ro-on' : '', t(s));
        b.type = 'button';
        b.setAttribute('data-show', s);
        b.addEventListener('click', function () { setState({ show: s }); });
        seg.appendChild(b);
      });
      details.appendChild(seg);
    }

    // Areas
    if (this.layers.upper.getLayers().length) {
      var areas = el('div', 'ro-row');
      areas.appendChild(el('span', 'ro-lbl', t('areas')));
      ['main', 'upper'].forEach(function (a) {
        var lab = el('label'), r = el('input'); r.type = 'radio'; r.name = 'ro-areas-' + L.stamp(self); r.checked = state.areas === a;
        r.setAttribute('data-areas', a);
        r.addEventListener('change', function () { if (r.checked) setState({ areas: a }); });
        lab.appendChild(r); lab.appendChild(document.createTextNode(' ' + t(a) + ' '));
        areas.appendChild(lab);
      });
      details.appendChild(areas);
    }

    // Layers
    var fs = el('fieldset'); fs.appendChild(el('legend', null, t('layers')));
    fs.appendChild(checkbox(t('demand'), state.layers.demand, 'demand', function (on) { patchLayers({ demand: on }); }));
    fs.appendChild(checkbox(t('names'), state.layers.names, 'names', function (on) { patchLayers({ names: on }); }));
    if (this.layers.upper.getLayers().length)
      fs.appendChild(checkbox(t('upperOutline'), state.layers.upperOutline, 'upperOutline', function (on) { patchLayers({ upperOutline: on }); }));
    D.groups.forEach(function (g) {
      fs.appendChild(checkbox(state.lang === 'zh' ? g.name_zh : g.name_en, state.layers.groups[g.id], 'group:' + g.id, function (on) {
        var groups = L.extend({}, state.layers.groups); groups[g.id] = on; patchLayers({ groups: groups });
      }));
    });
    fs.appendChild(el('div', 'ro-lbl', t('facilities')));
    D.families.forEach(function (f) {
      var row = checkbox(state.lang === 'zh' ? f.name_zh : f.name_en, state.layers.families[f.id], 'family:' + f.id, function (on) {
        var fams = L.extend({}, state.layers.families); fams[f.id] = on; patchLayers({ families: fams });
      });
      row.insertBefore(svgShape(f.shape, f.color, f.color, '', '#fff', 14), row.lastChild);
      fs.appendChild(row);
    });
    details.appendChild(fs);
    div.appendChild(details);
  };

  function patchLayers(p) { setState({ layers: L.extend({}, state.layers, p), layersChanged: true }); }
  function labelled(text, control) {
    var lab = el('label', 'ro-row'); lab.appendChild(el('span', 'ro-lbl', text)); lab.appendChild(control); return lab;
  }
  function checkbox(text, on, id, fn) {
    var lab = el('label', 'ro-check'), c = el('input'); c.type = 'checkbox'; c.checked = !!on; c.setAttribute('data-layer', id);
    c.addEventListener('change', function () { fn(c.checked); });
    lab.appendChild(c); lab.appendChild(el('span', null, ' ' + text));
    return lab;
  }

  MapView.prototype.addLegend = function () {
    var self = this;
    var Legend = L.Control.extend({
      onAdd: function () {
        var div = el('div', 'ro-legend');
        L.DomEvent.disableClickPropagation(div);
        L.DomEvent.disableScrollPropagation(div);
        self.legend = div;
        return div;
      }
    });
    // Bottom left, apart from the layer panel (top right); fitLegend keeps it clear of every control.
    this.map.addControl(new Legend({ position: 'bottomleft' }));
  };

  MapView.prototype.renderLegend = function () {
    // The side-by-side page has one legend (on the left map) for both maps.
    var div = this.legend, both = !!this.opts.legendBoth, show = both ? 'after' : this.show();
    while (div.firstChild) div.removeChild(div.firstChild);
    var details = el('details'), self = this;
    // Narrow maps (e.g. embedded in the report) start with the legend folded.
    if (this.legendOpen === undefined) this.legendOpen = this.map.getSize().x >= 640;
    details.open = this.legendOpen;
    details.addEventListener('toggle', function () { self.legendOpen = details.open; self.fitLegend(); });
    details.appendChild(el('summary', 'ro-legend-title', t('legend') + ': ' + indicatorLabel(state.indicator)));
    var box = el('div', 'ro-legend-body');
    function sw(colour, text, cls) {
      var row = el('div', 'ro-legend-row'), s = el('span', 'ro-swatch ' + (cls || '')); s.style.background = colour;
      row.appendChild(s); row.appendChild(el('span', null, text)); box.appendChild(row);
    }
    if (state.indicator === 'reach') {
      var br = reachBreaks(state.key);
      for (var q = br.length - 1; q >= 0; q--) sw(REACH_COLOURS[q], fmt(q ? br[q - 1] : 0) + '–' + fmt(br[q]) + ' ' + t('population'));
      sw(REACH_ZERO, '0');
      sw(NO_DATA, t('noPop'));
      box.appendChild(el('div', 'ro-legend-note', t('reachNote') + (keyTypes(state.key).length > 1 ? ' (' + t('pooledNote') + ')' : '')));
    } else if (state.indicator === 'access') {
      if (accessRows(state.key)) {
        var ab = accessBreaks(state.key);
        for (var q2 = ab.length - 1; q2 >= 0; q2--) {
          sw(ACCESS_COLOURS[q2], per1000((q2 ? ab[q2 - 1] : 0) / 1000) + '–' + per1000(ab[q2] / 1000) + ' ' + t('per1000'));
        }
        sw(REACH_ZERO, '0');
        sw(NO_DATA, t('noPop'));
        box.appendChild(el('div', 'ro-legend-note', t('accessNote')));
      } else box.appendChild(el('div', 'ro-legend-note', t('accessPick')));
    } else if (state.indicator === 'change') {
      var edges = ['≥ +10', '+2 – +10', '0 – +2', '0', '-2 – 0', '-10 – -2', '≤ -10'];
      for (var c = CHANGE_COLOURS.length - 1; c >= 0; c--) sw(CHANGE_COLOURS[c], edges[CHANGE_COLOURS.length - 1 - c] + ' ' + t('pts'));
      sw(NO_DATA, t('noPop'));
    } else if (state.indicator === 'standards') {
      sw(STD_COLOURS.met, t('met'));
      if (show === 'after') sw(STD_COLOURS.newly, t('newlyMet'));
      sw(STD_COLOURS.not, t('notMet'));
      sw(STD_COLOURS.none, t('noStd'));
    } else {
      for (var k = RATE_COLOURS.length - 1; k >= 0; k--) {
        sw(RATE_COLOURS[k], (k * 100 / RATE_COLOURS.length) + '–' + ((k + 1) * 100 / RATE_COLOURS.length) + '%');
      }
      sw(NO_DATA, t('noPop'));
    }
    if (state.layers.demand) {
      box.appendChild(el('div', 'ro-legend-sub', t('demand') + ' (' + t('sizePop') + ')'));
      if (state.indicator === 'change') {
        sw(GAIN_COLOUR, t('newlyReached'), 'ro-dot');
        sw(LOSS_COLOUR, t('lostReach'), 'ro-dot');
      } else if (state.indicator === 'access') {
        box.appendChild(el('div', 'ro-legend-note', t('accessDots')));
      } else {
        if (state.indicator !== 'reach') sw(DEMAND_COLOURS[3], t('covered'), 'ro-dot');
        sw(DEMAND_COLOURS[2], t('partly'), 'ro-dot');
        sw(DEMAND_COLOURS[1], t('uncovered'), 'ro-dot');
      }
    }
    D.groups.forEach(function (g) {
      if (!state.layers.groups[g.id]) return;
      var row = el('div', 'ro-legend-row'); row.appendChild(el('span', 'ro-dash'));
      row.appendChild(el('span', null, state.lang === 'zh' ? g.name_zh : g.name_en)); box.appendChild(row);
    });
    var facBox = box;
    var nTypes = keyTypes(state.key).length;
    if (nTypes > 5) {
      // Many types: the letter list folds away so the legend stays short.
      var fd = el('details', 'ro-legend-fold');
      fd.open = !!this.facLegendOpen;
      var selfLegend = this;
      fd.addEventListener('toggle', function () { selfLegend.facLegendOpen = fd.open; });
      fd.appendChild(el('summary', 'ro-legend-sub', t('facilities') + ' (' + nTypes + ')'));
      D.families.forEach(function (f) {
        if (!state.layers.families[f.id]) return;
        var row = el('div', 'ro-legend-row');
        row.appendChild(svgShape(f.shape, f.color, '#fff', '', f.color));
        if (show === 'after') row.appendChild(svgShape(f.shape, '#000', f.color, '', '#fff'));
        row.appendChild(el('span', null, state.lang === 'zh' ? f.name_zh : f.name_en));
        box.appendChild(row);
      });
      box.appendChild(fd);
      facBox = fd;
    } else box.appendChild(el('div', 'ro-legend-sub', t('facilities')));
    var typesOn = {};
    keyTypes(state.key).forEach(function (i) { typesOn[i] = true; });
    D.types.forEach(function (tp, i) {
      if (!typesOn[i] || !state.layers.families[tp.family]) return;
      var fam = D.familyById[tp.family], row = el('div', 'ro-legend-row');
      row.appendChild(svgShape(fam.shape, fam.color, '#fff', tp.letter, fam.color));
      if (show === 'after') row.appendChild(svgShape(fam.shape, '#000', fam.color, tp.letter, '#fff'));
      row.appendChild(el('span', null, twoNames(tp.name_zh, tp.name_en)));
      facBox.appendChild(row);
    });
    box.appendChild(el('div', 'ro-legend-note', t('existing') + ': ' + '□ / ' + t('newFac') + ': ■'));
    if (D.assumed_baseline) box.appendChild(el('div', 'ro-legend-note ro-assumed', t('assumedNote')));
    if (D.impedance_note) box.appendChild(el('div', 'ro-legend-note ro-impedance', D.impedance_note));
    if (D.datum === 'gcj02') box.appendChild(el('div', 'ro-legend-note', t('gcj')));
    details.appendChild(box);
    div.appendChild(details);
  };

  // ------------------------------------------------------------------ public API
  R.timings = R.timings || [];
  R.init = function (map, opts) {
    try {
      var t0 = window.performance ? performance.now() : 0;
      prepare();
      var t1 = window.performance ? performance.now() : 0;
      var view = new MapView(map, opts || {});
      R.maps.push(view);
      // Kept for benchmarks/report_bench.py: milliseconds spent decoding and drawing; and the zoom the
      // view was built at (its level of detail), which must be the fitted zoom, not a start value.
      R.timings.push({ role: view.role, prepare: t1 - t0, build: (window.performance ? performance.now() : 0) - t1,
        zoom: map.getZoom() });
      document.documentElement.setAttribute('data-regionopt-maps', String(R.maps.length));
      return view;
    } catch (err) {
      if (window.console) console.error(err);
      throw err;
    }
  };
  R.state = function () { return state; };
  R.setState = function (patch) { setState(patch); };
  R.data = function () { return D; };
  R.keyTypes = function (key) { return keyTypes(key); };
})();
