// The dd3d view page: a gallery of the folder's GLBs (/api/assets), an inspector for one and a
// side-by-side compare of several. Routes live in the hash (#inspect=PATH, #compare=A|B) so
// the browser's back button and links work. Everything taken from the folder (names, facts,
// prompts) goes into the page as text, never as HTML.
//
// Tests drive the page through window.dd3dView (see the end of this file) and read the
// data-* attributes: body[data-status] loading|ready|empty|error, body[data-view]
// gallery|inspect|compare, body[data-thumbnails] pending|done, .tile[data-state] and
// .vp[data-state] loading|loaded|error.
import { MODES, loadShaders } from './modes.js';
import { Thumbnailer, Viewport } from './viewport.js';

const MAX_COMPARE = 6;

const $ = (id) => document.getElementById(id);

/** createElement with attributes and children (strings become text nodes). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

/** URL of a file of the served folder; each segment encoded, so names with spaces or # work. */
const fileUrl = (rel, download = false) => `/files/${rel.split('/').map(encodeURIComponent).join('/')}${download ? '?download=1' : ''}`;

function fmtBytes(n) {
  return n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KB` : `${(n / (1 << 20)).toFixed(1)} MB`;
}

function fmtSeconds(s) {
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${Math.round(s - 60 * m)} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

const KIND_LABEL = { generated: 'generated', reference: 'reference', glb: 'GLB' };
const SECTION_TITLE = { generated: 'Generated assets', reference: 'Reference objects', glb: 'Other GLB files' };

/** [label, value] pairs for the facts list; `full` adds what only the inspector shows. */
function facts(asset, full = false) {
  const rows = [];
  const f = asset.facts;
  if (asset.kind === 'generated' && f) {
    if (f.source?.kind === 'distribution') rows.push(['distribution', f.source.path]);
    else if (f.source?.kind === 'prompt') rows.push(['prompt', `“${f.source.prompt}”`]);
    if (f.seed !== null) rows.push(['seed', f.seed]);
    if (full && f.instance !== null) rows.push(['instance', f.instance]);
    if (f.iterations !== null) rows.push(['iterations', f.iterations]);
    if (f.seconds !== null) rows.push(['time', fmtSeconds(f.seconds)]);
  } else if (asset.kind === 'reference' && f) {
    for (const [k, v] of Object.entries(f.attributes)) rows.push([k, v]);
    if (full && f.seed !== null) rows.push(['seed', f.seed]);
    if (full && f.view) rows.push(['view', f.view]);
  }
  rows.push(['size', fmtBytes(asset.size)]);
  if (full || asset.kind === 'glb') rows.push(['modified', new Date(asset.mtime).toLocaleString()]);
  return h(
    'dl',
    { class: 'facts' },
    rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))]),
  );
}

const downloadName = (asset) => `${asset.name.split('/').filter(Boolean).join('-')}.glb`;

// ---------------------------------------------------------------------------------- state

const state = {
  listing: null,
  byPath: new Map(),
  selected: new Set(),
  mode: 'shaded',
  autoRotate: false,
  viewports: [],
  glsl: null,
  thumbnailer: null,
  /** Live-rendered thumbnails by file version (liveThumbnail). */
  thumbnails: new Map(),
  routed: null,
  current: Promise.resolve(),
  /** Bumped whenever the viewer opens: a load that finishes after the user moved on is ignored. */
  generation: 0,
};

function setMessage(nodes) {
  const m = $('message');
  m.replaceChildren(...(nodes ? [nodes].flat() : []));
  m.hidden = !nodes;
}

// -------------------------------------------------------------------------------- gallery

/** Shows one frame of a turntable strip; hovering plays the others. */
function stripThumb(button, asset) {
  const n = asset.thumbnailFrames;
  button.style.backgroundImage = `url("${fileUrl(asset.thumbnail)}")`;
  button.style.backgroundSize = `${n * 100}% 100%`;
  const show = (k) => (button.style.backgroundPosition = `${(k / (n - 1)) * 100}% 0`);
  let timer = null;
  let k = 0;
  button.addEventListener('mouseenter', () => {
    timer ??= setInterval(() => show((k = (k + 1) % n)), 140);
  });
  button.addEventListener('mouseleave', () => {
    clearInterval(timer);
    timer = null;
    show((k = 0));
  });
  show(0);
}

/**
 * A rendered thumbnail as a data URL, or a rejection with the error message (logged once).
 * Kept per file version, so Refresh re-renders only GLBs that changed.
 */
function liveThumbnail(asset) {
  const key = `${asset.path}@${asset.mtime}@${asset.size}`;
  if (!state.thumbnails.has(key)) {
    const job = state.thumbnailer.render(fileUrl(asset.path)).catch((e) => {
      const error = e?.message ?? String(e);
      console.error(`dd3d view: cannot load ${asset.path}: ${error}`);
      throw error;
    });
    job.catch(() => {}); // the tiles handle it
    state.thumbnails.set(key, job);
  }
  return state.thumbnails.get(key);
}

function tile(asset) {
  const thumb = h('button', {
    class: 'thumb',
    type: 'button',
    title: `Inspect ${asset.name}`,
    onclick: () => navigate(`#inspect=${encodeURIComponent(asset.path)}`),
  });
  const el = h('article', { class: 'tile', dataset: { asset: asset.path, kind: asset.kind, state: 'picture' } });
  if (asset.thumbnail && asset.thumbnailFrames > 1) stripThumb(thumb, asset);
  else if (asset.thumbnail) thumb.append(h('img', { src: fileUrl(asset.thumbnail), alt: asset.name, loading: 'lazy' }));
  else {
    // no picture on disk: render one
    el.dataset.state = 'loading';
    const placeholder = h('span', { class: 'placeholder' }, 'rendering…');
    thumb.append(placeholder);
    el.thumbnailJob = liveThumbnail(asset).then(
      (src) => {
        placeholder.replaceWith(h('img', { src, alt: asset.name }));
        el.dataset.state = 'rendered';
      },
      (error) => {
        placeholder.textContent = `cannot load this GLB: ${error}`;
        el.dataset.state = 'error';
        el.dataset.error = error;
      },
    );
  }
  const pick = h('input', {
    type: 'checkbox',
    checked: state.selected.has(asset.path),
    onchange: (ev) => {
      if (ev.target.checked) state.selected.add(asset.path);
      else state.selected.delete(asset.path);
      el.classList.toggle('selected', ev.target.checked);
      updateCompareButton();
    },
  });
  el.classList.toggle('selected', state.selected.has(asset.path));
  el.append(
    thumb,
    h('label', { class: 'pick', title: 'Select for compare' }, pick, ' compare'),
    h(
      'div',
      { class: 'tile-body' },
      h('h3', {}, asset.name),
      h('span', { class: `badge ${asset.kind}` }, KIND_LABEL[asset.kind]),
      facts(asset),
      asset.problem ? h('p', { class: 'problem' }, asset.problem) : null,
      h('a', { href: fileUrl(asset.path, true), download: downloadName(asset) }, 'Download GLB'),
    ),
  );
  return el;
}

