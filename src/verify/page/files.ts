/**
 * What the page reads as files: the examples (examples/*.wgsl, inlined by build.ts so that the
 * page works offline) and the shaders the visitor pasted, which the node:fs/promises stand-in
 * of build.ts hands to wgsl-adapter.ts's readFile.
 */
declare const __TENSORLAWS_EXAMPLES__: Record<string, string>;

export const pageFiles: { examples: Record<string, string>; shaders: Record<string, string> } = {
  examples: typeof __TENSORLAWS_EXAMPLES__ === "undefined" ? {} : __TENSORLAWS_EXAMPLES__,
  shaders: {},
};

(globalThis as { tensorlawsPageFiles?: typeof pageFiles }).tensorlawsPageFiles = pageFiles;
