export * from './spec';
export { quorumFor, resolveCluster, type ResolvedCluster, type ResolvedNode } from './spec/resolve';
export { analyzeSpec, analyzeFiles, synthesize, synthesizeCluster, writeTree, type FileTree } from './compile';
export { k3sConfig, renderK3sConfig } from './render/k3s-config';
export { renderExplain } from './render/explain';
export { main } from './cli';