function updateCompareButton() {
  const n = state.selected.size;
  const b = $('compare');
  b.disabled = n < 2 || n > MAX_COMPARE;
  b.textContent = n > MAX_COMPARE ? `Compare (at most ${MAX_COMPARE})` : `Compare${n ? ` (${n})` : ''}`;
}

async function loadGallery() {
  document.body.dataset.status = 'loading';
  document.body.dataset.thumbnails = 'pending';
  let listing;
  try {
    const res = await fetch('/api/assets', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    listing = await res.json();
  } catch (e) {
    document.body.dataset.status = 'error';
    setMessage(`Cannot read the folder's list of assets (/api/assets: ${e.message ?? e}). Is dd3d view still running?`);
    throw e;
  }
  state.listing = listing;
  state.byPath = new Map(listing.assets.map((a) => [a.path, a]));
  for (const p of state.selected) if (!state.byPath.has(p)) state.selected.delete(p);
  $('folder').textContent = `${listing.root}/`;
  const n = listing.assets.length;
  $('count').textContent = `${n} GLB${n === 1 ? '' : 's'}${listing.truncated ? ' (folder too large: list incomplete)' : ''}`;
  const gallery = $('gallery');
  gallery.replaceChildren();
  updateCompareButton();
  if (n === 0) {
    setMessage([
      h('strong', {}, `No .glb files in ${listing.root}/`),
      h('br'),
      'Generate some with ',
      h('code', {}, 'dd3d generate --dist chair.json --n 3 --out DIR'),
      ' or ',
      h('code', {}, 'dd3d scenes refs --family chair --out DIR'),
      ', then press Refresh.',
    ]);
    document.body.dataset.status = 'empty';
    document.body.dataset.thumbnails = 'done';
    return listing;
  }
  setMessage(null);
  const tiles = [];
  for (const kind of ['generated', 'reference', 'glb']) {
    const group = listing.assets.filter((a) => a.kind === kind);
    if (group.length === 0) continue;
    gallery.append(h('h2', { class: 'section-title' }, `${SECTION_TITLE[kind]} (${group.length})`));
    for (const a of group) {
      const t = tile(a);
      tiles.push(t);
      gallery.append(t);
    }
  }
  document.body.dataset.status = 'ready';
  Promise.all(tiles.map((t) => t.thumbnailJob)).then(() => (document.body.dataset.thumbnails = 'done'));
  return listing;
}

// ------------------------------------------------------------------- inspector and compare

function closeViewer() {
  for (const v of state.viewports) v.dispose();
  state.viewports = [];
  $('viewports').replaceChildren();
  $('viewer').hidden = true;
  document.body.dataset.view = 'gallery';
}

function cell(asset) {
  const vp = h('div', { class: 'vp', dataset: { state: 'loading', asset: asset.path } });
  return { el: h('div', { class: 'cell' }, h('div', { class: 'cell-label', title: asset.path }, asset.name), vp), vp };
}

async function loadInto(cellParts, asset) {
  const v = new Viewport(cellParts.vp, state.glsl);
  v.setMode(state.mode);
  state.viewports.push(v);
  const r = await v.load(fileUrl(asset.path));
  if (!r.ok && r.error !== 'closed') {
    console.error(`dd3d view: cannot load ${asset.path}: ${r.error}`);
    cellParts.vp.append(h('div', { class: 'vp-error' }, `cannot load ${asset.name}: ${r.error}`));
  }
  return { path: asset.path, ...r };
}

function sidePanel(asset, radius) {
  const side = $('side');
  const pics = [];
  if (asset.kind === 'generated') {
    if (asset.thumbnail && asset.thumbnailFrames > 1)
      pics.push(
        h('h2', {}, 'Turntable'),
        h('a', { href: fileUrl(asset.thumbnail), target: '_blank' }, h('img', { src: fileUrl(asset.thumbnail), alt: 'turntable' })),
      );
    if (asset.preview)
      pics.push(
        h('h2', {}, 'NeRF preview'),
        h('a', { href: fileUrl(asset.preview), target: '_blank' }, h('img', { src: fileUrl(asset.preview), alt: 'preview' })),
      );
  } else if (asset.thumbnail) {
    pics.push(h('h2', {}, asset.kind === 'reference' ? 'Reference picture' : 'Picture'), h('img', { src: fileUrl(asset.thumbnail), alt: asset.name }));
  }
  const refs = [];
  if (asset.references.length || asset.unavailableReferences.length) {
    refs.push(h('h2', {}, `References of the distribution (${asset.references.length + asset.unavailableReferences.length})`));
    if (asset.references.length) {
      refs.push(
        h(
          'div',
          { class: 'refs' },
          asset.references.map((r) => h('a', { href: fileUrl(r), target: '_blank', title: r }, h('img', { src: fileUrl(r), alt: r, loading: 'lazy' }))),
        ),
      );
    }
    if (asset.unavailableReferences.length) {
      refs.push(
        h(
          'ul',
          {},
          asset.unavailableReferences.map((u) => h('li', {}, `${u.path}: ${u.reason}`)),
        ),
      );
    }
  }
  const settings =
    asset.kind === 'generated' && asset.facts?.settings
      ? h('details', {}, h('summary', {}, 'settings'), h('pre', {}, JSON.stringify(asset.facts.settings, null, 2)))
      : null;
  const parts = [
    h('h3', {}, asset.name),
    h('span', { class: `badge ${asset.kind}` }, KIND_LABEL[asset.kind]),
    facts(asset, true),
    radius ? h('p', { class: 'muted' }, `bounding radius ${radius.toPrecision(3)} (shown scaled to 1)`) : null,
    asset.problem ? h('p', { class: 'problem' }, asset.problem) : null,
    h('a', { href: fileUrl(asset.path, true), download: downloadName(asset) }, 'Download GLB'),
    asset.manifest ? h('a', { href: fileUrl(asset.manifest), target: '_blank' }, asset.manifest) : null,
    settings,
    ...pics,
    ...refs,
  ];
  side.replaceChildren(...parts.filter(Boolean));
  side.hidden = false;
}

function openViewer(kind, title) {
  closeViewer();
  document.body.dataset.view = kind;
  $('viewer').hidden = false;
  $('viewer-title').textContent = title;
  return ++state.generation;
}

async function showInspect(path) {
  const asset = state.byPath.get(path);
  if (!asset) return { ok: false, error: `no asset ${path}` };
  const generation = openViewer('inspect', asset.name);
  const parts = cell(asset);
  const grid = $('viewports');
  grid.style.gridTemplateColumns = '1fr';
  grid.append(parts.el);
  sidePanel(asset, null);
  const loading = loadInto(parts, asset); // creates the viewport at once, then loads
  state.viewports[0]?.setAutoRotate(state.autoRotate);
  const r = await loading;
  if (r.ok && generation === state.generation) sidePanel(asset, r.radius);
  return r;
}

async function showCompare(paths) {
  const assets = paths.map((p) => state.byPath.get(p)).filter(Boolean);
  if (assets.length < 2) return [];
  openViewer('compare', `Compare ${assets.length}: ${assets.map((a) => a.name).join(' · ')}`);
  $('side').hidden = true;
  const grid = $('viewports');
  const cols = assets.length <= 3 ? assets.length : Math.ceil(Math.sqrt(assets.length));
  grid.style.gridTemplateColumns = `repeat(${cols}, 1fr)`;
  const parts = assets.map((a) => cell(a));
  grid.append(...parts.map((p) => p.el));
  const results = Promise.all(assets.map((a, i) => loadInto(parts[i], a)));
  // every viewport follows every other: moving one moves all
  for (const v of state.viewports) v.link(state.viewports);
  // auto-rotate drives the first camera only; the links carry it to the rest
  state.viewports[0]?.setAutoRotate(state.autoRotate);
  return results;
}

// ---------------------------------------------------------------------------------- routes

function route() {
  const hash = location.hash;
  if (hash === state.routed) return state.current;
  state.routed = hash;
  const m = /^#(inspect|compare)=(.*)$/.exec(hash);
  if (!m) closeViewer();
  const decode = (s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return '';
    }
  };
  state.current = !m ? Promise.resolve(null) : m[1] === 'inspect' ? showInspect(decode(m[2])) : showCompare(m[2].split('|').map(decode));
  return state.current;
}

