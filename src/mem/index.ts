// src/mem: physical memory over a SharedArrayBuffer, the page allocator, address-space views.
export { PhysMemory, DEFAULT_MEMORY_SIZE, MIN_MEMORY_SIZE, MAX_MEMORY_SIZE, MEMORY_GRANULE } from './phys.ts';
export { PageAllocator, PAGE_SIZES, MAX_PAGES } from './alloc.ts';
export type { AllocStats, PageSize } from './alloc.ts';
export { GuestRam, RangeP2m } from './guest-ram.ts';
export type { P2mLookup, P2mRange } from './guest-ram.ts';
export { parseSize, formatSize, KiB, MiB, GiB, TiB } from './size.ts';
export { sameBytes } from './bytes.ts';
export type { SizeConstraints } from './size.ts';
