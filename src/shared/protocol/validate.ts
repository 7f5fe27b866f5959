import type * as z from 'zod/mini';

export type Validated<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * Checks a message that crossed a process or webview border. The reason names each offending path so a
 * refused message can be logged in a form someone can act on.
 */
export function validateMessage<S extends z.ZodMiniType>(
  schema: S,
  message: unknown,
): Validated<z.output<S>> {
  const parsed = schema.safeParse(message);
  if (parsed.success) {
    return { ok: true, value: parsed.data };
  }
  const reason = parsed.error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(message)'}: ${issue.message}`)
    .join('; ');
  return { ok: false, reason };
}

/**
 * A short, safe rendering of a refused message for logs; never the whole payload. Pixels show as their type
 * and size: written out as JSON, a grid's bytes would cost megabytes of text to log 200 characters of it.
 */
export function describeForLog(message: unknown): string {
  let text: string;
  try {
    text =
      JSON.stringify(message, function (this: Record<string, unknown>, key, value: unknown) {
        // `this[key]` is the value before a toJSON (a Buffer's) turned it into an array of numbers.
        const original = this[key];
        return ArrayBuffer.isView(original)
          ? `${original.constructor.name}(${original.byteLength} bytes)`
          : value;
      }) ?? String(message);
  } catch {
    text = String(message);
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