function navigate(hash) {
  if (location.hash !== hash) history.pushState(null, '', hash || location.pathname);
  return route();
}

function setMode(mode) {
  if (!MODES.includes(mode)) throw new Error(`unknown display mode "${mode}"; modes: ${MODES.join(', ')}`);
  state.mode = mode;
  for (const b of $('modes').children) b.setAttribute('aria-pressed', String(b.dataset.mode === mode));
  for (const v of state.viewports) v.setMode(mode);
}

function setAutoRotate(on) {
  state.autoRotate = on;
  $('autorotate').checked = on;
  state.viewports[0]?.setAutoRotate(on);
}

// ------------------------------------------------------------------------------- start-up

async function start() {
  try {
    state.glsl = await loadShaders();
  } catch (e) {
    document.body.dataset.status = 'error';
    setMessage(`Cannot load the display shaders: ${e.message}`);
    throw e;
  }
  state.thumbnailer = new Thumbnailer(state.glsl);
  $('modes').append(
    ...MODES.map((m) => h('button', { type: 'button', dataset: { mode: m }, 'aria-pressed': String(m === state.mode), onclick: () => setMode(m) }, m)),
  );
  $('autorotate').addEventListener('change', (e) => setAutoRotate(e.target.checked));
  $('back').addEventListener('click', () => navigate(''));
  $('refresh').addEventListener('click', () => loadGallery().catch(() => {}));
  $('compare').addEventListener('click', () => navigate(`#compare=${[...state.selected].map(encodeURIComponent).join('|')}`));
  window.addEventListener('popstate', () => route());
  window.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && document.body.dataset.view !== 'gallery') navigate('');
  });
  const listing = await loadGallery();
  await route();
  return listing;
}

