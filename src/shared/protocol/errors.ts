import type { WireError } from './worker';

/** Turns anything thrown into the wire form, keeping the cause chain that `Error.cause` carries. */
export function toWireError(thrown: unknown): WireError {
  if (!(thrown instanceof Error)) {
    return { message: String(thrown) };
  }
  const causes: string[] = [];
  let cause: unknown = thrown.cause;
  while (cause !== undefined && causes.length < 8) {
    causes.push(cause instanceof Error ? cause.message : String(cause));
    cause = cause instanceof Error ? cause.cause : undefined;
  }
  return {
    message: thrown.message,
    name: thrown.name,
    ...(causes.length > 0 ? { causes } : {}),
    ...(thrown.stack ? { stack: thrown.stack } : {}),
  };
}

/** An error received from the other side of a border, rebuilt so `cause` works as usual. */
export class RemoteError extends Error {
  constructor(readonly wire: WireError) {
    super(wire.message, wire.causes ? { cause: wire.causes.join(' ← ') } : undefined);
    this.name = wire.name ?? 'RemoteError';
  }
}

export function describeWireError(error: WireError): string {
  return error.causes && error.causes.length > 0
    ? `${error.message} (cause: ${error.causes.join(' ← ')})`
    : error.message;
}
