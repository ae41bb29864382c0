// A module resolve hook that refuses tsx and TypeScript files: the compiled tree must run without
// them (tests/integration/build.test.ts).
export async function resolve(specifier, context, next) {
  if (specifier === 'tsx' || specifier.startsWith('tsx/') || /\.[cm]?tsx?$/.test(specifier))
    throw new Error(`no TypeScript here: ${specifier} imported by ${context.parentURL}`);
  return next(specifier, context);
}
