import type * as z from 'zod/mini';
import { toWireError } from '../../shared/protocol/errors';
import { describeForLog, validateMessage } from '../../shared/protocol/validate';

/** The schemas of one webview's conversation with the host, from src/shared/protocol. */
export interface WebviewProtocol<ToHost, ToWebview> {
  /** How log lines name the webview. */
  name: string;
  toHost: z.ZodMiniType<ToHost>;
  toWebview: z.ZodMiniType<ToWebview>;
}

export interface WebviewBridgeEnds<ToHost, ToWebview> {
  /** Hands a checked message to the webview. */
  deliver(message: ToWebview): PromiseLike<unknown>;
  /** Acts on a checked message from the webview. */
  handle(message: ToHost): Promise<void> | void;
  /** Told of each checked message from the webview before it is handled. */
  received?(message: ToHost): void;
  /** Told of each checked message to the webview before it is delivered. */
  posted?(message: ToWebview): void;
  log: { warn(message: string): void; error(message: string): void };
}

/**
 * Lets through only the messages the protocol allows, both ways. A webview's script is not trusted to keep
 * the contract, and checking the host's own messages keeps the contract honest when either side changes.
 */
export class WebviewBridge<ToHost extends { type: string }, ToWebview extends { type: string }> {
  private lastPostedMessage: ToWebview | undefined;

  constructor(
    private readonly protocol: WebviewProtocol<ToHost, ToWebview>,
    private readonly ends: WebviewBridgeEnds<ToHost, ToWebview>,
  ) {}

  /** The message last delivered to the webview. */
  get lastPosted(): ToWebview | undefined {
    return this.lastPostedMessage;
  }

  /**
   * Handles a message from the webview, or logs why not. It never rejects: nothing awaits the webview's
   * message event, so a failure would otherwise vanish as an unhandled rejection.
   */
  async receive(raw: unknown): Promise<void> {
    const { name } = this.protocol;
    const checked = validateMessage(this.protocol.toHost, raw);
    if (!checked.ok) {
      this.ends.log.warn(`${name}: refused malformed message (${checked.reason}): ${describeForLog(raw)}`);
      return;
    }
    this.ends.received?.(checked.value);
    try {
      await this.ends.handle(checked.value);
    } catch (error) {
      this.ends.log.error(`${name}: ${checked.value.type} failed: ${toWireError(error).message}`);
    }
  }

  /** Delivers the message as the protocol reads it, or logs why it is not sent. */
  async post(message: ToWebview): Promise<void> {
    const checked = validateMessage(this.protocol.toWebview, message);
    if (!checked.ok) {
      this.ends.log.error(`${this.protocol.name}: not sending an invalid message (${checked.reason})`);
      return;
    }
    this.lastPostedMessage = checked.value;
    this.ends.posted?.(checked.value);
    await this.ends.deliver(checked.value);
  }
}
