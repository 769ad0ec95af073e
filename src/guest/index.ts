// The guest kernel: vCPU, Linux-like SMMUv3 driver, DMA test device, kernel actor, workloads.
export * from './ports.ts';
export * from './driver.ts';
export * from './cmdq.ts';
export * from './evtq.ts';
export * from './entry-writer.ts';
export * from './tlbi.ts';
export * from './latency.ts';
export * from './vcpu.ts';
export * from '../devices/dma-device.ts';
export * from './dt.ts';
export * from './kernel.ts';
export * from './workloads.ts';
