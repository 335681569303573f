/**
 * Where a thread's memory is, as V8 sees it: its heap (used and reserved; code and bytecode
 * live in it), memory it allocated outside the heap (malloced) and memory held by its JavaScript
 * objects outside the heap (external: Buffers, ArrayBuffers, werift's and OpenSSL's native
 * objects). A gauge per thread (metrics.ts); `npm run bench:egress:memory` prints it beside the
 * process's RSS, whose remainder is Node's own binary and native allocations.
 */
import type { HeapInfo } from 'node:v8';
import { getHeapCodeStatistics, getHeapStatistics } from 'node:v8';

/** One thread's figures in bytes, by type. */
export type ThreadMemory = Record<string, number>;

/** The figures of a heap's statistics (the calling thread's, or a worker's from `Worker.getHeapStatistics`). */
export function heapFigures(heap: HeapInfo): ThreadMemory {
  return {
    heap_used: heap.used_heap_size,
    heap_total: heap.total_heap_size,
    heap_physical: heap.total_physical_size,
    malloced: heap.malloced_memory,
    external: heap.external_memory,
  };
}

/** The calling thread's figures, with its code and bytecode (only a thread can read its own). */
export function threadMemory(): ThreadMemory {
  const code = getHeapCodeStatistics();
  return {
    ...heapFigures(getHeapStatistics()),
    code: code.code_and_metadata_size + code.bytecode_and_metadata_size,
    array_buffers: process.memoryUsage().arrayBuffers,
  };
}
