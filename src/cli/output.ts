// What the CLI says goes through here: results to stdout, problems to stderr.
export const out = (line = '') => process.stdout.write(`${line}\n`);
export const err = (line: string) => process.stderr.write(`${line}\n`);

export class UsageError extends Error {}
