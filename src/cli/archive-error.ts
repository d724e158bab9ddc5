/** An archive that cannot be used as asked, with what to do about it: the CLI prints it and exits 1. */
export class ArchiveError extends Error {}
