/** The attribute probe: a small CNN over scene images (family, colour, attributes) and its features. */
export { Probe, loadProbe, weightShapes, CONFIG_FILE, WEIGHTS_FILE, type ProbeImages, type ProbePrediction } from './probe.js';
export { trainProbe, initialWeights, summarizeEvaluation, type TrainProbeOptions, type TrainProbeResult } from './train.js';
export { evaluateProbe, VIEWS, type HeadAccuracy, type ProbeEvaluation } from './evaluate.js';
export { loadProbeData, DEFAULT_AUGMENT, type AugmentOptions, type ProbeData } from './data.js';
export {
  PROBE_FORMAT,
  PROBE_VERSION,
  PROBE_RESOLUTIONS,
  defaultConfig,
  defaultArchitecture,
  defaultAttributeHeads,
  type AttributeHead,
  type ProbeConfig,
} from './spec.js';
