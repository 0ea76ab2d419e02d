// Worker-thread entry of CellWorkerPool (src/experiment/parallelCell.ts) from source. Plain
// JavaScript so a bare worker thread can load it: it registers tsx's loader in this thread, then
// loads the handler.
import { register } from 'tsx/esm/api';

register();
await import('./cellWorkerTask.ts');
