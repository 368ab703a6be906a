import type { Options } from 'ajv';

/** One set of ajv options for the build-time validator: every error, with the data; a
 * decimal `multipleOf` (0.01) compared to 9 digits, as binary floats miss it by a hair. */
export const AJV_OPTIONS: Options = { allErrors: true, verbose: true, strict: true, multipleOfPrecision: 9 };
