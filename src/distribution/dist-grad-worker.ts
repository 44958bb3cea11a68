/** Worker-thread side of train-dist's helpers: a replica of the frozen model computing one part of each step's prompt gradients. */
import { serveDistGrads } from './train-dist.js';

await serveDistGrads();
