/** What the Redis demo's processes share: the general domain's declaration and the tally. */
import type { Order } from '../validator/shared.ts';

export const QUEUE = 'websockets';
export const DEMO_GENERAL = { queues: { [QUEUE]: { capacity: 4096, maxMessageBytes: 4096 } }, maps: ['accountSizes'] };
export type DemoTemplates = Order[];

export interface Tally {
  ordersIn: number;
  saved: number;
  rejectedEliminated: number;
  rejectedDeparted: number;
  staleRetries: number;
  queueFullWaits: number;
}
