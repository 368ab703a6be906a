export * from './diagnostics';
export * from './load';
export * from './types';
