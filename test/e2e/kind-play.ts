/**
 * The last step of test/e2e/kind.sh: opens a player page through the kind cluster's ingress in
 * headless Chromium and waits until it has decoded frames at the test pattern's size (1280x720).
 * Prints the player's status as one JSON line; exits non-zero when it never plays.
 *   node test/e2e/kind-play.ts [player URL]
 */
import { CHROMIUM, CHROMIUM_FLAGS } from '@corecast/testkit/chromium';
import { chromium } from 'playwright-core';

/** What the player page exposes on window.corecast (egress-pod/src/player/client.ts). */
interface PlayerStatus {
  state: string;
  detail: string;
  framesDecoded: number;
  width: number;
  height: number;
  audioPacketsReceived: number;
}

const url = process.argv[2] ?? 'http://localhost/api/v3/process/demo/whep/player';
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? CHROMIUM, args: [...CHROMIUM_FLAGS] });
try {
  const page = await browser.newPage();
  await page.goto(url);
  const status = () => page.evaluate(() => (window as unknown as { corecast: PlayerStatus }).corecast);
  try {
    await page.waitForFunction(
      () => {
        const s = (window as unknown as { corecast?: PlayerStatus }).corecast;
        return !!s && s.framesDecoded >= 30 && s.width === 1280 && s.height === 720;
      },
      undefined,
      { timeout: 120_000, polling: 500 },
    );
  } catch (err) {
    throw new Error(`${url} did not play: ${JSON.stringify(await status().catch(() => null))} (${(err as Error).message})`, { cause: err });
  }
  console.log(JSON.stringify(await status()));
} finally {
  await browser.close();
}