const ready = start();
ready.catch(() => {}); // shown on the page already

/** Test and scripting hooks: each returns a promise that settles once the page has drawn. */
window.dd3dView = {
  /** Resolves to the /api/assets listing once the gallery is built. */
  ready,
  /** Resolves once every live-rendered gallery thumbnail has finished or failed. */
  thumbnails: () =>
    ready
      .then(() => Promise.all([...document.querySelectorAll('.tile')].map((t) => t.thumbnailJob)))
      // and the pictures from disk that are in view (lazy ones further down load on scroll)
      .then(() =>
        Promise.all(
          [...document.querySelectorAll('.tile img')].filter((img) => img.getBoundingClientRect().top < innerHeight).map((img) => img.decode().catch(() => {})),
        ),
      ),
  /** Inspector for one asset (by its path); resolves to {ok, error?}. */
  open: (path) => navigate(`#inspect=${encodeURIComponent(path)}`),
  /** Side-by-side viewports for two or more paths; resolves to one {path, ok, error?} each. */
  compare: (paths) => navigate(`#compare=${paths.map(encodeURIComponent).join('|')}`),
  /** Back to the gallery. */
  close: () => navigate(''),
  setMode: async (mode) => setMode(mode),
  setAutoRotate: async (on) => setAutoRotate(on),
  reload: () => loadGallery(),
  /** Camera positions of the open viewports (tests check that compare links them). */
  cameras: () => state.viewports.map((v) => v.camera.position.toArray()),
  modes: MODES,
};
