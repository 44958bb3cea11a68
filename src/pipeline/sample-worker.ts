/** Worker-thread side of sample-pool.ts: its own backend and model, sampling the shards it is sent. */
import { serveShards } from './sample-pool.js';

await serveShards();
