// Entry of the batch worker threads (`dist/batchWorker.js`): builds the training batches that
// `BatchWorkerPool` asks for. It only augments pixels, so it must not import TF.js or the decoder.
import { parentPort, workerData } from 'node:worker_threads';
import type { BatchRequest, BatchWorkerReply, SharedImageSet } from './batchWorkerPool';
import type { DecodedImage } from './decode';
import { buildTrainBatch, type ImageSet, type TrainBatch } from './loader';

function sharedImages(shared: SharedImageSet): ImageSet {
  const imageBytes = shared.imageSize * shared.imageSize * 3;
  const images: DecodedImage[] = Array.from({ length: shared.count }, (_, i) => ({
    size: shared.imageSize,
    pixels: new Uint8Array(shared.pixels, i * imageBytes, imageBytes),
  }));
  return { images, labels: shared.labels, indices: shared.indices };
}

const port = parentPort;
if (!port) {
  throw new Error('the batch worker runs as a worker thread of BatchWorkerPool');
}
const set = sharedImages(workerData as SharedImageSet);

port.on('message', ({ id, options, positions }: BatchRequest) => {
  let batch: TrainBatch;
  try {
    // `positions` is this batch's slice of the epoch's order, hence batch 0 of it.
    batch = buildTrainBatch(set, options, positions, 0);
  } catch (error) {
    const failure = error instanceof Error ? error : new Error(String(error));
    const reply: BatchWorkerReply = { kind: 'failed', id, message: failure.message, stack: failure.stack };
    port.postMessage(reply);
    return;
  }
  const reply: BatchWorkerReply = { kind: 'batch', id, batch };
  port.postMessage(reply, [
    batch.views[0].buffer,
    batch.views[1].buffer,
    batch.labels.buffer,
    batch.indices.buffer,
    ...(batch.centre ? [batch.centre.buffer] : []),
  ]);
});
port.postMessage({ kind: 'ready' } satisfies BatchWorkerReply);
