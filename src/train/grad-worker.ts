/** Worker-thread side of pretrain's GradWorker: a model replica computing one part of each batch's gradients. */
import { SceneDataset } from '../dataset/scene-dataset.js';
import { DDPMScheduler } from '../schedulers/index.js';
import { serveGrads } from './grad-worker-client.js';
import { allVariables, batchOptions, buildTinyModel, partLoss, type PretrainPart, type PretrainWorkerInit } from './pretrain.js';
import { PRETRAIN_CONFIGS } from './pretrain-configs.js';
import { SceneBatches } from './scene-batches.js';
import { Teacher } from './teacher.js';

await serveGrads<PretrainWorkerInit, PretrainPart>((init) => {
  const config = PRETRAIN_CONFIGS[init.config]!;
  const model = buildTinyModel(config, init.seed);
  const ddpm = DDPMScheduler.fromConfig(config.scheduler);
  const batches = new SceneBatches(SceneDataset.open(init.data), model.tokenizer, batchOptions(config, init.seed));
  const teacher = init.teacher === undefined ? undefined : Teacher.load(init.teacher, ddpm, config.resolution, init.teacherWeight);
  return {
    weights: allVariables(model),
    loss: (p) => partLoss(model, ddpm, config, batches, init.seed, p.step, p.batch, p.from, p.to, teacher),
  };
});
