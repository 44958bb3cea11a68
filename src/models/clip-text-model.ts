/**
 * CLIPTextModel (transformers), as Stable Diffusion uses it: token + position embeddings,
 * pre-LN transformer layers with a causal mask, a final layer norm, and the pooled output
 * at the first EOS token. Read top to bottom, it is the whole model.
 *
 * Two entry points: `forward(ids)` for prompts, and `forwardEmbeddings(tokenEmbeds, eos)`
 * for soft prompts, whose learned context vectors replace some token embeddings.
 */
import * as tf from '@tensorflow/tfjs';
import { activation, layerNorm, linear, linearParams, normParams, Params, type Linear, type Norm } from './nn.js';

export interface ClipTextConfig {
  hidden_size: number;
  intermediate_size: number;
  num_attention_heads: number;
  num_hidden_layers: number;
  max_position_embeddings: number;
  vocab_size: number;
  hidden_act: 'quick_gelu' | 'gelu';
  layer_norm_eps: number;
  eos_token_id: number;
}

export type ClipTextOutput = {
  /** [B, T, D] after the final layer norm: what the UNet cross-attends to. */
  lastHiddenState: tf.Tensor3D;
  /** [B, D] the final state at each sequence's first EOS token. */
  pooled: tf.Tensor2D;
};

/** One pre-LN encoder layer's parameters. */
interface EncoderLayer {
  layerNorm1: Norm;
  q: Linear;
  k: Linear;
  v: Linear;
  out: Linear;
  layerNorm2: Norm;
  fc1: Linear;
  fc2: Linear;
}

export class ClipTextModel {
  /** transformers 4 saves keys under "text_model."; transformers 5 saves them bare. Both are used as they are. */
  private readonly prefix: string;
  private readonly layers: EncoderLayer[];
  private readonly finalLayerNorm: Norm;

  constructor(
    readonly config: ClipTextConfig,
    readonly params: Params,
  ) {
    this.prefix = params.has('text_model.embeddings.token_embedding.weight') ? 'text_model.' : '';
    const { vocab_size: v, hidden_size: d, max_position_embeddings: t } = config;
    params.get(this.key('embeddings.token_embedding.weight'), [v, d]);
    params.get(this.key('embeddings.position_embedding.weight'), [t, d]);
    const lin = (name: string, inDim: number, outDim: number) => linearParams(params, this.key(name), inDim, outDim);
    const norm = (name: string) => normParams(params, this.key(name), d);
    const f = config.intermediate_size;
    this.layers = Array.from({ length: config.num_hidden_layers }, (_, i) => {
      const l = `encoder.layers.${i}`;
      return {
        layerNorm1: norm(`${l}.layer_norm1`),
        q: lin(`${l}.self_attn.q_proj`, d, d),
        k: lin(`${l}.self_attn.k_proj`, d, d),
        v: lin(`${l}.self_attn.v_proj`, d, d),
        out: lin(`${l}.self_attn.out_proj`, d, d),
        layerNorm2: norm(`${l}.layer_norm2`),
        fc1: lin(`${l}.mlp.fc1`, d, f),
        fc2: lin(`${l}.mlp.fc2`, f, d),
      };
    });
    this.finalLayerNorm = norm('final_layer_norm');
  }

  private key(name: string): string {
    return this.prefix + name;
  }

  get hiddenSize(): number {
    return this.config.hidden_size;
  }

  get maxLength(): number {
    return this.config.max_position_embeddings;
  }

  /** The token embedding table [V, D], for building soft prompts. */
  get tokenEmbedding(): tf.Tensor2D {
    return this.params.get(this.key('embeddings.token_embedding.weight')) as tf.Tensor2D;
  }

