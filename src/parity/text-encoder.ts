/**
 * Text-encoder parity: runs CLIPTextModel on a golden file's input_ids and compares
 * last_hidden_state, pooler_output and grad_token_embeddings, the gradient of
 * sum(last_hidden_state · loss_weights) with respect to the token embeddings
 * (before position embeddings), which is exactly what a soft prompt receives.
 */
import * as tf from '@tensorflow/tfjs';
import { poolIndex } from '../models/clip-text-model.js';
import { loadClipTextModel } from '../models/load.js';
import { Golden } from './golden.js';
import { compare, report, type ParityReport, type ParityResult } from './compare.js';

export function textEncoderParity(modelDir: string, goldenFile: string): ParityReport {
  const golden = new Golden(goldenFile, 'text_encoder');
  const ids = golden.need('input_ids');
  const [b, t] = ids.shape;
  const rows = Array.from({ length: b }, (_, i) => Array.from(ids.data.subarray(i * t, (i + 1) * t), Math.round));
  const model = loadClipTextModel(modelDir);
  try {
    const results: ParityResult[] = [];
    tf.tidy(() => {
      const eos = rows.map((r) => poolIndex(r, model.config.eos_token_id));
      const out = model.forwardEmbeddings(model.embedTokens(rows), eos);
      results.push(
        compare('last_hidden_state', out.lastHiddenState.dataSync(), golden.need('last_hidden_state').data, 'forward'),
        compare('pooler_output', out.pooled.dataSync(), golden.need('pooler_output').data, 'forward'),
      );
      const weights = golden.maybe('loss_weights');
      const refGrad = golden.maybe('grad_token_embeddings');
      if (weights && refGrad) {
        const w = tf.tensor(weights.data, weights.shape);
        const loss = (e: tf.Tensor) => tf.sum(tf.mul(model.forwardEmbeddings(e as tf.Tensor3D, eos).lastHiddenState, w));
        const grad = tf.grad(loss)(model.embedTokens(rows));
        results.push(compare('grad_token_embeddings', grad.dataSync(), refGrad.data, 'gradient'));
      }
    });
    return report('text_encoder', results);
  } finally {
    model.dispose();
  }
}
