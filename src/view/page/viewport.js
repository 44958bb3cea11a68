// One 3D view: a canvas with its own WebGLRenderer, camera and OrbitControls, showing one GLB.
// Models are recentred and scaled to the unit sphere, so every viewport frames its model the
// same way and linked cameras (compare) show each model from the same angle and distance.
// Frames are drawn only when something changed (controls, auto-rotate, mode, resize): a
// software-rendered WebGL page must not burn a core doing nothing.
import * as THREE from 'three';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';
import { OrbitControls } from 'three/addons/controls/OrbitControls.js';
import { applyMode, disposeModel } from './modes.js';

export const BACKGROUND = 0x1d2128;
const FOV = 40;
/** Camera distance for the unit sphere to fill the view with a margin. */
const DISTANCE = 1.15 / Math.sin(THREE.MathUtils.degToRad(FOV / 2));

const live = new Set();
let looping = false;

/** One requestAnimationFrame loop for every live viewport. */
function loop(time) {
  for (const v of live) v.tick(time);
  if (live.size > 0) requestAnimationFrame(loop);
  else looping = false;
}

/** Loads a GLB; rejects with an Error whose message says what went wrong. */
export function loadGlb(url) {
  return new Promise((resolve, reject) => {
    new GLTFLoader().load(url, resolve, undefined, (e) => {
      const message = String(e?.message ?? e);
      // GLTFLoader reads anything without the GLB magic as glTF JSON: say what that means
      reject(new Error(e instanceof SyntaxError ? `not a GLB file (${message})` : message));
    });
  });
}

/** Lights for the shaded mode: sky/ground fill plus a key light above the front left. */
export function addLights(scene) {
  scene.add(new THREE.HemisphereLight(0xffffff, 0x50555e, 1.6));
  const key = new THREE.DirectionalLight(0xffffff, 2.2);
  key.position.set(-2, 3, 2.5);
  scene.add(key);
  const back = new THREE.DirectionalLight(0xffffff, 0.6);
  back.position.set(2, 1, -3);
  scene.add(back);
}

/**
 * Puts `model` under a pivot that moves its bounding sphere to the origin with radius 1.
 * Returns the pivot and the original radius (for the facts panel).
 */
export function normalized(model) {
  const sphere = new THREE.Box3().setFromObject(model).getBoundingSphere(new THREE.Sphere());
  const pivot = new THREE.Group();
  const scale = sphere.radius > 0 && Number.isFinite(sphere.radius) ? 1 / sphere.radius : 1;
  if (!sphere.isEmpty()) model.position.sub(sphere.center);
  pivot.scale.setScalar(scale);
  pivot.add(model);
  return { pivot, radius: sphere.radius };
}

/** A camera looking at the origin from the front right, a little above (three's +Z front). */
export function placeCamera(camera) {
  const az = THREE.MathUtils.degToRad(35);
  const el = THREE.MathUtils.degToRad(20);
  camera.position.set(Math.sin(az) * Math.cos(el), Math.sin(el), Math.cos(az) * Math.cos(el)).multiplyScalar(DISTANCE);
  camera.near = 0.05;
  camera.far = 50;
  camera.lookAt(0, 0, 0);
  camera.updateProjectionMatrix();
}

export class Viewport {
  /**
   * @param {HTMLElement} container gets the canvas; its data-state says "loading", "loaded" or "error"
   * @param {object} glsl the display modes' shader sources (loadShaders())
   */
  constructor(container, glsl) {
    this.container = container;
    this.glsl = glsl;
    this.mode = 'shaded';
    this.model = null;
    this.linked = [];
    this.dirty = true;
    this.lastTime = undefined;

    this.canvas = document.createElement('canvas');
    this.canvas.className = 'viewport-canvas';
    container.appendChild(this.canvas);
    // preserveDrawingBuffer: screenshots and tests read the canvas after the frame
    this.renderer = new THREE.WebGLRenderer({ canvas: this.canvas, antialias: true, preserveDrawingBuffer: true });
    this.renderer.setPixelRatio(Math.min(window.devicePixelRatio, 2));
    this.scene = new THREE.Scene();
    this.scene.background = new THREE.Color(BACKGROUND);
    addLights(this.scene);
    this.camera = new THREE.PerspectiveCamera(FOV, 1, 0.05, 50);
    placeCamera(this.camera);
    this.controls = new OrbitControls(this.camera, this.canvas);
    this.controls.enableDamping = true;
    this.controls.minDistance = 0.3;
    this.controls.maxDistance = 12;
    this.controls.autoRotateSpeed = 3;
    this.controls.addEventListener('change', () => this.onChange());
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(container);
    this.resize();
    live.add(this);
    if (!looping) {
      looping = true;
      requestAnimationFrame(loop);
    }
  }

