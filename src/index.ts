/**
 * k3s-gitops as a library: load a cluster file, add its charts to your cdk8s app with
 * {@link K3sCluster}, or compile whole trees as the CLI does with `synthesize`.
 */
export * from './cluster-file';
export { quorumFor, resolveCluster, type ResolvedCluster, type ResolvedNode } from './cluster-file/resolve';
export { analyzeSpec, analyzeFiles, synthesize, synthesizeCluster, writeTree, type FileTree } from './compile';
export { k3sConfig, renderK3sConfig } from './render/k3s-config';
export { renderExplain } from './render/explain';
export { main } from './cli';
export { K3sCluster, loadClusterFile, ClusterFileError, type K3sClusterProps } from './k3s-cluster';
export { renderNodeSideFiles } from './compile';
