// Errors a client can act on. Anything else becomes a plain 500 without details.
export class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

export const notFound = () => new HttpError(404, 'not found');
