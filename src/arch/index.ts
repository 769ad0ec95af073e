export * from './types.ts';
export * from './bits.ts';
export * from './features.ts';
export * from './events.ts';
export * from './ste.ts';
export * from './cd.ts';
