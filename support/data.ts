/**
 * The real validator data (test/fixtures/ptn, copied from the production validator's public
 * repository): 63 positions of one miner and 367 departed hotkeys.
 */
import { readFileSync } from 'node:fs';

const dir = new URL('../test/fixtures/ptn/', import.meta.url);

/** The position files' exact text, as the Python validator wrote them. */
export function realPositionTexts(): string[] {
  return JSON.parse(readFileSync(new URL('ptn-miner-positions.json', dir), 'utf8')) as string[];
}

export function realPositions(): Record<string, unknown>[] {
  return realPositionTexts().map((t) => JSON.parse(t) as Record<string, unknown>);
}

export function realDepartedText(): string {
  return readFileSync(new URL('ptn-departed-hotkeys.json', dir), 'utf8');
}

export function realDeparted(): Record<string, { detected_ms: number }> {
  return (JSON.parse(realDepartedText()) as { departed_hotkeys: Record<string, { detected_ms: number }> }).departed_hotkeys;
}
