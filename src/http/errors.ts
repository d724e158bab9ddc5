// Errors a client can act on. Anything else becomes a plain 500 without details.
export class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  /** A machine-readable code for clients that act on it (step_up_required, break_glass_available). */
  readonly code: string | undefined;
  /** The refusal is in the audit log already: the server does not record it again. */
  audited = false;
  constructor(status: number, message: string, headers: Record<string, string> = {}, code?: string) {
    super(message);
    this.status = status;
    this.headers = headers;
    this.code = code;
  }
}

/** Reason phrases of the statuses Node.js has none for (it would send "unknown"). */
export const REASON_PHRASES: Readonly<Record<number, string>> = { 460: 'Checksum Mismatch' }; // tus 1.0, checksum extension

export const notFound = () => new HttpError(404, 'not found');