  /** Token embeddings [B, T, D] for ids [B, T] (position embeddings not yet added). */
  embedTokens(ids: number[][] | tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const idsT = Array.isArray(ids) ? tf.tensor2d(ids, undefined, 'int32') : ids.toInt();
      const [b, t] = idsT.shape;
      return tf.gather(this.tokenEmbedding, idsT.reshape([-1])).reshape([b, t, this.hiddenSize]) as tf.Tensor3D;
    });
  }

  /** Runs the model on prompt ids [B, T]; the pooled output is taken at the first EOS. */
  forward(ids: number[][]): ClipTextOutput {
    return tf.tidy(() => this.forwardEmbeddings(this.embedTokens(ids), ids.map((row) => poolIndex(row, this.config.eos_token_id))));
  }

  /**
   * Runs the model from token embeddings [B, T, D]. Position embeddings are added here,
   * once, to the whole sequence. `eosIndex[b]` is where sequence b's pooled output is read.
   */
  forwardEmbeddings(tokenEmbeds: tf.Tensor3D, eosIndex: number[]): ClipTextOutput {
    return tf.tidy(() => {
      const [b, t, d] = tokenEmbeds.shape;
      const positions = this.params.get(this.key('embeddings.position_embedding.weight')).slice([0, 0], [t, d]);
      let h: tf.Tensor = tf.add(tokenEmbeds, positions);
      const mask = causalMask(t);
      for (const layer of this.layers) h = this.layer(h, layer, mask);
      const last = layerNorm(h, this.finalLayerNorm, this.config.layer_norm_eps) as tf.Tensor3D;
      const rows = eosIndex.map((e, i) => i * t + e);
      const pooled = tf.gather(last.reshape([b * t, d]), tf.tensor1d(rows, 'int32')) as tf.Tensor2D;
      return { lastHiddenState: last, pooled };
    });
  }

  private layer(h: tf.Tensor, l: EncoderLayer, mask: tf.Tensor): tf.Tensor {
    const eps = this.config.layer_norm_eps;
    h = tf.add(h, this.attention(layerNorm(h, l.layerNorm1, eps), l, mask));
    const mlp = linear(activation(this.config.hidden_act, linear(layerNorm(h, l.layerNorm2, eps), l.fc1)), l.fc2);
    return tf.add(h, mlp);
  }

  private attention(x: tf.Tensor, l: EncoderLayer, mask: tf.Tensor): tf.Tensor {
    const [b, t, d] = x.shape;
    const heads = this.config.num_attention_heads;
    const hd = d / heads;
    const split = (y: tf.Tensor) => y.reshape([b, t, heads, hd]).transpose([0, 2, 1, 3]);
    const q = split(tf.mul(linear(x, l.q), 1 / Math.sqrt(hd)));
    const k = split(linear(x, l.k));
    const v = split(linear(x, l.v));
    const weights = tf.softmax(tf.add(tf.matMul(q, k, false, true), mask));
    const out = tf.matMul(weights, v).transpose([0, 2, 1, 3]).reshape([b, t, d]);
    return linear(out, l.out);
  }

  dispose(): void {
    this.params.dispose();
  }
}

/** Every checkpoint key of a CLIPTextModel with its shape, in transformers 5 naming (no "text_model." prefix). */
export function clipTextParamShapes(c: ClipTextConfig): Map<string, number[]> {
  const d = c.hidden_size;
  const shapes = new Map<string, number[]>([
    ['embeddings.token_embedding.weight', [c.vocab_size, d]],
    ['embeddings.position_embedding.weight', [c.max_position_embeddings, d]],
  ]);
  const dense = (name: string, out: number, inp: number) => {
    shapes.set(`${name}.weight`, [out, inp]);
    shapes.set(`${name}.bias`, [out]);
  };
  const norm = (name: string) => {
    shapes.set(`${name}.weight`, [d]);
    shapes.set(`${name}.bias`, [d]);
  };
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const l = `encoder.layers.${i}`;
    norm(`${l}.layer_norm1`);
    for (const p of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) dense(`${l}.self_attn.${p}`, d, d);
    norm(`${l}.layer_norm2`);
    dense(`${l}.mlp.fc1`, c.intermediate_size, d);
    dense(`${l}.mlp.fc2`, d, c.intermediate_size);
  }
  norm('final_layer_norm');
  return shapes;
}

/** Multiply-adds ×2 of one forward pass over [batch, seq] tokens (matmuls only; norms and softmax are noise). */
export function clipTextFlops(c: ClipTextConfig, batch: number, seq: number): number {
  const d = c.hidden_size;
  const perLayer = 2 * seq * d * d * 4 + 2 * seq * d * c.intermediate_size * 2 + 2 * 2 * seq * seq * d;
  return batch * c.num_hidden_layers * perLayer;
}

/**
 * Where transformers reads the pooled output: the first EOS id. Configs from the original
 * CLIP release say eos_token_id 2, which is wrong for their vocabulary; there transformers
 * takes the position of the largest id, which is EOS (49407) in CLIP's vocabulary.
 */
export function poolIndex(ids: ArrayLike<number>, eosId: number): number {
  const target = eosId === 2 ? Math.max(...Array.from(ids)) : eosId;
  for (let i = 0; i < ids.length; i++) if (ids[i] === target) return i;
  return 0;
}

/** [T, T] additive mask: 0 on and below the diagonal, a large negative above it. */
function causalMask(t: number): tf.Tensor2D {
  const m = new Float32Array(t * t);
  for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) m[i * t + j] = -1e9;
  return tf.tensor2d(m, [t, t]);
}
