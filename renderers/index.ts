/**
 * renderers/: the camera model (three.js conventions) and the CPU reference renderer for
 * procedural scenes. Depends only on `three`; knows nothing of diffusion.
 */
export { renderScene, Rasterizer, DEFAULT_LIGHT, type LightSpec, type RenderOptions, type RenderResult } from './rasterizer.js';
export { orbitCamera, orbitPosition, cameraRays, cameraForward, type OrbitCameraOptions, type CameraRays } from './camera.js';
export { linearToSRGB, srgbToLinear, linearToSRGB8, toRGB8, toRGBA8, type RGB, type RGBAImage } from './color.js';
export { measureRenderThroughput, primitivesScene, type ThroughputResult } from './bench.js';
