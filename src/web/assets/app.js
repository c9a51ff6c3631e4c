// intake dashboard. Plain JavaScript, no build step, no network beyond this station.
// Live over server-sent events (/api/events); reconnects by itself, also to a restarted
// daemon, and then reloads what it shows from the JSON API.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const ICON = {
    accept: 'i-accept',
    accept_repriced: 'i-repriced',
    hold: 'i-hold',
    manual: 'i-manual',
    return_to_sender: 'i-return',
  };
  const SHORT = {
    accept: 'Accept',
    accept_repriced: 'Repriced',
    hold: 'Hold',
    manual: 'Manual',
    return_to_sender: 'Return',
  };
  const PHASE = {
    starting: 'Starting…',
    idle: 'Ready — place a parcel',
    settling: 'Weighing…',
    measuring: 'Measuring and reading the label…',
    committing: 'Storing the verdict…',
    awaitremoval: 'Take the parcel off',
    stopped: 'Station stopped',
  };
  const RECENT_ROWS = 8;

  const state = {
    scans: [], // newest first
    pinned: null, // a scan id shown instead of the newest
    exceptions: new Map(), // scan id → <li>
    pin: sessionStorage.getItem('intake-pin') || '',
    source: null,
    webStartedAt: null,
  };

  // ---- formatting -------------------------------------------------------------------
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const icon = (id) => {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('class', 'icon');
    svg.setAttribute('aria-hidden', 'true');
    const use = document.createElementNS(ns, 'use');
    use.setAttribute('href', '#' + id);
    svg.appendChild(use);
    return svg;
  };
  const time = (iso) => (iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : '');
  const lb = (s) => (s.weight_lb == null ? '—' : s.weight_lb.toFixed(2) + ' lb');
  const kg = (ug) => (ug == null ? '' : (ug / 1e9).toFixed(2) + ' kg');
  const dimsCm = (s) =>
    s.length_um == null
      ? ''
      : [s.length_um, s.width_um, s.height_um].map((v) => (v / 1e4).toFixed(1)).join(' × ') + ' cm';
  const money = (cents, cur) =>
    cents == null ? '—' : (cur ? cur + ' ' : '') + (Math.abs(cents) / 100).toFixed(2);
  const sign = (cents) => (cents > 0 ? '+' : cents < 0 ? '−' : '±');
  // A big number with its unit small after it.
  const withUnit = (node, text, unit) => {
    if (text == null) node.textContent = '—';
    else node.replaceChildren(text, el('span', 'unit', unit));
  };
  // A big amount with its currency small before it.
  const amount = (node, cents, cur, signed) => {
    if (cents == null) {
      node.textContent = signed ? 'none' : '—';
      return;
    }
    const parts = [];
    if (cur) parts.push(el('span', 'cur', cur));
    parts.push((signed ? sign(cents) : '') + (Math.abs(cents) / 100).toFixed(2));
    node.replaceChildren(...parts);
  };
  const ago = (iso) => {
    if (!iso) return 'never';
    const s = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    if (s < 90) return Math.round(s) + ' s ago';
    if (s < 5400) return Math.round(s / 60) + ' min ago';
    if (s < 172800) return Math.round(s / 3600) + ' h ago';
    return Math.round(s / 86400) + ' days ago';
  };
  const bytes = (n) =>
    n < 1024 * 1024 ? (n / 1024).toFixed(0) + ' KB' : (n / 1024 / 1024).toFixed(1) + ' MB';

  async function getJson(url) {
    const r = await fetch(url, { cache: 'no-store' });
    if (!r.ok) throw new Error(url + ': ' + r.status);
    return r.json();
  }

  // ---- the current parcel -----------------------------------------------------------
  function showScan(s, fresh) {
    const cur = $('current');
    const banner = $('banner');
    cur.dataset.scanId = s.scan_id;
    banner.dataset.disposition = s.disposition;
    $('banner-use').setAttribute('href', '#' + (ICON[s.disposition] || 'i-wait'));
    $('banner-text').textContent = s.headline;
    if (fresh) {
      banner.classList.remove('flash');
      void banner.offsetWidth; // restart the animation
      banner.classList.add('flash');
    }
    const reasons = $('reasons');
    reasons.replaceChildren(
      ...(s.reasons_words || [])
        .filter((w, i) => s.reasons[i] !== 'repriced')
        .map((w) => el('li', null, w.charAt(0).toUpperCase() + w.slice(1))),
    );
    $('f-waybill').textContent = s.waybill || 'not read';
    withUnit($('f-weight'), s.weight_lb == null ? null : s.weight_lb.toFixed(2), 'lb');
    $('f-weight-metric').textContent = kg(s.weight_ug);
    withUnit(
      $('f-dims'),
      s.dims_in ? s.dims_in.map((v) => v.toFixed(1)).join(' × ') : null,
      'in',
    );
    $('f-dims-metric').textContent = dimsCm(s);
    amount($('f-price'), s.price_cents, s.currency, false);
    // The billed weight, and whether billing may use this measurement at all.
    const notBillable =
      s.billable === false
        ? ' · not for billing: ' + (s.not_billable || []).map((r) => r.replace(/_/g, ' ')).join(', ')
        : '';
    $('f-billable').textContent =
      (s.billable_weight_lb == null ? '' : 'billed on ' + s.billable_weight_lb.toFixed(2) + ' lb') +
      notBillable;
    const adj = $('f-adjust');
    amount(adj, s.adjustment_cents, s.currency, true);
    adj.className = s.adjustment_cents > 0 ? 'adj-up' : s.adjustment_cents < 0 ? 'adj-down' : '';
    $('f-quoted').textContent =
      s.quoted_cents == null ? 'no quote' : 'quoted ' + money(s.quoted_cents, s.currency);
    $('f-time').textContent = 'Scanned ' + time(s.created_at) + ' · scan ' + s.scan_id;
    const last = (s.resolutions || []).filter((r) => r.actor === 'operator').pop();
    $('f-resolution').textContent = last
      ? ' · resolved by the operator: ' + (last.note || last.disposition)
      : '';
    showEvidence(s);
    $('pinned').hidden = !state.pinned;
    document.querySelectorAll('#recent tr').forEach((tr) => {
      tr.classList.toggle('sel', tr.dataset.scanId === s.scan_id);
    });
  }

  function showEvidence(s) {
    const img = $('evidence');
    const cap = $('evidence-caption');
    if (s.evidence_url) {
      if (img.getAttribute('src') !== s.evidence_url) img.src = s.evidence_url;
      img.hidden = false;
      cap.textContent = 'Label camera · the barcode read is outlined in yellow';
    } else {
      img.hidden = true;
      img.removeAttribute('src');
      cap.textContent = 'Saving the camera image…';
    }
  }

  function showNewest() {
    if (state.pinned) return;
    if (state.scans.length) showScan(state.scans[0], false);
  }

  async function pin(id) {
    if (!id) {
      state.pinned = null;
      if (location.hash) history.replaceState(null, '', location.pathname);
      $('pinned').hidden = true;
      showNewest();
      return;
    }
    state.pinned = id;
    if (location.hash !== '#scan=' + id) history.replaceState(null, '', '#scan=' + id);
    try {
      showScan(await getJson('/api/scans/' + encodeURIComponent(id)), false);
    } catch (e) {
      state.pinned = null;
      showNewest();
    }
  }

  // ---- last scans -------------------------------------------------------------------
  function renderRecent() {
    const rows = state.scans.slice(0, RECENT_ROWS).map((s) => {
      const tr = el('tr');
      tr.dataset.scanId = s.scan_id;
      tr.title = 'Show this scan';
      tr.append(el('td', null, time(s.created_at)), el('td', 'wb', s.waybill || 'not read'));
      const tag = el('span', 'tag');
      tag.dataset.disposition = s.disposition;
      tag.append(icon(ICON[s.disposition] || 'i-wait'), SHORT[s.disposition] || s.disposition);
      const td = el('td');
      td.append(tag);
      tr.append(td, el('td', null, lb(s)), el('td', null, money(s.price_cents, '')));
      tr.addEventListener('click', () => pin(s.scan_id));
      if (s.scan_id === $('current').dataset.scanId) tr.classList.add('sel');
      return tr;
    });
    $('recent').replaceChildren(...rows);
  }

  // ---- exceptions -------------------------------------------------------------------
  function confirmWords(d) {
    if (d === 'return_to_sender') return 'Confirm returned';
    if (d === 'hold') return 'Confirm on hold';
    return 'Handled by hand';
  }

  function exceptionItem(s) {
    const li = el('li', 'exc');
    li.dataset.scanId = s.scan_id;
    li.dataset.disposition = s.disposition;
    const head = el('button', 'exc-head');
    head.type = 'button';
    head.title = 'Show this scan';
    head.append(icon(ICON[s.disposition] || 'i-wait'), s.headline, el('span', 'time', time(s.created_at)));
    head.addEventListener('click', () => pin(s.scan_id));
    li.append(head);
    li.append(el('p', 'exc-why', (s.reasons_words || []).join(' · ')));
    if (s.waybill) {
      li.append(el('div', 'exc-wb', s.waybill));
    } else {
      const form = el('form', 'exc-form');
      const input = el('input');
      input.name = 'waybill';
      input.autocomplete = 'off';
      input.spellcheck = false;
      input.placeholder = 'Waybill: type or scan';
      input.setAttribute('aria-label', 'Waybill for the scan of ' + time(s.created_at));
      const save = el('button', 'primary', 'Save');
      save.type = 'submit';
      form.append(input, save);
      form.addEventListener('submit', (ev) => {
        ev.preventDefault();
        const w = input.value.trim();
        if (!w) {
          input.focus();
          return;
        }
        resolve(li, { action: 'waybill', waybill: w });
      });
      li.append(form);
    }
    const actions = el('div', 'exc-actions');
    const confirm = el('button', null, confirmWords(s.disposition));
    confirm.type = 'button';
    confirm.className = 'confirm';
    confirm.addEventListener('click', () => resolve(li, { action: 'confirm' }));
    actions.append(confirm);
    li.append(actions, el('p', 'err'));
    li.querySelector('.err').setAttribute('role', 'alert');
    return li;
  }

  function renderExceptions(list) {
    const ol = $('exceptions');
    const want = new Set(list.map((s) => s.scan_id));
    for (const [id, li] of state.exceptions) {
      if (!want.has(id) && !li.classList.contains('done')) {
        li.remove();
        state.exceptions.delete(id);
      }
    }
    // Newest first; items being typed into stay as they are.
    let prev = null;
    for (const s of list) {
      let li = state.exceptions.get(s.scan_id);
      if (!li) {
        li = exceptionItem(s);
        state.exceptions.set(s.scan_id, li);
      }
      if (prev ? prev.nextSibling !== li : ol.firstChild !== li) {
        if (prev) prev.after(li);
        else ol.prepend(li);
      }
      prev = li;
    }
    const n = list.length;
    $('exc-count').textContent = String(n);
    $('exc-count').classList.toggle('has', n > 0);
    $('exc-empty').hidden = n > 0;
    // A hand scanner types into whatever has focus: give it the newest no-read.
    if (document.activeElement === document.body || document.activeElement === null) {
      const input = ol.querySelector('li:not(.done) input[name="waybill"]');
      if (input) input.focus();
    }
  }

  async function loadExceptions() {
    try {
      renderExceptions((await getJson('/api/exceptions')).exceptions);
    } catch (e) {
      /* shown as offline by the event stream */
    }
  }

  async function resolve(li, body) {
    const id = li.dataset.scanId;
    const err = li.querySelector('.err');
    const buttons = li.querySelectorAll('button, input');
    err.textContent = '';
    buttons.forEach((b) => (b.disabled = true));
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        const headers = { 'Content-Type': 'application/json' };
        if (state.pin) headers['X-Intake-Pin'] = state.pin;
        const r = await fetch('/api/scans/' + encodeURIComponent(id) + '/resolution', {
          method: 'POST',
          headers,
          body: JSON.stringify(body),
        });
        const j = await r.json().catch(() => ({ error: 'the station answered ' + r.status }));
        if (r.status === 401 && attempt === 0) {
          $('pin-why').textContent = 'This station needs the operator PIN to record a resolution.';
          if (await askPin()) continue;
        }
        if (!r.ok) {
          err.textContent = j.error || 'not saved (' + r.status + ')';
          return;
        }
        li.classList.add('done');
        li.querySelector('.exc-why').textContent =
          'Resolved: ' + (j.disposition || '').replace(/_/g, ' ') + (j.waybill ? ' · ' + j.waybill : '');
        setTimeout(() => {
          li.remove();
          state.exceptions.delete(id);
          loadExceptions();
        }, 2500);
        return;
      }
    } catch (e) {
      err.textContent = 'Not saved: the station did not answer. Try again.';
    } finally {
      if (!li.classList.contains('done')) buttons.forEach((b) => (b.disabled = false));
    }
  }

  function askPin() {
    const dialog = $('pin-dialog');
    const input = $('pin-input');
    input.value = '';
    // Enter means OK (the form's first button, which Enter would press, is Cancel).
    input.onkeydown = (e) => {
      if (e.key === 'Enter') {
        e.preventDefault();
        dialog.close('ok');
      }
    };
    return new Promise((done) => {
      dialog.addEventListener(
        'close',
        () => {
          if (dialog.returnValue === 'ok' && input.value) {
            state.pin = input.value;
            sessionStorage.setItem('intake-pin', state.pin);
            done(true);
          } else done(false);
        },
        { once: true },
      );
      dialog.showModal();
      input.focus();
    });
  }

  // ---- health -----------------------------------------------------------------------
  function renderStatus(st) {
    if (st.station_id) $('station').textContent = st.station_id;
    const d = st.daemon;
    if (d) renderDaemon(d);
    if (st.stopped) $('phase').textContent = PHASE.stopped;
    if ('outbox_depth' in st) {
      $('h-outbox').textContent = st.outbox_depth + (st.outbox_depth === 1 ? ' record' : ' records');
      $('h-sync').textContent = st.sync_configured
        ? ago(st.last_sync_at)
        : st.last_sync_at
          ? ago(st.last_sync_at)
          : 'not configured';
      $('h-evidence').textContent =
        st.evidence.files + ' images, ' + bytes(st.evidence.bytes);
    }
  }

  function renderDaemon(d) {
    $('phase').textContent = d.running ? PHASE[d.phase] || d.phase : PHASE.stopped;
    const items = Object.entries(d.devices || {}).map(([name, h]) => {
      const li = el('li');
      li.dataset.ok = String(h.ok);
      li.dataset.device = name;
      const text = el('span', null, name.charAt(0).toUpperCase() + name.slice(1) + (h.ok ? ': OK' : ': FAULT'));
      if (!h.ok && h.detail) text.append(el('span', 'detail', h.detail));
      li.append(icon(h.ok ? 'i-ok' : 'i-fault'), text);
      return li;
    });
    $('devices').replaceChildren(...items);
  }

  async function loadStatus() {
    try {
      renderStatus(await getJson('/api/status'));
    } catch (e) {
      /* the event stream shows the connection state */
    }
  }

  async function loadAll() {
    try {
      const [status, scans] = await Promise.all([
        getJson('/api/status'),
        getJson('/api/scans?limit=' + RECENT_ROWS),
      ]);
      renderStatus(status);
      state.scans = scans.scans;
      renderRecent();
      if (state.pinned) await pin(state.pinned);
      else showNewest();
      await loadExceptions();
    } catch (e) {
      /* retried on the next (re)connection */
    }
  }

  // ---- the event stream -------------------------------------------------------------
  function setConn(s) {
    const c = $('conn');
    c.dataset.state = s;
    c.querySelector('use').setAttribute('href', s === 'live' ? '#i-ok' : '#i-wait');
    $('conn-text').textContent =
      s === 'live' ? 'Live' : s === 'connecting' ? 'Connecting…' : 'Reconnecting…';
    $('offline').hidden = s === 'live' || s === 'connecting';
    document.body.classList.toggle('is-offline', s === 'reconnecting');
  }

  // Off loopback the station may want the PIN for reads too: sign in once; a session
  // cookie then carries it (the event stream included). Wrong PINs are slowed down by the
  // station (429 with Retry-After), so wait as it says.
  async function signIn() {
    let why = 'This station needs the operator PIN.';
    for (;;) {
      const r = await fetch('/api/status', { cache: 'no-store' }).catch(() => null);
      if (!r || (r.status !== 401 && r.status !== 429)) return;
      if (r.status === 429) {
        const secs = Number(r.headers.get('Retry-After')) || 5;
        $('pin-why').textContent = 'Too many wrong PINs: wait ' + secs + ' s.';
        await new Promise((done) => setTimeout(done, secs * 1000));
        continue;
      }
      if (!state.pin) {
        $('pin-why').textContent = why;
        if (!(await askPin())) continue;
      }
      const l = await fetch('/api/login', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Intake-Pin': state.pin },
        body: '{}',
      }).catch(() => null);
      if (l && l.ok) return;
      state.pin = '';
      sessionStorage.removeItem('intake-pin');
      if (l && l.status === 429) {
        const secs = Number(l.headers.get('Retry-After')) || 5;
        $('pin-why').textContent = 'Too many wrong PINs: wait ' + secs + ' s.';
        await new Promise((done) => setTimeout(done, secs * 1000));
      }
      why = 'Wrong PIN; try again.';
    }
  }

  function connect() {
    const es = new EventSource('/api/events');
    state.source = es;
    es.addEventListener('hello', (e) => {
      const h = JSON.parse(e.data);
      state.webStartedAt = h.web_started_at;
      setConn('live');
      loadAll();
    });
    es.addEventListener('scan', (e) => {
      const s = JSON.parse(e.data);
      state.scans = [s].concat(state.scans.filter((x) => x.scan_id !== s.scan_id)).slice(0, 50);
      if (!state.pinned) showScan(s, true);
      renderRecent();
      if (s.needs_operator) loadExceptions();
    });
    es.addEventListener('evidence', (e) => {
      const id = JSON.parse(e.data).scan_id;
      const url = '/api/scans/' + id + '/evidence.jpg';
      const s = state.scans.find((x) => x.scan_id === id);
      if (s) s.evidence_url = url;
      if ($('current').dataset.scanId === id) showEvidence({ evidence_url: url });
    });
    es.addEventListener('status', (e) => renderDaemon(JSON.parse(e.data)));
    es.addEventListener('resolution', (e) => {
      const r = JSON.parse(e.data);
      loadExceptions();
      if ($('current').dataset.scanId === r.scan_id) pin(state.pinned);
    });
    es.addEventListener('lagged', () => loadAll());
    es.onerror = () => {
      setConn('reconnecting');
      // A network error retries by itself; a refused answer closes the stream for good,
      // so open a new one.
      if (es.readyState === EventSource.CLOSED) {
        es.close();
        setTimeout(() => signIn().then(connect), 2000);
      }
    };
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('back-live').addEventListener('click', () => pin(null));
    const m = /^#scan=([0-9a-fA-F-]{36})$/.exec(location.hash);
    if (m) state.pinned = m[1];
    window.addEventListener('hashchange', () => {
      const h = /^#scan=([0-9a-fA-F-]{36})$/.exec(location.hash);
      pin(h ? h[1] : null);
    });
    signIn().then(connect);
    // Sync age and outbox depth change without events.
    setInterval(loadStatus, 10000);
  });
})();
