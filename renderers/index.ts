/**
 * renderers/: the camera model (three.js conventions) and the CPU reference renderer for
 * procedural scenes, the turntable, and the differentiable volume renderer. Depends only on
 * `three`, tfjs and nerf/ (the field interface); knows nothing of diffusion.
 */
export { renderScene, Rasterizer, DEFAULT_LIGHT, type LightSpec, type RenderOptions, type RenderResult } from './rasterizer.js';
export { orbitCamera, orbitPosition, cameraRays, cameraForward, type OrbitCameraOptions, type CameraRays } from './camera.js';
export { linearToSRGB, SRGB_KNEE, srgbToLinear, linearToSRGB8, toRGB8, toRGBA8, type RGB, type RGBAImage } from './color.js';
export {
  renderVolume,
  linearToSrgbTensor,
  planSamples,
  MlpBackground,
  type VolumeRenderOptions,
  type VolumeRenderResult,
  type VolumeBackground,
  type VolumeShading,
  type VolumeLight,
  type OccupancyTest,
  type SamplePlan,
  type MlpBackgroundConfig,
} from './volume.js';
export { renderTurntable, type TurntableOptions, type TurntableStrip } from './turntable.js';
