import type { Options } from 'ajv';

/** One set of ajv options for the build-time validator: every error, with the data. */
export const AJV_OPTIONS: Options = { allErrors: true, verbose: true, strict: true };
