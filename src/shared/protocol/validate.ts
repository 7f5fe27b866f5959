import type * as z from 'zod/mini';

export type Validated<T> = { ok: true; value: T } | { ok: false; reason: string };

/**
 * Keys that name an object's prototype machinery. JSON.parse makes `__proto__` an own key, which zod drops
 * without a word when it builds the parsed object, and code that copies keys onto an object may set its
 * prototype with it; no message of SynthPair uses any of them, so a message that does is refused whole.
 */
const prototypeKeys = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Checks a message that crossed a process or webview border. The reason names each offending path so a
 * refused message can be logged in a form someone can act on.
 */
export function validateMessage<S extends z.ZodMiniType>(
  schema: S,
  message: unknown,
): Validated<z.output<S>> {
  const prototypeKey = prototypeKeyIn(message);
  if (prototypeKey !== undefined) {
    const { path, key } = prototypeKey;
    // A path through a deeply nested message is cut in the middle, so the log line stays readable.
    const shown = path.length > 120 ? `${path.slice(0, 60)}…${path.slice(-60)}` : path;
    return {
      ok: false,
      reason: `${shown}: a key named ${key} is refused, as it can reach an object's prototype`,
    };
  }
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
 * The first prototype key anywhere in `message` and its dotted path, or undefined. A loop over a stack rather
 * than recursion, so a deeply nested message cannot exhaust the stack; a structured clone from a webview
 * may hold cycles, so each object is visited once; typed arrays hold numbers only and are not walked.
 */
function prototypeKeyIn(message: unknown): { path: string; key: string } | undefined {
  const pending: { value: unknown; path: string }[] = [{ value: message, path: '' }];
  const visited = new Set<object>();
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const { value, path } = next;
    if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value) || visited.has(value)) {
      continue;
    }
    visited.add(value);
    const entries = Array.isArray(value) ? value.entries() : Object.entries(value);
    for (const [key, child] of entries) {
      const childPath = path ? `${path}.${key}` : String(key);
      if (typeof key === 'string' && prototypeKeys.has(key)) return { path: childPath, key };
      pending.push({ value: child, path: childPath });
    }
  }
  return undefined;
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