  /** Loads and shows a GLB. Resolves to {ok: true} or {ok: false, error}; never rejects. */
  async load(url) {
    this.container.dataset.state = 'loading';
    try {
      const gltf = await loadGlb(url);
      if (this.disposed) {
        disposeModel(gltf.scene);
        return { ok: false, error: 'closed' };
      }
      const { pivot, radius } = normalized(gltf.scene);
      this.model = pivot;
      this.radius = radius;
      applyMode(pivot, this.mode, this.glsl);
      this.scene.add(pivot);
      this.container.dataset.state = 'loaded';
      this.renderNow();
      return { ok: true, radius };
    } catch (e) {
      const error = e?.message ?? String(e);
      this.container.dataset.state = 'error';
      this.container.dataset.error = error;
      this.renderNow();
      return { ok: false, error };
    }
  }

  setMode(mode) {
    this.mode = mode;
    if (this.model) applyMode(this.model, mode, this.glsl);
    this.renderNow();
  }

  setAutoRotate(on) {
    this.controls.autoRotate = on;
    this.dirty = true;
  }

  /** Cameras of `viewports` follow this one's (and each other's: call on every member). */
  link(viewports) {
    this.linked = viewports.filter((v) => v !== this);
    // Damping keeps moving a camera for a while after the drag, in small steps that
    // OrbitControls does not report; linked cameras would drift apart. Without it a
    // camera only moves when its controls say so, and every move is copied.
    this.controls.enableDamping = this.linked.length === 0;
  }

  /** OrbitControls moved this camera: redraw, and move the linked ones the same way. */
  onChange() {
    this.dirty = true;
    for (const v of this.linked) {
      v.camera.position.copy(this.camera.position);
      v.camera.quaternion.copy(this.camera.quaternion);
      v.controls.target.copy(this.controls.target);
      v.dirty = true;
    }
  }

  resize() {
    const w = Math.max(1, this.container.clientWidth);
    const h = Math.max(1, this.container.clientHeight);
    this.renderer.setSize(w, h, false);
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
    this.renderNow();
  }

  tick(time) {
    const dt = this.lastTime === undefined ? 1 / 60 : Math.min(0.1, (time - this.lastTime) / 1000);
    this.lastTime = time;
    if (this.controls.update(dt)) this.dirty = true;
    if (this.dirty) this.renderNow();
  }

  renderNow() {
    if (this.disposed) return;
    this.dirty = false;
    this.renderer.render(this.scene, this.camera);
  }

  dispose() {
    this.disposed = true;
    live.delete(this);
    this.resizeObserver.disconnect();
    this.controls.dispose();
    if (this.model) disposeModel(this.model);
    this.renderer.dispose();
    // give the context back now: Chromium allows only about 16 at a time
    this.renderer.forceContextLoss();
    this.canvas.remove();
  }
}

/**
 * Renders GLBs to PNG data URLs with one shared offscreen renderer, one at a time, for
 * gallery tiles that have no picture on disk.
 */
export class Thumbnailer {
  constructor(glsl, size = 256) {
    this.glsl = glsl;
    this.size = size;
    this.queue = Promise.resolve();
    this.renderer = null;
  }

  /** Resolves to a data URL; rejects when the GLB cannot be loaded. */
  render(url) {
    const job = this.queue.then(async () => {
      const gltf = await loadGlb(url);
      this.renderer ??= new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
      this.renderer.setSize(this.size, this.size, false);
      const scene = new THREE.Scene();
      scene.background = new THREE.Color(BACKGROUND);
      addLights(scene);
      const { pivot } = normalized(gltf.scene);
      scene.add(pivot);
      const camera = new THREE.PerspectiveCamera(FOV, 1, 0.05, 50);
      placeCamera(camera);
      try {
        this.renderer.render(scene, camera);
        return this.renderer.domElement.toDataURL('image/png');
      } finally {
        disposeModel(pivot);
      }
    });
    this.queue = job.catch(() => {});
    return job;
  }
}
